"""The background export, run through django-tasks' immediate backend (tests/conftest.py)
or step by step as a worker runs it (``export_work``), against the in-process sandbox.
A worker's death is simulated where it can happen: an exception no code of ours catches
raised by the transport (between pages) or by the storage (after a part object is
written, before its checkpoint is recorded)."""

from __future__ import annotations

import csv
import io
import threading
import time
import uuid
import zoneinfo
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import openpyxl
import pytest
from django.contrib.auth.models import User
from django.core.files.storage import FileSystemStorage
from django.db import connection
from django.utils import timezone

from connections import api
from connections.context import OrgContext
from connections.export import background
from connections.export.background import (
    ExportNotAllowed,
    background_export_cancel,
    background_export_retry,
    background_export_start,
    export_work,
    exports_sweep,
)
from connections.export.cells import HEADER, safe_cell
from connections.models import ApiClient, AuditEvent, BackgroundExport
from connections.query import ListQuery
from sandbox import Dataset, SandboxApp, SandboxTransport
from tests.conftest import org_id, sandbox_rows
from tests.export.storages import Crash, CrashAfterPartStorage, SlowStorage
from tests.export.test_stream import _row as upstream_row
from tests.export.test_stream import serving

ROWS = 1000  # ten upstream pages
DUMMY = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


class Killed(BaseException):  # a worker's death: no code of ours catches it
    pass


@pytest.fixture
def sandbox() -> SandboxApp:
    return SandboxApp(Dataset(seed=7, rows_per_org=ROWS))


@pytest.fixture(autouse=True)
def small_checkpoints(settings: Any) -> None:
    settings.EXPORT_CHECKPOINT_ROWS = 200  # two pages a checkpoint


def start(
    user: User, client: ApiClient, query: str = "", fmt: str = "csv", **kw: Any
) -> BackgroundExport:
    parsed = ListQuery.from_querystring(query)
    assert parsed.is_clean
    ctx = OrgContext(client, kw.pop("target", str(client.organization_id)))
    return background_export_start(
        user=user,
        ctx=ctx,
        query=parsed.query,
        format=fmt,
        time_zone=kw.pop("time_zone", "UTC"),
        context_label="Demo Lender → self",
        org_label="Demo Lender",
    )


def queued(settings: Any, user: User, client: ApiClient, **kw: Any) -> BackgroundExport:
    """An export in the queue, not run: the test runs it as a worker would."""
    settings.TASKS = DUMMY
    return start(user, client, **kw)


def file_rows(job: BackgroundExport) -> list[list[str]]:
    job.refresh_from_db()
    with background.storage().open(job.file_name, "rb") as handle:
        text = handle.read().decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text, newline="")))


def expected_ids(sandbox: SandboxApp, **filters: Any) -> list[str]:
    return [str(r["host_organization_id"]) for r in sandbox_rows(sandbox, **filters)]


class KillAt(httpx.BaseTransport):
    """The sandbox, except that the request for ``offset`` dies once (the worker with it);
    every upstream offset asked for is recorded."""

    def __init__(self, sandbox: SandboxApp, offset: int) -> None:
        self.inner, self.offset, self.asked = SandboxTransport(sandbox), offset, []
        self.lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/host-connections"):
            offset = int(request.url.params.get("offset", "0"))
            with self.lock:
                self.asked.append(offset)
                if offset == self.offset:
                    self.offset = -1
                    raise Killed
        return self.inner.handle_request(request)


def die_at(sandbox: SandboxApp, job: BackgroundExport, offset: int) -> KillAt:
    """Run the export until its worker dies asking for ``offset``; the transport, which
    records every offset asked for from then on."""
    transport = KillAt(sandbox, offset=offset)
    api.use_transport(transport)
    with pytest.raises(Killed):
        export_work(export_id=str(job.pk))
    return transport


def stale(job: BackgroundExport) -> None:
    """Time passes: the dead worker's heartbeat is old."""
    old = timezone.now() - timedelta(hours=1)
    BackgroundExport.objects.filter(pk=job.pk).update(heartbeat_at=old)


# --- a whole export --------------------------------------------------------------------


def test_background_csv_every_row_once_in_view_order(
    sandbox: SandboxApp, user: User, demo_client: ApiClient
) -> None:
    job = start(user, demo_client, "order_by=host_email&order_dir=desc")
    job.refresh_from_db()
    assert job.state == "done", job.error
    rows = file_rows(job)
    assert rows[0] == HEADER
    assert [r[0] for r in rows[1:]] == expected_ids(
        sandbox, order_by="host_email", order_dir="desc"
    )
    assert job.written == job.total == len(rows) - 1 > ROWS - 1
    assert job.size == background.storage().size(job.file_name)
    assert job.expires_at is not None and job.expires_at > timezone.now() + timedelta(days=6)
    assert background.storage().listdir(f"exports/{job.pk}")[1] == [job.download_name]


def test_background_csv_for_excel_has_one_bom(user: User, demo_client: ApiClient) -> None:
    job = start(user, demo_client, fmt="csv_excel")
    job.refresh_from_db()
    with background.storage().open(job.file_name, "rb") as handle:
        head = handle.read(20)
    assert head.startswith("\ufeffHost organization ID".encode()[:20])
    assert job.download_name.endswith(".csv")


def test_background_filters_follow_the_view(
    sandbox: SandboxApp, user: User, demo_client: ApiClient
) -> None:
    job = start(user, demo_client, "statuses=disconnected")
    want = expected_ids(sandbox, statuses=("disconnected",))
    assert 0 < len(want) < ROWS
    assert [r[0] for r in file_rows(job)[1:]] == want


def test_background_duplicates_dropped_file_complete(user: User, demo_client: ApiClient) -> None:
    serving(250, {0: range(0, 100), 100: range(95, 195), 200: range(195, 250)})
    job = start(user, demo_client)
    assert [r[0] for r in file_rows(job)[1:]] == [str(uuid.UUID(int=i + 1)) for i in range(250)]


def test_background_short_count_fails_and_says_so(user: User, demo_client: ApiClient) -> None:
    serving(250, {0: range(0, 100), 100: range(90, 190), 200: range(190, 240)})
    job = start(user, demo_client)
    job.refresh_from_db()
    assert (job.state, job.error, job.file_name) == ("failed", "wrote 240 rows of 250", "")
    assert _files(job) == []


def test_background_total_change_fails(
    settings: Any, sandbox: SandboxApp, user: User, demo_client: ApiClient
) -> None:
    job = queued(settings, user, demo_client)
    die_at(sandbox, job, 400)
    sandbox.dataset.insert_row(org_id("demo-lender"), host_name="Inserted Mid Export")
    stale(job)
    exports_sweep()
    assert export_work(export_id=str(job.pk)) == "failed"
    job.refresh_from_db()
    assert job.error == "the number of matching rows changed during the export"


def test_background_upstream_trouble_fails_with_the_clients_message(
    settings: Any, user: User, demo_client: ApiClient
) -> None:
    settings.UPSTREAM_MAX_RETRIES = 2

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth2/token"):
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
        return httpx.Response(503, json={"error": {"code": "unavailable", "message": "down"}})

    api.use_transport(httpx.MockTransport(handler))
    job = start(user, demo_client)
    job.refresh_from_db()
    assert job.state == "failed"
    assert "try again" in job.error.lower() and "ref" in job.error.lower()


# --- resume ----------------------------------------------------------------------------


def test_background_resume_kill_between_pages(
    settings: Any, sandbox: SandboxApp, user: User, demo_client: ApiClient
) -> None:
    job = queued(settings, user, demo_client)
    transport = die_at(sandbox, job, 500)
    job.refresh_from_db()
    assert job.state == "running"
    assert job.written == job.next_offset == 400  # the last checkpoint before the death
    assert exports_sweep()["requeued"] == 0  # its heartbeat is fresh: maybe it still runs
    stale(job)
    assert exports_sweep() == {"requeued": 1, "expired": 0}
    transport.asked.clear()
    assert export_work(export_id=str(job.pk)) == "done"
    assert min(transport.asked) == 400  # continued from the checkpoint
    assert sorted(transport.asked) == list(range(400, job.total or 0, 100))
    rows = file_rows(job)
    assert [r[0] for r in rows[1:]] == expected_ids(sandbox)
    job.refresh_from_db()
    assert job.attempts == 2 and job.written == len(rows) - 1


def test_background_resume_drops_a_repeat_of_a_checkpointed_row(
    settings: Any, user: User, demo_client: ApiClient
) -> None:
    """The checkpoint's ids rebuild the de-duplication state: rows written before the
    kill and served again after it (rows shifted by an upstream change) are dropped."""
    pages = {0: range(0, 100), 100: range(100, 200), 200: range(190, 250)}
    kill = [200]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth2/token"):
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
        offset = int(request.url.params["offset"])
        if offset in kill:
            kill.remove(offset)
            raise Killed
        items = [upstream_row(i) for i in pages[offset]]
        return httpx.Response(200, json={"items": items, "total_items": 250})

    api.use_transport(httpx.MockTransport(handler))
    job = queued(settings, user, demo_client)
    with pytest.raises(Killed):
        export_work(export_id=str(job.pk))
    job.refresh_from_db()
    assert job.written == 200  # the first two pages, checkpointed
    stale(job)
    assert exports_sweep()["requeued"] == 1
    assert export_work(export_id=str(job.pk)) == "done"
    assert [r[0] for r in file_rows(job)[1:]] == [str(uuid.UUID(int=i + 1)) for i in range(250)]


def test_background_worker_dying_every_time_fails_the_export(
    settings: Any, sandbox: SandboxApp, user: User, demo_client: ApiClient
) -> None:
    """An export that kills its worker every time (too big for the machine) is queued
    again EXPORT_MAX_ATTEMPTS - 1 times, then fails and says why; its parts are deleted."""
    settings.EXPORT_MAX_ATTEMPTS = 2
    job = queued(settings, user, demo_client)
    for _ in range(2):
        die_at(sandbox, job, 500)
        stale(job)
        swept = exports_sweep()
    assert swept == {"requeued": 0, "expired": 0}
    job.refresh_from_db()
    assert (job.state, job.attempts) == ("failed", 2)
    assert "stopped 2 times without finishing" in job.error
    assert _files(job) == []
    assert AuditEvent.objects.filter(action="export_finish", user=user).count() == 1


def test_background_cancel_of_a_queued_again_export_deletes_its_parts(
    settings: Any, sandbox: SandboxApp, user: User, demo_client: ApiClient
) -> None:
    job = queued(settings, user, demo_client)
    die_at(sandbox, job, 500)
    stale(job)
    assert exports_sweep()["requeued"] == 1
    assert _files(job)  # the dead worker's checkpoint parts
    job.refresh_from_db()
    background_export_cancel(job=job)
    job.refresh_from_db()
    assert job.state == "cancelled"
    assert _files(job) == []


def test_background_stale_export_with_a_cancel_ends_cancelled(
    settings: Any, sandbox: SandboxApp, user: User, demo_client: ApiClient
) -> None:
    """Cancel asked while the worker was dead: the sweep ends it, no other worker runs it."""
    job = queued(settings, user, demo_client)
    die_at(sandbox, job, 500)
    job.refresh_from_db()
    background_export_cancel(job=job)
    stale(job)
    assert exports_sweep()["requeued"] == 0
    job.refresh_from_db()
    assert job.state == "cancelled"
    assert _files(job) == []


def use_storage(settings: Any, backend: type[FileSystemStorage], folder: Any) -> None:
    """The default storage as one of tests/export/storages.py's, in ``folder``."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": f"{backend.__module__}.{backend.__qualname__}",
            "OPTIONS": {"location": str(folder)},
        },
    }


@pytest.fixture
def crash_storage(settings: Any, tmp_path: Any) -> None:
    """A worker dies right after a write (tests/export/storages.py)."""
    use_storage(settings, CrashAfterPartStorage, tmp_path / "crash")


def test_background_resume_kill_between_part_write_and_checkpoint(
    settings: Any, sandbox: SandboxApp, user: User, demo_client: ApiClient, crash_storage: None
) -> None:
    CrashAfterPartStorage.marker = "part-00002-"
    job = queued(settings, user, demo_client)
    with pytest.raises(Crash):
        export_work(export_id=str(job.pk))
    job.refresh_from_db()
    assert (job.written, len(job.parts)) == (400, 2)
    orphans = [f for f in _files(job) if f.startswith("part-00002-")]
    assert orphans  # written, never listed
    stale(job)
    exports_sweep()
    assert export_work(export_id=str(job.pk)) == "done"
    assert [r[0] for r in file_rows(job)[1:]] == expected_ids(sandbox)
    assert _files(job) == [job.download_name]  # the orphan and every part removed


def test_background_resume_after_the_file_was_written(
    settings: Any, sandbox: SandboxApp, user: User, demo_client: ApiClient, crash_storage: None
) -> None:
    """The last step runs again: the same file, never a second copy."""
    CrashAfterPartStorage.marker = "host-connections_"
    job = queued(settings, user, demo_client)
    with pytest.raises(Crash):
        export_work(export_id=str(job.pk))
    stale(job)
    exports_sweep()
    assert export_work(export_id=str(job.pk)) == "done"
    assert [r[0] for r in file_rows(job)[1:]] == expected_ids(sandbox)
    assert _files(job) == [job.download_name]


def test_background_superseded_worker_writes_nothing_more(
    settings: Any, sandbox: SandboxApp, user: User, demo_client: ApiClient
) -> None:
    """A worker thought dead (its export taken over) that wakes up stops at its next
    page, and the export ends once, by the worker that holds it."""
    job = queued(settings, user, demo_client)
    die_at(sandbox, job, 300)
    stale(job)
    exports_sweep()
    BackgroundExport.objects.filter(pk=job.pk).update(state="running", worker="someone-else")
    assert export_work(export_id=str(job.pk)) == "not claimed"
    job.refresh_from_db()
    assert job.worker == "someone-else" and job.written == 200


# --- cancel, expiry, limits, audit -----------------------------------------------------


def test_background_cancel_queued_ends_at_once(
    settings: Any, user: User, demo_client: ApiClient
) -> None:
    job = queued(settings, user, demo_client)
    background_export_cancel(job=job)
    job.refresh_from_db()
    assert job.state == "cancelled"
    assert export_work(export_id=str(job.pk)) == "not claimed"
    assert AuditEvent.objects.filter(action="export_cancel").count() == 1


class CancelAt(httpx.BaseTransport):
    """The user presses Cancel while the page at ``offset`` loads."""

    def __init__(self, sandbox: SandboxApp, offset: int, job_id: Any) -> None:
        self.inner, self.offset, self.job_id, self.asked = (
            SandboxTransport(sandbox),
            offset,
            job_id,
            [],
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/host-connections"):
            offset = int(request.url.params.get("offset", "0"))
            self.asked.append(offset)
            if offset == self.offset:
                job = BackgroundExport.objects.get(pk=self.job_id)
                background_export_cancel(job=job)
                connection.close()
        return self.inner.handle_request(request)


@pytest.mark.django_db(transaction=True)  # the cancel comes from another thread's connection
def test_background_cancel_running_stops_within_a_page(
    settings: Any, sandbox: SandboxApp, user: User, demo_client: ApiClient
) -> None:
    settings.EXPORT_CONCURRENCY = 1
    job = queued(settings, user, demo_client)
    transport = CancelAt(sandbox, 300, job.pk)
    api.use_transport(transport)
    assert export_work(export_id=str(job.pk)) == "cancelled"
    job.refresh_from_db()
    assert job.state == "cancelled" and job.file_name == ""
    assert max(transport.asked) <= 300 + 2 * 100  # the pages already asked for, no more
    assert _files(job) == []
    assert AuditEvent.objects.filter(action="export_cancel", user=user).count() == 1


def test_background_expiry_deletes_the_file_and_audits(user: User, demo_client: ApiClient) -> None:
    job = start(user, demo_client)
    job.refresh_from_db()
    path = job.file_name
    assert exports_sweep()["expired"] == 0
    BackgroundExport.objects.filter(pk=job.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert exports_sweep()["expired"] == 1
    job.refresh_from_db()
    assert (job.state, job.file_name, job.size) == ("expired", "", 0)
    assert not background.storage().exists(path)
    assert AuditEvent.objects.filter(action="export_expire", user=user).count() == 1
    assert exports_sweep()["expired"] == 0


def test_background_limit_running_at_once(
    settings: Any, user: User, demo_client: ApiClient
) -> None:
    settings.BACKGROUND_EXPORTS_PER_USER = 2
    queued(settings, user, demo_client)
    queued(settings, user, demo_client)
    with pytest.raises(ExportNotAllowed, match="already have 2 background exports") as refused:
        start(user, demo_client)
    assert refused.value.status == 429
    assert BackgroundExport.objects.count() == 2


def test_background_limit_stored_bytes(settings: Any, user: User, demo_client: ApiClient) -> None:
    settings.EXPORT_STORAGE_PER_USER_MB = 1
    job = start(user, demo_client)
    BackgroundExport.objects.filter(pk=job.pk).update(size=1024 * 1024)
    with pytest.raises(ExportNotAllowed, match="1 MB of storage") as refused:
        start(user, demo_client)
    assert refused.value.status == 409  # waiting does not help: no Retry-After


def test_background_audit_start_and_finish(user: User, demo_client: ApiClient) -> None:
    job = start(user, demo_client, "statuses=connected")
    actions = list(AuditEvent.objects.order_by("created_at", "pk").values_list("action", flat=True))
    assert actions == ["export_start", "export_finish"]
    finish = AuditEvent.objects.get(action="export_finish")
    assert finish.detail["export"] == str(job.pk)
    assert finish.detail["state"] == "done" and finish.detail["rows"] == finish.detail["total"]
    assert finish.user == user and finish.context == "Demo Lender → self"


def test_background_lost_access_fails_the_export(
    settings: Any, user: User, demo_client: ApiClient
) -> None:
    job = queued(settings, user, demo_client)
    demo_client.users.remove(user)
    assert export_work(export_id=str(job.pk)) == "failed"
    job.refresh_from_db()
    assert "no longer have access" in job.error


# --- Excel -----------------------------------------------------------------------------


def test_background_xlsx_cell_by_cell(
    sandbox: SandboxApp, user: User, demo_client: ApiClient
) -> None:
    sandbox.dataset.insert_row(org_id("demo-lender"), host_name='=HYPERLINK("http://x")')
    job = start(user, demo_client, fmt="xlsx", time_zone="Europe/Paris")
    job.refresh_from_db()
    assert job.state == "done", job.error
    with background.storage().open(job.file_name, "rb") as handle:
        book = openpyxl.load_workbook(io.BytesIO(handle.read()))
    sheet = book.worksheets[0]
    assert sheet.freeze_panes == "A2"
    header = [c.value for c in sheet[1]]
    assert header[0] == "Host organization ID"
    assert header[6] == "Created (Europe/Paris)"
    want = sandbox_rows(sandbox)
    got = list(sheet.iter_rows(min_row=2, values_only=True))
    assert len(got) == len(want) == job.total
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    for row, up in zip(got, want, strict=True):
        assert row[0] == str(up["host_organization_id"])
        name = up["host_name"]
        assert row[1] == safe_cell(name)  # the CSV's formula guard (tests/export/test_cells.py)
        assert row[4] == up["status"]
        created = _utc(up["created_at"]).astimezone(paris).replace(tzinfo=None)
        assert abs((row[6] - created).total_seconds()) < 0.001
    assert '\'=HYPERLINK("http://x")' in [r[1] for r in got]
    assert all(c.data_type != "f" for line in sheet.iter_rows() for c in line)


def test_background_xlsx_continues_on_a_second_sheet(tmp_path: Any) -> None:
    from connections.export.xlsx import write_xlsx

    rows = [[str(i), "2024-01-01T00:00:00Z"] for i in range(5)]
    with open(tmp_path / "x.xlsx", "wb") as out:
        sheets = write_xlsx(
            out,
            header=["n", "At (UTC)"],
            times=frozenset({1}),
            rows=rows,
            total=5,
            time_zone="UTC",
            rows_per_sheet=3,
        )
    assert sheets == 2
    book = openpyxl.load_workbook(tmp_path / "x.xlsx")
    assert book.sheetnames == ["Rows 1-3", "Rows 4-5", "About"]
    assert [r[0] for r in book["Rows 4-5"].iter_rows(values_only=True)] == ["n", "3", "4"]
    assert "continue over 2 sheets" in book["About"]["A1"].value


# --- a long last step ------------------------------------------------------------------


@pytest.fixture
def slow_storage(settings: Any, tmp_path: Any) -> type[SlowStorage]:
    use_storage(settings, SlowStorage, tmp_path / "slow")
    return SlowStorage


SlowXlsx = Callable[[float], tuple[BackgroundExport, list[dict[str, int]]]]


@pytest.fixture
def slow_xlsx(
    settings: Any,
    sandbox: SandboxApp,
    user: User,
    demo_client: ApiClient,
    slow_storage: type[SlowStorage],
) -> SlowXlsx:
    """Queue an .xlsx export whose file takes ``seconds`` to store; with it, the list of
    what the sweep run meanwhile returns."""

    def make(seconds: float) -> tuple[BackgroundExport, list[dict[str, int]]]:
        swept: list[dict[str, int]] = []
        slow_storage.marker, slow_storage.seconds = "host-connections_", seconds
        slow_storage.meanwhile = lambda: swept.append(exports_sweep())
        return queued(settings, user, demo_client, fmt="xlsx"), swept

    return make


@pytest.mark.django_db(transaction=True)  # the heartbeat's thread has its own connection
def test_background_slow_last_step_is_not_taken_for_dead(
    settings: Any, slow_xlsx: SlowXlsx
) -> None:
    """The .xlsx's last step (xlsxwriter's close, then the upload, here slowed down
    through the storage) writes no page, so no tick: the heartbeat's thread keeps the
    export from being taken over by the sweep that runs meanwhile."""
    settings.EXPORT_STALE_SECONDS = 1  # a heartbeat every 0.25 s
    job, swept = slow_xlsx(2.5)
    assert export_work(export_id=str(job.pk)) == "done"
    assert swept == [{"requeued": 0, "expired": 0}]
    job.refresh_from_db()
    assert (job.state, job.attempts, job.written) == ("done", 1, job.total)


@pytest.mark.django_db(transaction=True)
def test_background_hung_last_step_goes_stale(settings: Any, slow_xlsx: SlowXlsx) -> None:
    """A step hung past EXPORT_STEP_MAX_SECONDS (a storage that never answers) is not kept
    alive by the heartbeat's thread: the sweep takes the export over."""
    settings.EXPORT_STALE_SECONDS, settings.EXPORT_STEP_MAX_SECONDS = 1, 1
    job, swept = slow_xlsx(3.0)
    assert export_work(export_id=str(job.pk)) == "superseded"  # its last write finds out
    assert swept == [{"requeued": 1, "expired": 0}]
    assert export_work(export_id=str(job.pk)) == "done"


@pytest.mark.django_db(transaction=True)
def test_background_worker_dead_in_the_last_step_is_queued_again(
    settings: Any, sandbox: SandboxApp, user: User, demo_client: ApiClient, crash_storage: None
) -> None:
    """The heartbeat's thread ends with its worker: once the worker died in the last
    step, no heartbeat is written and the sweep queues the export again."""
    settings.EXPORT_STALE_SECONDS = 1
    CrashAfterPartStorage.marker = "host-connections_"
    job = queued(settings, user, demo_client, fmt="xlsx")
    with pytest.raises(Crash):
        export_work(export_id=str(job.pk))
    job.refresh_from_db()
    last_beat = job.heartbeat_at
    time.sleep(1.5)  # longer than EXPORT_STALE_SECONDS, as it really passes
    job.refresh_from_db()
    assert (job.state, job.heartbeat_at) == ("running", last_beat)
    assert exports_sweep()["requeued"] == 1
    assert export_work(export_id=str(job.pk)) == "done"


# --- two workers -----------------------------------------------------------------------


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="a race of two database connections: SQLite's in-memory test database has one",
)
@pytest.mark.django_db(transaction=True)
def test_background_two_workers_never_take_the_same_export_on_postgresql(
    settings: Any, user: User, demo_client: ApiClient
) -> None:
    settings.TASKS = DUMMY
    settings.BACKGROUND_EXPORTS_PER_USER = 50
    jobs = [start(user, demo_client) for _ in range(20)]
    claims: list[str] = []
    barrier = threading.Barrier(2)

    def worker() -> None:
        from django.db import connections

        barrier.wait()
        for job in jobs:
            token = uuid.uuid4().hex
            if background._claim(str(job.pk), token) is not None:
                claims.append(f"{job.pk}")
        connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claims) == sorted(str(j.pk) for j in jobs)  # each once, by one of them


# --- helpers ---------------------------------------------------------------------------


def _files(job: BackgroundExport) -> list[str]:
    try:
        return sorted(background.storage().listdir(f"exports/{job.pk}")[1])
    except FileNotFoundError:
        return []


def _utc(value: Any) -> datetime:
    """The sandbox's time (a datetime, or text: naive means UTC) as an aware UTC one."""
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


# --- through django-tasks-db's own worker ----------------------------------------------


def db_worker(worker_id: str) -> None:
    """django-tasks-db's worker (what ``manage.py db_worker`` runs), until the queue is
    empty."""
    from django_tasks_db.management.commands.db_worker import Worker

    Worker(
        queue_names=["default"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id=worker_id,
        excluded_queue_names=[],
    ).run()


# The worker closes connections that are not in autocommit (close_old_connections), as a
# test's transaction is not: on PostgreSQL that would close the test's own connection.
@pytest.mark.django_db(transaction=True)
def test_background_resume_through_the_db_worker(
    settings: Any, sandbox: SandboxApp, user: User, demo_client: ApiClient
) -> None:
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    job = start(user, demo_client)
    transport = KillAt(sandbox, offset=700)
    api.use_transport(transport)
    db_worker("worker-1")
    job.refresh_from_db()
    assert (job.state, job.written) == ("running", 600)
    stale(job)
    assert exports_sweep()["requeued"] == 1
    transport.asked.clear()
    db_worker("worker-2")
    job.refresh_from_db()
    assert job.state == "done", job.error
    assert min(transport.asked) == 600
    assert [r[0] for r in file_rows(job)[1:]] == expected_ids(sandbox)
    tasks = DBTaskResult.objects.order_by("enqueued_at")
    assert [t.worker_ids for t in tasks] == [["worker-1"], ["worker-2"]]


# --- a queued export whose task was lost -----------------------------------------------

DB_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


def long_queued(job: BackgroundExport) -> None:
    """Time passes: the export has been queued for an hour."""
    old = timezone.now() - timedelta(hours=1)
    BackgroundExport.objects.filter(pk=job.pk).update(queued_at=old)


def task_states() -> list[str]:
    from django_tasks_db.models import DBTaskResult

    return list(DBTaskResult.objects.order_by("enqueued_at").values_list("status", flat=True))


def finish_on(sandbox: SandboxApp, job: BackgroundExport, worker_id: str) -> None:
    """A worker takes the export's new task and finishes it: every row once."""
    db_worker(worker_id)
    job.refresh_from_db()
    assert job.state == "done", job.error
    assert [r[0] for r in file_rows(job)[1:]] == expected_ids(sandbox)


@pytest.mark.django_db(transaction=True)
def test_background_lost_task_row_queued_again(
    settings: Any, sandbox: SandboxApp, user: User, demo_client: ApiClient
) -> None:
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = DB_TASKS
    job = start(user, demo_client)
    DBTaskResult.objects.all().delete()  # the task's row is lost
    db_worker("worker-1")  # nothing to run
    job.refresh_from_db()
    assert job.state == "queued"
    assert exports_sweep()["requeued"] == 0  # just queued: the grace of EXPORT_STALE_SECONDS
    long_queued(job)
    assert exports_sweep()["requeued"] == 1
    assert exports_sweep()["requeued"] == 0  # its new task waits for a worker
    lost_task = job.task_id
    job.refresh_from_db()
    assert (job.state, job.attempts) == ("queued", 1)
    assert job.task_id != lost_task and task_states() == ["READY"]
    finish_on(sandbox, job, "worker-2")
    assert job.attempts == 2


@pytest.mark.django_db(transaction=True)
def test_background_task_failed_before_claim_queued_again(
    settings: Any, sandbox: SandboxApp, user: User, demo_client: ApiClient
) -> None:
    """The task fails before it claims the export (here a receiver of django-tasks'
    task_started signal raises, as a database error would): the export stays queued
    with no task to run it, until the sweep gives it a new one."""
    from django_tasks.signals import task_started

    def fail_once(**kwargs: Any) -> None:
        task_started.disconnect(fail_once)
        raise RuntimeError("the database went away")

    settings.TASKS = DB_TASKS
    job = start(user, demo_client)
    task_started.connect(fail_once)
    db_worker("worker-1")
    job.refresh_from_db()
    assert (job.state, job.attempts, task_states()) == ("queued", 0, ["FAILED"])
    long_queued(job)
    assert exports_sweep()["requeued"] == 1
    finish_on(sandbox, job, "worker-2")
    assert task_states() == ["FAILED", "SUCCESSFUL"]


@pytest.mark.django_db(transaction=True)
def test_background_task_taken_by_a_worker_that_died_before_the_claim(
    settings: Any, sandbox: SandboxApp, user: User, demo_client: ApiClient
) -> None:
    """A worker SIGKILLed between taking the task and claiming the export leaves the task
    running (what django-tasks-db's claim writes) and the export queued."""
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = DB_TASKS
    job = start(user, demo_client)
    taken = DBTaskResult.objects.all()
    taken.update(status="RUNNING", started_at=timezone.now(), worker_ids=["worker-1"])
    long_queued(job)
    assert exports_sweep()["requeued"] == 0  # just taken: the worker may claim it yet
    taken.update(started_at=timezone.now() - timedelta(hours=1))
    assert exports_sweep()["requeued"] == 1
    finish_on(sandbox, job, "worker-2")
    assert job.attempts == 2


@pytest.mark.django_db(transaction=True)
def test_background_queued_task_waiting_for_a_worker_is_left_alone(
    settings: Any, user: User, demo_client: ApiClient
) -> None:
    settings.TASKS = DB_TASKS
    job = start(user, demo_client)
    long_queued(job)  # no worker for an hour: a long queue, not a lost task
    assert exports_sweep()["requeued"] == 0
    assert task_states() == ["READY"]
    db_worker("worker-1")
    job.refresh_from_db()
    assert (job.state, job.attempts) == ("done", 1), job.error


@pytest.mark.django_db(transaction=True)
def test_background_task_lost_every_time_fails_the_export(
    settings: Any, user: User, demo_client: ApiClient
) -> None:
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = DB_TASKS
    settings.EXPORT_MAX_ATTEMPTS = 2
    job = start(user, demo_client)
    swept = []
    for _ in range(2):
        DBTaskResult.objects.all().delete()
        long_queued(job)
        swept.append(exports_sweep()["requeued"])
    assert swept == [1, 0]
    job.refresh_from_db()
    assert (job.state, job.attempts) == ("failed", 2)
    assert "stopped 2 times without finishing" in job.error
    assert AuditEvent.objects.filter(action="export_finish", user=user).count() == 1
    db_worker("worker-1")  # nothing left to run
    job.refresh_from_db()
    assert job.state == "failed"
    background_export_retry(job=job)  # from the beginning, its turns counted afresh
    assert (job.state, job.attempts) == ("queued", 0)
    db_worker("worker-2")
    job.refresh_from_db()
    assert (job.state, job.attempts) == ("done", 1), job.error
