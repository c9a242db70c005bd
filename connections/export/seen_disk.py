"""The background export's de-duplication of rows by host organization id, on disk."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from types import TracebackType


class SeenIdsOnDisk:
    """Every id an export has written, exactly (the ids themselves, not fingerprints), in
    a private temporary SQLite database (the standard library's sqlite3) whose page cache
    is at most ``CACHE_KIB``: a worker's memory is the same at 100,000 rows as at
    10,000,000. The ids take about 55 bytes each on disk (55 MB at 1,000,000 rows), in
    the temporary folder (``TMPDIR``). SQLite unlinks the file as soon as it has opened
    it, so it goes with the connection's close or the worker's death, never left behind;
    a resumed export rebuilds it from its checkpoint's ids (``load``).

    The streamed export keeps ``SeenIds`` (memory, at most EXPORT_MAX_ROWS ids): this
    takes several times its CPU (bench/bench_background_export.py prints both), worth
    it where the rows have no cap."""

    CACHE_KIB = 2048
    BATCH = 500  # ids a statement, well under SQLite's limit of bound variables

    def __init__(self) -> None:
        self._db = sqlite3.connect("", isolation_level=None)  # "": temporary, on disk
        self._db.execute(f"PRAGMA cache_size = -{self.CACHE_KIB}")
        self._db.execute("PRAGMA journal_mode = OFF")  # a throwaway: nothing to roll back
        self._db.execute("CREATE TABLE seen (id TEXT PRIMARY KEY) WITHOUT ROWID")

    def add_many(self, keys: Sequence[str]) -> list[bool]:
        """Add ``keys`` (a page's ids); for each, True when it is new: neither added
        before nor earlier in ``keys``."""
        added: set[str] = set()
        for start in range(0, len(keys), self.BATCH):
            batch = keys[start : start + self.BATCH]
            marks = ",".join(["(?)"] * len(batch))
            sql = f"INSERT INTO seen VALUES {marks}"  # noqa: S608 - "(?)" marks only: ids are bound
            inserted = self._db.execute(f"{sql} ON CONFLICT DO NOTHING RETURNING id", batch)
            added.update(row[0] for row in inserted)
        fresh = []
        for key in keys:
            fresh.append(key in added)
            added.discard(key)  # a second copy in the same page is not new
        return fresh

    def load(self, keys: Iterable[str]) -> None:
        """Add ids already written (a checkpoint's, on resume), in one transaction."""
        self._db.execute("BEGIN")
        self._db.executemany("INSERT OR IGNORE INTO seen VALUES (?)", ((k,) for k in keys))
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SeenIdsOnDisk:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
