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
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice

from django.conf import settings

from connections import api
from connections.api import HostConnectionRowPage
from connections.export import progress
from connections.export.cells import columns_for, csv_chunk
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

    def _report(self) -> None:
        progress.write_progress(
            self.export_id, self.user_id, self.written, self.total, self.outcome
        )
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
            header = columns_for(self.query).header
            head = ("\ufeff" if self.bom else "").encode() + csv_chunk([header])
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
        self._report()
        progress.release_slot(self.user_id)
        self.on_finish(self)

    def _rows(self, page: HostConnectionRowPage, seen: SeenIds) -> bytes:
        cells = columns_for(self.query).cells
        rows = [cells(r) for r in page.items if seen.add(str(r["host_organization_id"]))]
        self.written += len(rows)
        self._report()
        return csv_chunk(rows)

    def _pages(self) -> Iterator[HostConnectionRowPage]:
        """Pages 2..n in order. The pool's ``concurrency`` threads keep that many upstream
        calls in flight; up to twice as many pages are queued ahead, so a page waiting to
        be written never holds a request slot idle. Memory stays bounded by that window."""
        offsets = iter(range(PAGE, self.total, PAGE))
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="export")
        window = 2 * self.concurrency
        ahead: deque[Future[HostConnectionRowPage]] = deque(
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

    def _submit(self, pool: ThreadPoolExecutor, offset: int) -> Future[HostConnectionRowPage]:
        """The page is fetched in a copy of this thread's context: a pool thread does not
        inherit it, and the request's id and upstream tally live there."""
        return pool.submit(
            contextvars.copy_context().run,
            api.list_host_connection_rows,
            self.caller,
            self.query,
            limit=PAGE,
            offset=offset,
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
        acquired = progress.acquire_slot(user_id)
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
    progress.mark_starting(export_id, user_id)
    try:
        if whole_view:
            first = api.list_host_connection_rows(caller, query, limit=PAGE, offset=0)
            if first.total_items > settings.EXPORT_MAX_ROWS:
                raise ExportRefused(
                    f"This view matches {first.total_items:,} rows; exports are limited to "
                    f"{settings.EXPORT_MAX_ROWS:,}. Narrow the filters and try again.",
                    400,
                )
        else:
            first = api.list_host_connection_rows(caller, query)
    except BaseException:
        progress.release_slot(user_id)
        progress.forget_progress(export_id)
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
