"""SeenIds: the export's de-duplication in small fixed memory."""

from __future__ import annotations

import sys
import uuid

from connections.export import SeenIds


def test_seen_ids_no_false_duplicates_and_every_repeat_caught() -> None:
    seen = SeenIds(20_000)
    ids = [str(uuid.uuid4()) for _ in range(20_000)]
    assert all(seen.add(i) for i in ids)
    assert not any(seen.add(i) for i in ids[::97])
    assert not any(seen.add(i) for i in ids)


def test_seen_ids_sequential_ids_are_told_apart() -> None:
    """Ids that differ in one character only (an upstream counting up) are all new."""
    seen = SeenIds(20_000)
    ids = [str(uuid.UUID(int=i + 1)) for i in range(20_000)]
    assert all(seen.add(i) for i in ids)
    assert not seen.add(ids[12_345])


def test_seen_ids_memory_fixed_up_to_capacity() -> None:
    seen = SeenIds(50_000)
    before = sys.getsizeof(seen._slots)
    for _ in range(50_000):
        seen.add(str(uuid.uuid4()))
    assert sys.getsizeof(seen._slots) == before <= 40 * 50_000


def test_seen_ids_more_than_capacity_still_exact() -> None:
    """An upstream that sends more rows than it announced: the table grows, nothing is
    lost or taken twice (the export then fails on its row count)."""
    seen = SeenIds(10)
    ids = [str(uuid.uuid4()) for _ in range(5_000)]
    assert all(seen.add(i) for i in ids)
    assert not any(seen.add(i) for i in ids)
    empty = SeenIds(0)
    assert empty.add("x") and not empty.add("x")
