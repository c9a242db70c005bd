"""SeenIdsOnDisk: the background export's de-duplication in a temporary SQLite file."""

from __future__ import annotations

import uuid

from connections.export.seen_disk import SeenIdsOnDisk


def test_seen_ids_on_disk_new_once_across_and_within_pages() -> None:
    ids = [str(uuid.uuid4()) for _ in range(1_000)]
    with SeenIdsOnDisk() as seen:
        assert seen.add_many(ids[:600]) == [True] * 600
        page = [ids[0], ids[700], ids[700], ids[599], ids[701]]  # repeats, old and new
        assert seen.add_many(page) == [False, True, False, False, True]
        assert seen.add_many(ids) == [False] * 600 + [True] * 100 + [False] * 2 + [True] * 298
        assert seen.add_many([]) == []


def test_seen_ids_on_disk_batches_larger_than_a_statement() -> None:
    """More ids than one statement binds: a repeat in a later batch is still caught."""
    ids = [str(uuid.UUID(int=i + 1)) for i in range(SeenIdsOnDisk.BATCH + 10)]
    with SeenIdsOnDisk() as seen:
        assert seen.add_many([*ids, ids[3]]) == [True] * len(ids) + [False]


def test_seen_ids_on_disk_load_rebuilds_the_state() -> None:
    """On resume the checkpoint's ids are loaded (repeats and all): they are not new."""
    ids = [str(uuid.uuid4()) for _ in range(2_000)]
    with SeenIdsOnDisk() as seen:
        seen.load([*ids[:1_500], *ids[:10]])
        assert seen.add_many(ids[1_490:1_510]) == [False] * 10 + [True] * 10


def test_seen_ids_on_disk_two_exports_apart() -> None:
    """Each export has its own private database."""
    with SeenIdsOnDisk() as one, SeenIdsOnDisk() as two:
        assert one.add_many(["a"]) == [True]
        assert two.add_many(["a"]) == [True]
