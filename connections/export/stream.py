"""The streamed export: every matching row, in the view's order, in flat memory.

Pages of 100 rows are fetched with bounded concurrency and written in order, one chunk
per page. Rows are de-duplicated by host organization id. If a page still fails after the
client's retries, the upstream's total changes, or the row count does not come out exact,
the stream raises ``ExportAborted`` so the browser shows a failed download, never a file
that looks complete and is not. Progress and cancellation go through the cache
(``progress.py``) so they work across worker processes.
"""

from __future__ import annotations

import contextvars
import logging
import re
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from itertools import islice
from typing import Any

from django.conf import settings

from connections import api
from connections.api import HostConnectionRowPage
from connections.export import progress
from connections.export.cells import Columns, columns, csv_chunk
from connections.export.seen import SeenIds
from connections.query import ListQuery
from hostadmin.cache import CacheUnavailable

log = logging.getLogger(__name__)

PAGE = 100  # the upstream's maximum limit


class ExportRefused(Exception):
    """The export cannot start; the message says why (status is the HTTP status)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class ExportAborted(Exception):
    """Raised mid-stream: the connection is dropped so the download fails visibly."""


class ExportCancelled(ExportAborted):
    pass


@dataclass
class Export:
    """One running export. ``stream()`` yields the file's bytes; ``outcome`` ends as
    "complete", "cancelled" or "failed" once the stream is over."""

    caller: api.Caller
    query: ListQuery
    user_id: int
    export_id: str
    first: HostConnectionRowPage
    whole_view: bool
    bom: bool
    filename: str
    on_finish: Callable[[Export], None] = lambda e: None
    concurrency: int = 4
    holds_slot: bool = True  # a whole-view export counts against EXPORTS_PER_USER
    details: dict[str, Any] = field(default_factory=dict)  # label, params: progress.py
    written: int = 0
    bytes_sent: int = 0
    outcome: str = "running"
    reason: str = ""  # why it failed
    started: float = field(default_factory=time.monotonic)
    started_at: float = field(default_factory=time.time)
    _finished: bool = field(default=False, init=False, repr=False)

    @cached_property
    def _columns(self) -> Columns:
        """Set once, at the export's start."""
        return columns(self.query)

    @property
    def total(self) -> int:
        return self.first.total_items if self.whole_view else len(self.first.items)

    @property
    def duration_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)

    def _report(self) -> None:
        now = time.time()
        progress.write_progress(
            self.export_id,
            self.user_id,
            self.written,
            self.total,
            self.outcome,
            bytes=self.bytes_sent,
            reason=self.reason,
            started=self.started_at,
            updated=now,
            ended=None if self.outcome == "running" else now,
            **self.details,
        )
        if self.holds_slot:
            progress.keep_slot(self.user_id)

    def _cancelled(self) -> bool:
        return progress.cancel_requested(self.export_id)

    def stream(self) -> ExportStream:
        """The response body. Closing it before it was read still ends the export (the
        user's slot is released and the audit record written)."""
        return ExportStream(self)

    def _generate(self) -> Generator[bytes, None, None]:
        seen = SeenIds(self.total)
        try:
            self._report()
            if self._cancelled():  # cancelled while the first page was loading
                raise ExportCancelled("cancelled by the user")
            head = ("\ufeff" if self.bom else "").encode() + csv_chunk([self._columns.header])
            yield self._sent(head, self.first, seen)
            if self.whole_view:
                offsets = range(PAGE, self.total, PAGE)
                for page in fetch_pages(self.caller, self.query, offsets, self.concurrency):
                    if self._cancelled():
                        raise ExportCancelled("cancelled by the user")
                    check_page_total(page, self.total)
                    yield self._sent(b"", page, seen)
            check_complete(self.written, self.total)
            self.outcome = "complete"
        except ExportCancelled:
            self.outcome = "cancelled"
            raise
        except ExportAborted as exc:
            self.outcome, self.reason = "failed", str(exc)
            log.warning("export %s aborted: %s", self.export_id, exc)
            raise
        except api.ApiError as exc:
            self.outcome, self.reason = "failed", str(exc)
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
        if self.outcome == "failed" and not self.reason:
            self.reason = "the download stopped before the end"
        self._report()
        if self.holds_slot:
            progress.release_slot(self.user_id)
        self.on_finish(self)

    def _sent(self, head: bytes, page: HostConnectionRowPage, seen: SeenIds) -> bytes:
        """The page's chunk (after ``head``), counted in rows and bytes before it goes."""
        cells = self._columns.cells
        # the rows not written before (de-duplicated by host organization id)
        rows = [cells(r) for r in page.items if seen.add(str(r["host_organization_id"]))]
        chunk = head + csv_chunk(rows)
        self.written += len(rows)
        self.bytes_sent += len(chunk)
        self._report()
        return chunk


# --- shared with the background export (background.py) ---------------------------------


def fetch_pages(
    caller: api.Caller, query: ListQuery, offsets: Iterable[int], concurrency: int
) -> Iterator[HostConnectionRowPage]:
    """The pages at ``offsets``, in order. The pool's ``concurrency`` threads keep that
    many upstream calls in flight; up to twice as many pages are queued ahead, so a page
    waiting to be written never holds a request slot idle. Memory stays bounded by that
    window. Each page is fetched in a copy of this thread's context: a pool thread does
    not inherit it, and the request's id and upstream tally live there."""
    todo = iter(offsets)
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="export")

    def submit(offset: int) -> Future[HostConnectionRowPage]:
        return pool.submit(
            contextvars.copy_context().run,
            api.list_host_connection_rows,
            caller,
            query,
            limit=PAGE,
            offset=offset,
        )

    ahead: deque[Future[HostConnectionRowPage]] = deque(
        submit(offset) for offset in islice(todo, 2 * concurrency)
    )
    try:
        while ahead:
            page = ahead.popleft().result()
            next_offset = next(todo, None)
            if next_offset is not None:
                ahead.append(submit(next_offset))
            yield page
    finally:
        for future in ahead:
            future.cancel()
        pool.shutdown(wait=False, cancel_futures=True)


def check_page_total(page: HostConnectionRowPage, total: int) -> None:
    if page.total_items != total:
        raise ExportAborted("the number of matching rows changed during the export")


def check_complete(written: int, total: int) -> None:
    """The file holds exactly the upstream's total at the start, or the export fails."""
    if written != total:
        raise ExportAborted(f"wrote {written} rows of {total}")


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


def _busy() -> ExportRefused:
    return ExportRefused(
        f"You already have {settings.EXPORTS_PER_USER} exports running; "
        "wait for one to finish or cancel it.",
        429,
    )


def _unavailable() -> ExportRefused:
    return ExportRefused(
        "Exports are unavailable for a moment (the shared cache is down); the list "
        "still works. Try the export again later.",
        503,
    )


def _check_cap(total: int) -> None:
    if total > settings.EXPORT_MAX_ROWS:
        raise ExportRefused(
            f"This view matches {total:,} rows; exports are limited to "
            f"{settings.EXPORT_MAX_ROWS:,}. Narrow the filters and try again.",
            400,
        )


def _take_slot(user_id: int, whole_view: bool) -> None:
    """A whole-view export takes one of the user's EXPORTS_PER_USER slots. "This page
    only" (at most 100 rows, one upstream call) never counts, but like every export it
    needs the shared cache (its progress and cancel button live there)."""
    try:
        acquired = progress.acquire_slot(user_id) if whole_view else _cache_works(user_id)
    except CacheUnavailable:
        raise _unavailable() from None
    if not acquired:
        raise _busy()


def _cache_works(user_id: int) -> bool:
    progress.running_count(user_id)  # raises CacheUnavailable when it does not
    return True


def export_check(*, caller: api.Caller, query: ListQuery, user_id: int, whole_view: bool) -> int:
    """What ``start_export`` would refuse, asked without starting anything (the list
    page's export button asks first, so a refusal is explained in place): the user's
    running exports, the shared cache, the upstream and the cap. Returns how many rows
    the view matches. Raises ExportRefused or api.ApiError."""
    try:
        busy = whole_view and progress.running_count(user_id) >= settings.EXPORTS_PER_USER
    except CacheUnavailable:
        raise _unavailable() from None
    if busy:
        raise _busy()
    total = api.count_host_connections(caller, query)
    if whole_view:
        _check_cap(total)
    return total


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
    details: dict[str, Any] | None = None,
) -> Export:
    """Check the limits, fetch the first page (it gives the total) and return the export.
    ``details`` (label, params) go into its progress entry for the exports panel.

    Raises ExportRefused (too many rows, too many exports running, the shared cache that
    counts them is down) or api.ApiError."""
    _take_slot(user_id, whole_view)
    details = details or {}
    progress.mark_starting(export_id, user_id, started=time.time(), **details)
    try:
        if whole_view:
            first = api.list_host_connection_rows(caller, query, limit=PAGE, offset=0)
            _check_cap(first.total_items)
        else:
            first = api.list_host_connection_rows(caller, query)
    except BaseException:
        if whole_view:
            progress.release_slot(user_id)
        progress.forget_progress(export_id)
        raise
    return Export(
        caller=caller,
        query=query,
        user_id=user_id,
        export_id=export_id,
        first=first,
        whole_view=whole_view,
        bom=bom,
        filename=file_name(org_label, "csv"),
        on_finish=on_finish,
        concurrency=max(1, settings.EXPORT_CONCURRENCY),
        holds_slot=whole_view,
        details=details,
    )


def file_name(org_label: str, extension: str) -> str:
    """An export's file name: the context's name and the time it started (UTC)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    slug = re.sub(r"[^A-Za-z0-9]+", "-", org_label).strip("-").lower()[:60] or "org"
    return f"host-connections_{slug}_{stamp}.{extension}"
