"""The streamed CSV export: every matching row, in the view's order, in flat memory.

Pages of 100 rows are fetched with bounded concurrency and written in order, one chunk
per page. Rows are de-duplicated by host organization id. If a page still fails after the
client's retries, the upstream's total changes, or the row count does not come out exact,
the stream raises ``ExportAborted`` so the browser shows a failed download, never a file
that looks complete and is not. Progress and cancellation go through the cache so they
work across worker processes.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import re
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from django.conf import settings
from django.core.cache import cache

from connections import api
from connections.api import HostConnection, HostConnectionPage
from connections.query import ListQuery
from hostadmin.cache import CacheUnavailable

log = logging.getLogger(__name__)

PAGE = 100  # the upstream's maximum limit
HEADER = [
    "Host organization ID",
    "Host name",
    "Host email",
    "Owner email",
    "Status",
    "Archived",
    "Created (UTC)",
    "Updated (UTC)",
    "Archived at (UTC)",
    "Active action",
    "Action updated (UTC)",
]
_DANGEROUS = ("=", "+", "-", "@", "\t", "\r", "\n", "\0")
_EXPORT_ID = re.compile(r"^[0-9a-f]{32}$")
PROGRESS_TTL = 3600


class ExportRefused(Exception):
    """The export cannot start; the message says why (status is the HTTP status)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class ExportAborted(Exception):
    """Raised mid-stream: the connection is dropped so the download fails visibly."""


class ExportCancelled(ExportAborted):
    pass


# --- cells -----------------------------------------------------------------------------


def safe_cell(value: str) -> str:
    """Neutralise spreadsheet formulas: a cell starting with = + - @ or a control
    character gets a leading single quote."""
    return f"'{value}" if value.startswith(_DANGEROUS) else value


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else ""


def cells(row: HostConnection) -> list[str]:
    return [
        str(row.host_organization_id),
        safe_cell(row.host_name),
        safe_cell(row.host_email),
        safe_cell(row.owner_email),
        row.status,
        "true" if row.archived else "false",
        _when(row.created_at),
        _when(row.updated_at),
        _when(row.archived_at),
        row.active_action_type or "",
        _when(row.active_action_updated_at),
    ]


def csv_chunk(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)  # RFC 4180 quoting
    return buffer.getvalue().encode()


class SeenIds:
    """Membership of host organization ids in fixed memory (a 1 MiB Bloom filter, k=7):
    the export's memory does not grow with its size. A false positive drops a row, which
    the exact row-count check turns into a failed download, never a silently short file:
    at 100,000 rows about 1 export in 4,000 fails that way; at 10,000, practically never."""

    BITS = 8 * 1024 * 1024
    K = 7

    def __init__(self) -> None:
        self._bits = bytearray(self.BITS // 8)

    def add(self, key: bytes) -> bool:
        """Add ``key``; False when it was (probably) there already.

        Double hashing (Kirsch-Mitzenmacher) on Python's own keyed SipHash: two C-speed
        hashes give all K bit positions; one pass tests and sets them."""
        h1 = hash(key)
        h2 = hash(key + b"\x01") | 1
        bits = self._bits
        new = False
        for i in range(self.K):
            position = (h1 + i * h2) % self.BITS
            mask = 1 << (position & 7)
            if not bits[position >> 3] & mask:
                bits[position >> 3] |= mask
                new = True
        return new


# --- progress, cancellation and the per-user limit (in the cache) -----------------------


def valid_export_id(raw: str) -> bool:
    return bool(_EXPORT_ID.match(raw))


def _progress_key(export_id: str) -> str:
    return f"hostadmin:export:{export_id}"


def _cancel_key(export_id: str) -> str:
    return f"hostadmin:export:{export_id}:cancel"


def _write_progress(export_id: str, user_id: int, written: int, total: int, state: str) -> None:
    entry = {"user": user_id, "written": written, "total": total, "state": state}
    cache.set(_progress_key(export_id), entry, PROGRESS_TTL)


def export_id_free(export_id: str, user_id: int) -> bool:
    """An id is usable unless another user's export holds it."""
    entry = cache.get(_progress_key(export_id))
    return not entry or entry.get("user") == user_id


def progress_of(export_id: str, user_id: int) -> dict[str, Any] | None:
    entry = cache.get(_progress_key(export_id))
    if not entry or entry.get("user") != user_id:
        return None
    return dict(entry)


def request_cancel(export_id: str, user_id: int) -> bool:
    if progress_of(export_id, user_id) is None:
        return False
    cache.set(_cancel_key(export_id), True, PROGRESS_TTL)
    return True


def _running_key(user_id: int) -> str:
    return f"hostadmin:exports-running:{user_id}"


def _acquire_slot(user_id: int) -> bool:
    key = _running_key(user_id)
    ttl = settings.EXPORT_SLOT_SECONDS
    cache.add(key, 0, ttl)
    try:
        running = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, ttl)
        running = 1
    cache.touch(key, ttl)  # the counter lives as long as the newest export
    if running > settings.EXPORTS_PER_USER:
        _release_slot(user_id)
        return False
    return True


def _release_slot(user_id: int) -> None:
    # The counter expired (ValueError) or the cache is down: nothing to release.
    with contextlib.suppress(ValueError, CacheUnavailable):
        cache.decr(_running_key(user_id))


# --- the export ------------------------------------------------------------------------


@dataclass
class Export:
    """One running export. ``stream()`` yields the file's bytes; ``outcome`` ends as
    "complete", "cancelled" or "failed" once the stream is over."""

    caller: api.Caller
    query: ListQuery
    user_id: int
    export_id: str
    first: HostConnectionPage
    whole_view: bool
    bom: bool
    filename: str
    on_finish: Callable[[Export], None] = lambda e: None
    concurrency: int = 4
    written: int = 0
    outcome: str = "running"
    started: float = field(default_factory=time.monotonic)
    _finished: bool = field(default=False, init=False, repr=False)

    @property
    def total(self) -> int:
        return self.first.total_items if self.whole_view else len(self.first.items)

    @property
    def duration_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)

    def _progress(self) -> None:
        _write_progress(self.export_id, self.user_id, self.written, self.total, self.outcome)
        # Each page keeps the user's count of running exports alive; an export killed
        # mid-stream (its worker stopped past the graceful timeout) cannot give its slot
        # back, and stops holding it EXPORT_SLOT_SECONDS later.
        cache.touch(_running_key(self.user_id), settings.EXPORT_SLOT_SECONDS)

    def _cancelled(self) -> bool:
        return bool(cache.get(_cancel_key(self.export_id)))

    def stream(self) -> ExportStream:
        """The response body. Closing it before it was read still ends the export (the
        user's slot is released and the audit record written)."""
        return ExportStream(self)

    def _generate(self) -> Generator[bytes, None, None]:
        seen = SeenIds()
        try:
            self._progress()
            if self._cancelled():  # cancelled while the first page was loading
                raise ExportCancelled("cancelled by the user")
            head = ("\ufeff" if self.bom else "").encode() + csv_chunk([HEADER])
            yield head + self._rows(self.first, seen)
            if self.whole_view:
                for page in self._pages():
                    if self._cancelled():
                        raise ExportCancelled("cancelled by the user")
                    if page.total_items != self.total:
                        raise ExportAborted("the number of matching rows changed during the export")
                    yield self._rows(page, seen)
            if self.written != self.total:
                raise ExportAborted(f"wrote {self.written} rows of {self.total}")
            self.outcome = "complete"
        except ExportCancelled:
            self.outcome = "cancelled"
            raise
        except ExportAborted as exc:
            self.outcome = "failed"
            log.warning("export %s aborted: %s", self.export_id, exc)
            raise
        except api.ApiError as exc:
            self.outcome = "failed"
            log.warning("export %s aborted: %s", self.export_id, exc)
            raise ExportAborted(str(exc)) from None
        except GeneratorExit:  # the browser went away: stop paging the upstream
            self.outcome = "cancelled"
            raise
        finally:
            self.finish("failed")

    def finish(self, outcome: str) -> None:
        """End the export once: ``outcome`` applies if none was reached."""
        if self._finished:
            return
        self._finished = True
        if self.outcome == "running":
            self.outcome = outcome
        self._progress()
        _release_slot(self.user_id)
        self.on_finish(self)

    def _rows(self, page: HostConnectionPage, seen: SeenIds) -> bytes:
        rows = [cells(r) for r in page.items if seen.add(r.host_organization_id.bytes)]
        self.written += len(rows)
        self._progress()
        return csv_chunk(rows)

    def _pages(self) -> Iterator[HostConnectionPage]:
        """Pages 2..n in order. The pool's ``concurrency`` threads keep that many upstream
        calls in flight; up to twice as many pages are queued ahead, so a page waiting to
        be written never holds a request slot idle. Memory stays bounded by that window."""
        offsets = iter(range(PAGE, self.total, PAGE))
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="export")
        window = 2 * self.concurrency
        ahead: deque[Future[HostConnectionPage]] = deque(
            self._submit(pool, offset) for offset in islice(offsets, window)
        )
        try:
            while ahead:
                page = ahead.popleft().result()
                next_offset = next(offsets, None)
                if next_offset is not None:
                    ahead.append(self._submit(pool, next_offset))
                yield page
        finally:
            for future in ahead:
                future.cancel()
            pool.shutdown(wait=False, cancel_futures=True)

    def _submit(self, pool: ThreadPoolExecutor, offset: int) -> Future[HostConnectionPage]:
        return pool.submit(
            api.list_host_connections, self.caller, self.query, limit=PAGE, offset=offset
        )


class ExportStream:
    """Iterable response body whose ``close()`` (called by Django when the response ends,
    read or not) always finishes the export."""

    def __init__(self, export: Export) -> None:
        self.export = export
        self._chunks = export._generate()

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def close(self) -> None:
        self._chunks.close()  # runs the generator's cleanup if it had started
        self.export.finish("cancelled")  # a body never read: nothing was sent


def _starting(export_id: str, user_id: int) -> None:
    """Progress known from the start, so a cancel during the first page is honoured."""
    cache.delete(_cancel_key(export_id))  # an id reused later starts clean
    _write_progress(export_id, user_id, written=0, total=0, state="running")


def start_export(
    *,
    caller: api.Caller,
    query: ListQuery,
    user_id: int,
    export_id: str,
    whole_view: bool,
    bom: bool,
    org_label: str,
    on_finish: Callable[[Export], None] = lambda e: None,
) -> Export:
    """Check the limits, fetch the first page (it gives the total) and return the export.

    Raises ExportRefused (too many rows, too many exports running, the shared cache that
    counts them is down) or api.ApiError."""
    try:
        acquired = _acquire_slot(user_id)
    except CacheUnavailable:
        raise ExportRefused(
            "Exports are unavailable for a moment (the shared cache is down); the list "
            "still works. Try the export again later.",
            503,
        ) from None
    if not acquired:
        raise ExportRefused(
            f"You already have {settings.EXPORTS_PER_USER} exports running; "
            "wait for one to finish or cancel it.",
            429,
        )
    _starting(export_id, user_id)
    try:
        if whole_view:
            first = api.list_host_connections(caller, query, limit=PAGE, offset=0)
            if first.total_items > settings.EXPORT_MAX_ROWS:
                raise ExportRefused(
                    f"This view matches {first.total_items:,} rows; exports are limited to "
                    f"{settings.EXPORT_MAX_ROWS:,}. Narrow the filters and try again.",
                    400,
                )
        else:
            first = api.list_host_connections(caller, query)
    except BaseException:
        _release_slot(user_id)
        cache.delete(_progress_key(export_id))
        raise
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    slug = re.sub(r"[^A-Za-z0-9]+", "-", org_label).strip("-").lower()[:60] or "org"
    return Export(
        caller=caller,
        query=query,
        user_id=user_id,
        export_id=export_id,
        first=first,
        whole_view=whole_view,
        bom=bom,
        filename=f"host-connections_{slug}_{stamp}.csv",
        on_finish=on_finish,
        concurrency=max(1, settings.EXPORT_CONCURRENCY),
    )
