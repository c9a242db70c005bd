"""The export's de-duplication of rows by host organization id, in small fixed memory."""

from __future__ import annotations

from array import array


class SeenIds:
    """The ids an export has written: a table of 64-bit fingerprints (Python's own keyed
    SipHash of each id) with open addressing (linear probing), allocated once for
    ``capacity`` ids and at most ``FILL`` full: 8 bytes a slot, 20 bytes an id (2 MB at
    the streamed export's 100,000-row cap, where a set of the ids takes about 9 MB; the
    background export, which has no cap, keeps its ids on disk instead). Two ids count as one only
    if their 64-bit hashes collide, about once in 10^9 exports of 100,000 rows, and the
    exact row-count check turns that into a failed download, never a silently short file.

    It replaced a 1 MiB Bloom filter (k=7) that made about 1 export of 100,000 rows in
    4,000 fail that way, at 8 times the CPU (5.0 against 0.6 ms per 1,000 rows, measured
    as bench/bench_export_steps.py measures its de-duplication step)."""

    FILL = 0.4  # at most this share of the slots in use: probes stay short

    def __init__(self, capacity: int) -> None:
        self._allocate(capacity)

    def _allocate(self, capacity: int) -> None:
        size = max(8, int(capacity / self.FILL) + 1)
        self._size = size
        self._slots = array("q", [0]) * size
        self._room = int(size * self.FILL)
        self._count = 0

    def add(self, key: str) -> bool:
        """Add ``key``; False when it was there already."""
        fingerprint = hash(key) or 1  # 0 marks an empty slot
        slots, size = self._slots, self._size
        index = fingerprint % size
        while (found := slots[index]) != fingerprint:
            if not found:
                slots[index] = fingerprint
                self._count += 1
                if self._count > self._room:  # more ids than announced: never loop forever
                    self._grow()
                return True
            index = index + 1 if index + 1 < size else 0
        return False

    def _grow(self) -> None:
        old = [fingerprint for fingerprint in self._slots if fingerprint]
        self._allocate(2 * len(old))
        slots, size = self._slots, self._size
        for fingerprint in old:
            index = fingerprint % size
            while slots[index]:
                index = index + 1 if index + 1 < size else 0
            slots[index] = fingerprint
        self._count = len(old)
