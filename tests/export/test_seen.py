"""SeenIds: the export's de-duplication in fixed memory."""

from __future__ import annotations

import sys
import uuid

from connections.export import SeenIds


def test_seen_ids_no_false_duplicates_and_every_repeat_caught() -> None:
    seen = SeenIds()
    ids = [uuid.uuid4().bytes for _ in range(20_000)]
    assert all(seen.add(i) for i in ids)  # false positives here are ~1e-13
    assert not any(seen.add(i) for i in ids[::97])


def test_seen_ids_sequential_ids_are_told_apart() -> None:
    """Ids that differ in one byte only (an upstream counting up) are all new."""
    seen = SeenIds()
    ids = [uuid.UUID(int=i + 1).bytes for i in range(20_000)]
    assert all(seen.add(i) for i in ids)
    assert not seen.add(ids[12_345])


def test_seen_ids_memory_fixed() -> None:
    seen = SeenIds()
    before = sys.getsizeof(seen._bits)
    for _ in range(50_000):
        seen.add(uuid.uuid4().bytes)
    assert sys.getsizeof(seen._bits) == before <= 1024 * 1024 + 100
