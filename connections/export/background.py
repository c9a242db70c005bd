"""The background export: a task (Django's Tasks API, the django-tasks backport, on its
database backend) that pages the upstream like the streamed export and writes a file
through Django's storage API, resumably.

A worker claims an export with one conditional UPDATE (queued -> running, with its own
``worker`` token), so two workers never run the same one. Every
``EXPORT_CHECKPOINT_ROWS`` rows (at most 5,000) it saves those rows as one part object
(CSV text) and the ids they hold as another, then records the checkpoint (rows written,
next upstream offset, the parts) in the export's row, again only while it still holds
the token. Nothing is ever appended to, so any storage works (the file system, S3).
A running worker writes a heartbeat at least every ``EXPORT_STALE_SECONDS / 4`` (from a
thread during the steps that fetch no page); a worker killed mid-export (SIGKILL, a lost
machine) stops writing it, and ``exports_sweep`` puts the export back in the queue,
where another worker picks it up and continues from the checkpoint: parts written after
it are never listed, the ids of the listed ones rebuild the de-duplication state (a
temporary SQLite file, ``seen_disk.py``). The sweep also gives a new task to a queued
export whose task was lost or ended without claiming it. The last step assembles the file from
the parts (concatenated CSV, or an .xlsx built from them) under a fixed name, so it can
run again. The file has every row once and as many rows as the upstream's total at the
start, or the export fails and says why.
"""

from __future__ import annotations

import csv
import io
import logging
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import compress
from typing import IO, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django_tasks import TaskResultStatus, task
from django_tasks.exceptions import TaskResultDoesNotExist

from connections import api, selectors, services
from connections.context import OrgContext
from connections.export.cells import Columns, columns, csv_chunk
from connections.export.seen_disk import SeenIdsOnDisk
from connections.export.stream import (
    PAGE,
    ExportAborted,
    ExportCancelled,
    check_complete,
    check_page_total,
    fetch_pages,
    file_name,
)
from connections.export.xlsx import write_xlsx
from connections.models import AuditEvent, BackgroundExport
from connections.query import ListQuery

log = logging.getLogger(__name__)

State = BackgroundExport.State


class Superseded(Exception):
    """This worker no longer holds the export (another took it over, or it was
    cancelled or deleted): it stops without writing anything more."""


def storage() -> Any:
    return storages["default"]


@task()
def export_run(export_id: str) -> str:
    """The task: claim the export and run it to its end (or to the worker's death)."""
    return export_work(export_id=export_id)


def export_enqueue(*, job: BackgroundExport) -> None:
    """Queue the task that will run the export, and note which one it is (the sweep
    queues the export again if that task is lost). Called in the transaction that puts
    the export in the queue, so neither exists without the other."""
    result = export_run.enqueue(str(job.pk))
    now = timezone.now()
    BackgroundExport.objects.filter(pk=job.pk).update(task_id=result.id, queued_at=now)
    job.task_id, job.queued_at = result.id, now


def export_work(*, export_id: str) -> str:
    """Claim the export, run it, and return its state. A BaseException that is not an
    Exception (SystemExit, a kill simulated by a test) leaves it running, as SIGKILL
    does: the sweep finds its heartbeat stale and queues it again."""
    token = uuid.uuid4().hex
    job = _claim(export_id, token)
    if job is None:
        return "not claimed"
    run = _Run(job, token)
    try:
        run.work()
    except Superseded:
        return "superseded"
    except ExportCancelled:
        run.end(State.CANCELLED)
    except ExportAborted as exc:
        run.end(State.FAILED, str(exc))
    except api.ApiError as exc:  # after the client's retries: its own message
        run.end(State.FAILED, str(exc))
    except Exception:
        log.exception("background export %s failed", export_id)
        run.end(State.FAILED, "The export failed unexpectedly; try it again.")
    return run.job.state


def _claim(export_id: str, token: str) -> BackgroundExport | None:
    now = timezone.now()
    claimed = BackgroundExport.objects.filter(pk=export_id, state=State.QUEUED).update(
        state=State.RUNNING,
        worker=token,
        heartbeat_at=now,
        started_at=Coalesce(F("started_at"), Value(now)),
        attempts=F("attempts") + 1,
    )
    return BackgroundExport.objects.get(pk=export_id) if claimed else None


class _Run:
    """One worker's turn at one export."""

    def __init__(self, job: BackgroundExport, token: str) -> None:
        self.job, self.token = job, token
        self.beat = timezone.now()

    def _mine(self) -> Any:
        return BackgroundExport.objects.filter(
            pk=self.job.pk, worker=self.token, state=State.RUNNING
        )

    def _save(self, **fields: Any) -> None:
        """Write fields of the export while this worker holds it, else stop."""
        if not self._mine().update(heartbeat_at=timezone.now(), **fields):
            raise Superseded
        self.beat = timezone.now()
        for name, value in fields.items():
            setattr(self.job, name, value)

    def _tick(self) -> None:
        """After each page: stop on a cancel, keep the heartbeat fresh."""
        flag = BackgroundExport.objects.filter(pk=self.job.pk).values_list(
            "cancel_requested", "worker"
        )
        found = flag.first()
        if found is None or found[1] != self.token:
            raise Superseded
        if found[0]:
            raise ExportCancelled("cancelled by the user")
        if (timezone.now() - self.beat).total_seconds() * 4 >= settings.EXPORT_STALE_SECONDS:
            self._save()

    def work(self) -> None:
        job = self.job
        caller = self._caller()
        query = ListQuery.from_querystring(job.query).query
        cols = columns(query)
        if job.total is None:  # the total at the start is the file's row count
            first = api.list_host_connection_rows(caller, query, limit=PAGE, offset=0)
            self._save(total=first.total_items)
        total = job.total or 0
        with SeenIdsOnDisk() as seen:
            with _Heartbeat(self):  # on resume, every id of the checkpoint is read again
                self._restore(seen)
            self._fetch(caller, query, cols, total, seen)
        check_complete(self.job.written, total)
        self._assemble(cols)

    def _fetch(
        self, caller: api.Caller, query: ListQuery, cols: Columns, total: int, seen: SeenIdsOnDisk
    ) -> None:
        """The rows from the checkpoint's offset to the end, not written before, saved
        as a part every EXPORT_CHECKPOINT_ROWS rows."""
        chunks: list[bytes] = []  # the CSV text of the pages since the last checkpoint
        ids: list[str] = []
        offset = self.job.next_offset
        interval = max(1, settings.EXPORT_CHECKPOINT_ROWS // PAGE)  # pages a checkpoint
        pages = fetch_pages(caller, query, range(offset, total, PAGE), settings.EXPORT_CONCURRENCY)
        for count, page in enumerate(pages, 1):
            self._tick()
            check_page_total(page, total)
            keys = [str(row["host_organization_id"]) for row in page.items]
            new = seen.add_many(keys)
            ids += compress(keys, new)
            chunks.append(csv_chunk([cols.cells(row) for row in compress(page.items, new)]))
            offset += PAGE
            if count % interval == 0:
                self._checkpoint(chunks, ids, offset)
                chunks, ids = [], []
        if chunks:
            self._checkpoint(chunks, ids, offset)

    def _caller(self) -> api.Caller:
        """The owner's access to the context, checked when the worker starts (the
        download checks it again)."""
        job = self.job
        usable = selectors.api_client_list(user=job.owner)
        client = next((c for c in usable if c.pk == job.api_client_id), None)
        if client is None:
            raise ExportAborted(
                "You no longer have access to this export's API client, or it is disabled."
            )
        return OrgContext(client, str(job.target_org_id)).caller

    def _restore(self, seen: SeenIdsOnDisk) -> None:
        """The de-duplication state at the checkpoint: the ids of every listed part."""
        for part in self.job.parts:
            with storage().open(part["ids"], "rb") as handle:
                seen.load(line for line in handle.read().decode().split("\n") if line)

    def _checkpoint(self, chunks: list[bytes], ids: list[str], offset: int) -> None:
        """Save the rows and their ids as two new objects, then record them: a kill in
        between leaves objects no checkpoint lists, removed at the end."""
        base = f"exports/{self.job.pk}/part-{len(self.job.parts):05d}-{self.token[:8]}"
        csv_name = storage().save(base + ".csv", ContentFile(b"".join(chunks)))
        ids_name = storage().save(base + ".ids", ContentFile("\n".join(ids).encode()))
        parts = [*self.job.parts, {"csv": csv_name, "ids": ids_name, "rows": len(ids)}]
        self._save(parts=parts, written=self.job.written + len(ids), next_offset=offset)

    def _assemble(self, cols: Columns) -> None:
        """The file from the parts, under a name fixed for the export: run again after a
        kill, it writes the same file."""
        job = self.job
        name = f"exports/{job.pk}/{job.download_name}"
        with tempfile.TemporaryFile() as out, _Heartbeat(self):  # xlsxwriter's close, the upload
            sheets = self._write(out, cols)
            out.seek(0)
            storage().delete(name)
            saved = storage().save(name, File(out, name=job.download_name))
        now = timezone.now()
        self._save(
            state=State.DONE,
            file_name=saved,
            size=storage().size(saved),
            sheets=sheets,
            finished_at=now,
            expires_at=now + timedelta(days=settings.EXPORT_RETENTION_DAYS),
            worker="",
        )
        self._clean_parts()
        _audit_end(self.job)

    def _write(self, out: IO[bytes], cols: Columns) -> int:
        job = self.job
        if job.format == BackgroundExport.Format.XLSX:
            return write_xlsx(
                out,
                header=cols.header,
                times=cols.times,
                rows=self._part_rows(),
                total=job.written,
                time_zone=job.time_zone,
                on_part=self._tick,
            )
        bom = "\ufeff".encode() if job.format == BackgroundExport.Format.CSV_EXCEL else b""
        out.write(bom + csv_chunk([cols.header]))
        for part in job.parts:
            with storage().open(part["csv"], "rb") as handle:
                shutil.copyfileobj(handle, out)
            self._tick()
        return 0

    def _part_rows(self) -> Iterator[list[str]]:
        for part in self.job.parts:
            with storage().open(part["csv"], "rb") as handle:
                text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
                yield from csv.reader(text)

    def _clean_parts(self) -> None:
        export_parts_delete(job=self.job)

    def end(self, state: str, error: str = "") -> None:
        """Fail or cancel the export while this worker holds it; its parts go."""
        try:
            self._save(state=state, error=error, finished_at=timezone.now(), worker="")
        except Superseded:
            return
        self._clean_parts()
        if state == State.CANCELLED:
            services.audit_record(
                user=self.job.owner,
                action=AuditEvent.Action.EXPORT_CANCEL,
                context=self.job.context_label,
                detail=_detail(self.job),
            )
        else:
            _audit_end(self.job)


class _Heartbeat:
    """The heartbeat of a step that cannot tick between pages (xlsxwriter assembling the
    .xlsx in its close, minutes at a million rows; the file's upload; the rebuild of the
    de-duplication state on resume): a thread writes it every EXPORT_STALE_SECONDS / 4
    while the step runs, on its own database connection and only while this worker holds
    the export. It ends with the step, and dies with the worker (SIGKILL), so a dead
    worker's heartbeat still goes stale and the sweep still queues its export again; so
    does a step hung past EXPORT_STEP_MAX_SECONDS (a storage that never answers)."""

    def __init__(self, run: _Run) -> None:
        self.run, self.done = run, threading.Event()
        self.thread = threading.Thread(target=self._beat, name="export-heartbeat", daemon=True)

    def __enter__(self) -> None:
        self.thread.start()

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join()

    def _beat(self) -> None:
        deadline = time.monotonic() + settings.EXPORT_STEP_MAX_SECONDS
        try:
            while not self.done.wait(settings.EXPORT_STALE_SECONDS / 4):
                if time.monotonic() > deadline:
                    log.warning(
                        "background export %s: a step hung, heartbeat stopped", self.run.job.pk
                    )
                    return
                try:
                    if not self.run._mine().update(heartbeat_at=timezone.now()):
                        return  # taken over: the step's next write finds out (Superseded)
                except DatabaseError:
                    log.warning("background export %s: heartbeat not written", self.run.job.pk)
        finally:
            connection.close()


def export_parts_delete(*, job: BackgroundExport) -> None:
    """Every part object of the export, listed in the checkpoint or not."""
    _delete_in_folder(job, prefix="part-")


def export_files_delete(*, job: BackgroundExport) -> None:
    """Every file the export wrote: its parts, its file, and anything else in its folder
    (a file saved by a step that failed afterwards)."""
    _delete_in_folder(job)
    if job.file_name and not job.file_name.startswith(f"exports/{job.pk}/"):
        storage().delete(job.file_name)


def _delete_in_folder(job: BackgroundExport, *, prefix: str = "") -> None:
    """The objects in the export's folder whose names start with ``prefix``."""
    folder = f"exports/{job.pk}"
    try:
        _, files = storage().listdir(folder)
    except FileNotFoundError:
        return
    for name in files:
        if name.startswith(prefix):
            storage().delete(f"{folder}/{name}")


def _detail(job: BackgroundExport) -> dict[str, Any]:
    return {
        "export": str(job.pk),
        "format": job.format,
        "query": job.query,
        "rows": job.written,
        "total": job.total,
        "state": job.state,
    }


def _audit_end(job: BackgroundExport) -> None:
    services.audit_record(
        user=job.owner,
        action=AuditEvent.Action.EXPORT_FINISH,
        context=job.context_label,
        detail={**_detail(job), "size": job.size, "error": job.error},
    )


# --- the periodic sweep ----------------------------------------------------------------


def exports_sweep() -> dict[str, int]:
    """Queue again the exports no worker will finish: running ones whose worker stopped
    writing its heartbeat, queued ones whose task was lost or ended without claiming
    them; and expire the files past their retention. Safe to run anywhere, any number of
    times."""
    now = timezone.now()
    requeued = _requeue_stale(now) + _requeue_lost(now)
    expired = 0
    for job in BackgroundExport.objects.filter(state=State.DONE, expires_at__lte=now):
        if BackgroundExport.objects.filter(pk=job.pk, state=State.DONE).update(state=State.EXPIRED):
            export_files_delete(job=job)
            BackgroundExport.objects.filter(pk=job.pk).update(file_name="", size=0)
            expired += 1
            services.audit_record(
                user=job.owner,
                action=AuditEvent.Action.EXPORT_EXPIRE,
                context=job.context_label,
                detail=_detail(job),
            )
    return {"requeued": requeued, "expired": expired}


def _requeue_stale(now: datetime) -> int:
    """Running exports whose heartbeat is older than EXPORT_STALE_SECONDS: their worker
    died (each such turn was counted in ``attempts`` when it claimed the export)."""
    stale = now - timedelta(seconds=settings.EXPORT_STALE_SECONDS)
    requeued = 0
    for job in BackgroundExport.objects.filter(state=State.RUNNING, heartbeat_at__lt=stale):
        unchanged = {"state": State.RUNNING, "worker": job.worker, "heartbeat_at": job.heartbeat_at}
        if _requeue(job, unchanged, attempts=job.attempts):
            log.warning("background export %s: worker stopped, queued again", job.pk)
            requeued += 1
    return requeued


def _requeue_lost(now: datetime) -> int:
    """Queued exports (for longer than EXPORT_STALE_SECONDS) whose task can no longer run
    them: its result is gone (the row deleted), it ended without claiming the export (it
    failed first), or a worker took it that long ago and never claimed the export (it
    died in between). A task still waiting for a worker is left alone, however long the
    queue. The lost task counts as one of the export's ``attempts``."""
    grace = now - timedelta(seconds=settings.EXPORT_STALE_SECONDS)
    requeued = 0
    for job in BackgroundExport.objects.filter(state=State.QUEUED, queued_at__lt=grace):
        if not _task_lost(job.task_id, grace):
            continue
        unchanged = {"state": State.QUEUED, "task_id": job.task_id, "queued_at": job.queued_at}
        if _requeue(job, unchanged, attempts=job.attempts + 1):
            log.warning("background export %s: its task was lost, queued again", job.pk)
            requeued += 1
    return requeued


def _task_lost(task_id: str, grace: datetime) -> bool:
    if not task_id:  # queued before tasks were noted (migration 0006): give it one
        return True
    try:
        result = export_run.get_result(task_id)
    except TaskResultDoesNotExist:
        return True
    except NotImplementedError:  # a backend that cannot say (the immediate one): leave it
        return False
    if result.status == TaskResultStatus.RUNNING:
        return result.started_at is not None and result.started_at < grace
    return result.is_finished


def _requeue(job: BackgroundExport, unchanged: dict[str, Any], *, attempts: int) -> bool:
    """Queue the export again with a new task, atomically and only if it is still as the
    sweep found it (``unchanged``); after EXPORT_MAX_ATTEMPTS turns, or when its owner
    asked to cancel, end it instead. True when it was queued again."""
    if attempts >= settings.EXPORT_MAX_ATTEMPTS or job.cancel_requested:
        _end_stale(job, unchanged, attempts=attempts)
        return False
    with transaction.atomic():  # queued again only with the task that will run it
        taken = BackgroundExport.objects.filter(pk=job.pk, **unchanged).update(
            state=State.QUEUED, worker="", attempts=attempts
        )
        if taken:
            export_enqueue(job=job)
    return bool(taken)


def _end_stale(job: BackgroundExport, unchanged: dict[str, Any], *, attempts: int) -> None:
    """An export that is not queued again: cancelled if its owner asked, else failed
    (its workers kept dying: a machine too small for it, or a bug); its files go."""
    cancelled = job.cancel_requested
    state = State.CANCELLED if cancelled else State.FAILED
    error = (
        ""
        if cancelled
        else (
            f"The export stopped {attempts} times without finishing (its worker died or "
            "its task was lost); try it again, or narrow the view."
        )
    )
    ended = BackgroundExport.objects.filter(pk=job.pk, **unchanged).update(
        state=state, error=error, worker="", attempts=attempts, finished_at=timezone.now()
    )
    if not ended:
        return
    log.warning("background export %s: no worker finished it, export %s", job.pk, state)
    export_files_delete(job=job)
    job.refresh_from_db()
    action = AuditEvent.Action.EXPORT_CANCEL if cancelled else AuditEvent.Action.EXPORT_FINISH
    services.audit_record(
        user=job.owner, action=action, context=job.context_label, detail=_detail(job)
    )


# --- what the Exports page does (services) ---------------------------------------------


class ExportNotAllowed(Exception):
    """The export cannot start or change; the message says why. ``status``: 429 when
    waiting helps (too many running), 409 when the user must act first."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


def background_export_start(
    *,
    user: Any,
    ctx: OrgContext,
    query: ListQuery,
    format: str,
    time_zone: str,
    context_label: str,
    org_label: str,
) -> BackgroundExport:
    """Queue an export of the view, within the user's limits (ExportNotAllowed)."""
    extension = "xlsx" if format == BackgroundExport.Format.XLSX else "csv"
    with transaction.atomic():  # the export exists only with the task that will run it
        # One start at a time per user, so two at once cannot both pass the limits.
        get_user_model().objects.select_for_update().filter(pk=user.pk).first()
        _check_limits(user)
        job = BackgroundExport.objects.create(
            owner=user,
            api_client=ctx.client,
            target_org_id=ctx.target_org_id,
            context_label=context_label[:200],
            query=query.querystring(include_offset=False),
            format=format,
            time_zone=time_zone[:64],
            download_name=file_name(org_label, extension),
        )
        services.audit_record(
            user=user,
            action=AuditEvent.Action.EXPORT_START,
            context=job.context_label,
            detail=_detail(job),
        )
        export_enqueue(job=job)
    return job


def _check_limits(user: Any) -> None:
    if selectors.background_export_active_count(user=user) >= settings.BACKGROUND_EXPORTS_PER_USER:
        raise ExportNotAllowed(
            f"You already have {settings.BACKGROUND_EXPORTS_PER_USER} background exports "
            "queued or running; wait for one to finish or cancel it.",
            429,
        )
    limit = settings.EXPORT_STORAGE_PER_USER_MB * 1024 * 1024
    if selectors.background_export_stored_bytes(user=user) >= limit:
        raise ExportNotAllowed(
            f"Your finished exports use your {settings.EXPORT_STORAGE_PER_USER_MB:,} MB of "
            "storage; delete some before starting another."
        )


def background_export_cancel(*, job: BackgroundExport) -> None:
    """A queued export ends at once; a running one at its worker's next page."""
    if not job.active:
        raise ExportNotAllowed("This export is not running.")
    if BackgroundExport.objects.filter(pk=job.pk, state=State.QUEUED).update(
        state=State.CANCELLED, finished_at=timezone.now()
    ):
        export_files_delete(job=job)  # a queued export may hold an earlier turn's parts
        job.refresh_from_db()
        services.audit_record(
            user=job.owner,
            action=AuditEvent.Action.EXPORT_CANCEL,
            context=job.context_label,
            detail=_detail(job),
        )
        return
    BackgroundExport.objects.filter(pk=job.pk).update(cancel_requested=True)


_FROM_SCRATCH: dict[str, Any] = {  # a retried export's fields: as when it was queued
    "state": State.QUEUED,
    **dict.fromkeys(("total", "heartbeat_at", "started_at", "finished_at"), None),
    **dict.fromkeys(("expires_at", "downloaded_at"), None),
    **dict.fromkeys(("written", "next_offset", "sheets", "size", "attempts"), 0),
    **dict.fromkeys(("error", "file_name", "worker"), ""),
    "parts": [],
    "cancel_requested": False,
}


def background_export_retry(*, job: BackgroundExport) -> BackgroundExport:
    """A failed, cancelled or expired export, started again from the beginning."""
    if job.active or job.state == State.DONE:
        raise ExportNotAllowed("Only a failed, cancelled or expired export can be retried.")
    export_files_delete(job=job)
    with transaction.atomic():  # queued again only with the task that will run it
        fresh = BackgroundExport.objects.filter(pk=job.pk, state=job.state).update(**_FROM_SCRATCH)
        if not fresh:
            raise ExportNotAllowed("This export changed meanwhile; reload the page.")
        job.refresh_from_db()
        services.audit_record(
            user=job.owner,
            action=AuditEvent.Action.EXPORT_START,
            context=job.context_label,
            detail={**_detail(job), "retry": True},
        )
        export_enqueue(job=job)
    return job


def background_export_delete(*, job: BackgroundExport) -> None:
    if job.active:
        raise ExportNotAllowed("Cancel the export before deleting it.")
    export_files_delete(job=job)
    job.delete()


def background_export_downloaded(*, job: BackgroundExport, ip_address: str | None) -> None:
    """Audit a download (and clear the header's badge for it)."""
    BackgroundExport.objects.filter(pk=job.pk).update(downloaded_at=timezone.now())
    services.audit_record(
        user=job.owner,
        action=AuditEvent.Action.EXPORT_DOWNLOAD,
        context=job.context_label,
        ip_address=ip_address,
        detail={**_detail(job), "size": job.size},
    )
