"""The streamed export, driven directly (no view): every row once, in order, and a
download that fails visibly whenever the file would not be exact.

The upstream is the in-process sandbox of ``tests/conftest.py`` or an
``httpx.MockTransport``: mocking happens at the transport only.
"""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import httpx
import pytest

from connections import api
from connections.export import (
    HEADER,
    Export,
    ExportAborted,
    ExportCancelled,
    ExportRefused,
    progress_of,
    request_cancel,
    start_export,
)
from connections.query import ListQuery
from sandbox import ORGS_BY_SLUG, SandboxApp
from tests.conftest import org_id, sandbox_rows

DEMO = ORGS_BY_SLUG["demo-lender"]
USER = 1


def caller(target: str = DEMO.id) -> api.Caller:
    credentials = api.Credentials(DEMO.client_id, DEMO.client_secret, DEMO.id)
    return api.Caller(credentials=credentials, target_org_id=target)


def start(query: str = "", *, whole_view: bool = True, **kwargs: Any) -> Export:
    parsed = ListQuery.parse({k: [v] for k, v in (p.split("=") for p in query.split("&") if p)})
    assert parsed.is_clean
    return start_export(
        caller=kwargs.pop("caller", caller()),
        query=parsed.query,
        user_id=USER,
        export_id=kwargs.pop("export_id", uuid.uuid4().hex),
        whole_view=whole_view,
        bom=kwargs.pop("bom", False),
        org_label="Demo Lender",
        **kwargs,
    )


def rows_of(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode(), newline="")))[1:]


def read_until(job: Export, exc: type[Exception]) -> tuple[bytes, pytest.ExceptionInfo[Any]]:
    got: list[bytes] = []
    with pytest.raises(exc) as raised:
        for chunk in job.stream():
            got.append(chunk)
    return b"".join(got), raised


def test_stream_every_row_once_in_view_order(sandbox: SandboxApp) -> None:
    finished: list[Export] = []
    job = start("order_by=created_at&order_dir=desc", on_finish=finished.append)
    body = b"".join(job.stream())
    expected = sandbox_rows(sandbox, order_by="created_at", order_dir="desc")
    assert [r[0] for r in rows_of(body)] == [r["host_organization_id"] for r in expected]
    assert job.total == job.written == len(expected) == 302
    assert (job.outcome, finished) == ("complete", [job])
    entry = progress_of(job.export_id, USER)
    assert entry is not None
    assert {k: entry[k] for k in ("user", "written", "total", "state", "bytes")} == {
        "user": USER,
        "written": 302,
        "total": 302,
        "state": "complete",
        "bytes": len(body),  # what the panel says was sent
    }
    assert entry["started"] <= entry["ended"]


def test_stream_page_scope_is_the_first_page_only() -> None:
    job = start("limit=20&offset=40", whole_view=False)
    assert len(rows_of(b"".join(job.stream()))) == job.total == 20


def test_stream_bom_once_before_the_header() -> None:
    body = b"".join(start("search_text=zzzz", bom=True).stream())
    assert body == ("\ufeff" + ",".join(HEADER) + "\r\n").encode()


def test_stream_contract_breach_aborts_with_a_clear_message(sandbox: SandboxApp) -> None:
    sandbox.faults.add("bad_shape", path="/host-connections", after=1, times=None)
    job = start()
    job.concurrency = 1  # pages in order: page 2 is the first bad one
    sent, raised = read_until(job, ExportAborted)
    assert "The API sent a response hostadmin cannot read" in str(raised.value)
    assert len(rows_of(sent)) == job.written == 100
    assert job.outcome == "failed"
    entry = progress_of(job.export_id, USER)
    assert entry is not None  # the panel says why
    assert "The API sent a response hostadmin cannot read" in entry["reason"]
    assert entry["bytes"] == len(sent)


def test_stream_total_over_cap_refused_and_slot_freed(settings) -> None:
    settings.EXPORT_MAX_ROWS = 301
    settings.EXPORTS_PER_USER = 1
    with pytest.raises(ExportRefused, match="matches 302 rows; exports are limited to 301") as no:
        start()
    assert no.value.status == 400
    settings.EXPORT_MAX_ROWS = 302
    b"".join(start().stream())  # the slot was given back


def test_stream_too_many_running_refused(settings) -> None:
    settings.EXPORTS_PER_USER = 1
    first = start()
    with pytest.raises(ExportRefused, match="already have 1 exports running") as no:
        start()
    assert no.value.status == 429
    b"".join(first.stream())
    b"".join(start().stream())


def test_stream_page_scope_never_counts_against_the_limit(settings) -> None:
    settings.EXPORTS_PER_USER = 1
    whole = start()
    pages = [start("limit=20", whole_view=False) for _ in range(3)]  # not refused
    for job in pages:
        assert len(rows_of(b"".join(job.stream()))) == 20
    with pytest.raises(ExportRefused, match="already have 1 exports running"):
        start()  # the whole-view one still holds the only slot, and only it
    b"".join(whole.stream())
    b"".join(start().stream())


def test_stream_cancel_stops_after_the_current_page() -> None:
    job = start()
    chunks = iter(job.stream())
    next(chunks)
    assert request_cancel(job.export_id, USER)
    with pytest.raises(ExportCancelled):
        next(chunks)
    assert (job.outcome, job.written) == ("cancelled", 100)


def test_stream_closed_unread_finishes_once() -> None:
    finished: list[Export] = []
    job = start(on_finish=finished.append)
    stream = job.stream()
    stream.close()
    stream.close()
    assert finished == [job]
    assert job.outcome == "cancelled"


def test_stream_total_change_aborts(sandbox: SandboxApp) -> None:
    job = start()
    chunks = iter(job.stream())
    next(chunks)
    sandbox.dataset.insert_row(org_id("demo-lender"), host_name="Inserted Mid Export")
    with pytest.raises(ExportAborted, match="number of matching rows changed"):
        list(chunks)
    assert job.outcome == "failed"


def _row(i: int) -> dict[str, Any]:
    return {
        "host_organization_id": str(uuid.UUID(int=i + 1)),
        "guest_organization_id": org_id("demo-lender"),
        "host_name": f"Host {i:04d}",
        "host_email": f"h{i}@example.com",
        "owner_email": f"o{i}@example.com",
        "status": "connected",
        "archived": False,
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z",
    }


def serving(total: int, pages: dict[int, range]) -> None:
    """The upstream serves the given row indexes at each offset."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth2/token"):
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
        items = [_row(i) for i in pages[int(request.url.params["offset"])]]
        return httpx.Response(200, json={"items": items, "total_items": total})

    api.use_transport(httpx.MockTransport(handler))


def test_stream_duplicates_dropped_file_complete() -> None:
    serving(250, {0: range(0, 100), 100: range(95, 195), 200: range(195, 250)})
    job = start()
    ids = [r[0] for r in rows_of(b"".join(job.stream()))]
    assert ids == [str(uuid.UUID(int=i + 1)) for i in range(250)]
    assert job.outcome == "complete"


def test_stream_duplicates_dropped_then_short_count_aborts() -> None:
    serving(250, {0: range(0, 100), 100: range(90, 190), 200: range(190, 240)})
    job = start()
    sent, raised = read_until(job, ExportAborted)
    assert str(raised.value) == "wrote 240 rows of 250"
    assert len(rows_of(sent)) == 240


def test_stream_formula_look_alikes_quoted_in_the_file(sandbox: SandboxApp) -> None:
    sandbox.dataset.insert_row(
        DEMO.id,
        host_name='\u00a0=HYPERLINK("http://evil.example","x")',
        host_email="\uff0b1@evil.example",
        owner_email="\ufeff@evil.example",
    )
    body = b"".join(start("search_field=host_email&search_text=evil.example").stream())
    [row] = rows_of(body)
    assert row[1:4] == [
        '\'\u00a0=HYPERLINK("http://evil.example","x")',
        "'\uff0b1@evil.example",
        "'\ufeff@evil.example",
    ]
