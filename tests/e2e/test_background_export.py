"""Background exports in a real browser: start one from the list, watch the Exports page
follow it to the end, download the file and compare it with the upstream's rows; the
.xlsx opened with openpyxl and checked cell by cell, times in the browser's zone.

The export is queued (django-tasks' dummy backend) and run by this test's thread as a
worker runs it (``export_work``), so the page is seen queued, then done."""

from __future__ import annotations

import csv
import io
import zoneinfo
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import openpyxl
import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Download, Page, expect

from connections.export.background import export_work
from connections.export.cells import safe_cell
from connections.models import BackgroundExport
from sandbox import Dataset, SandboxApp
from tests.conftest import sandbox_rows
from tests.e2e.conftest import PASSWORD, axe_violations, sign_in

pytestmark = pytest.mark.e2e

ZONE = "America/New_York"
DUMMY = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


@pytest.fixture
def sandbox() -> SandboxApp:
    return SandboxApp(Dataset(seed=7, rows_per_org=700))


@pytest.fixture
def exporter(new_page: Callable[..., Page], user: User, settings: Any) -> Page:
    settings.TASKS = DUMMY
    settings.EXPORT_CHECKPOINT_ROWS = 200
    page = new_page(timezone_id=ZONE)
    sign_in(page, user.get_username(), PASSWORD)
    return page


def start_and_finish(page: Page, fmt_label: str) -> Download:
    """Start an export of the current list, see it queued, run it, see it done, download."""
    page.get_by_label("Format").select_option(label=fmt_label)
    page.get_by_role("button", name="Export in the background").click()
    page.wait_for_url("**/exports/")
    expect(page.get_by_role("heading", name="Exports")).to_be_visible()
    job = BackgroundExport.objects.order_by("-created_at").first()
    assert job is not None
    row = page.locator(f"#export-{job.pk}")
    expect(row).to_have_attribute("data-state", "queued")
    assert export_work(export_id=str(job.pk)) == "done"
    expect(row).to_have_attribute("data-state", "done", timeout=10_000)  # the page polls
    expect(page.locator("#exports-badge")).to_be_hidden()  # the header is not polled
    page.reload()
    expect(page.locator("#exports-badge")).to_have_text("1")
    with page.expect_download() as info:
        page.locator(f"#export-{job.pk}").get_by_role("button", name="Download").click()
    download = info.value
    assert download.failure() is None, download.failure()
    return download


def test_background_export_csv_in_the_browser(exporter: Page, sandbox: SandboxApp) -> None:
    page = exporter
    page.goto("/connections/?statuses=connected&order_by=host_email&order_dir=desc")
    download = start_and_finish(page, "CSV")
    assert download.suggested_filename.startswith("host-connections_demo-lender_")
    assert download.suggested_filename.endswith(".csv")
    path = download.path()
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    want = sandbox_rows(sandbox, statuses=("connected",), order_by="host_email", order_dir="desc")
    assert len(want) > 300
    assert [r["Host organization ID"] for r in rows] == [
        str(w["host_organization_id"]) for w in want
    ]
    assert [r["Host email"] for r in rows] == [safe_cell(w["host_email"]) for w in want]
    page.reload()
    expect(page.locator("#exports-badge")).to_be_hidden()  # downloaded
    assert axe_violations(page) == []
    # At phone width each export is a card: its actions in reach, nothing to scroll sideways.
    page.set_viewport_size({"width": 375, "height": 800})
    expect(page.get_by_role("button", name="Download").first).to_be_in_viewport()
    assert page.locator("#exports .table-wrap").evaluate("el => el.scrollWidth <= el.clientWidth")
    assert axe_violations(page) == []


def test_background_export_xlsx_cell_by_cell(exporter: Page, sandbox: SandboxApp) -> None:
    page = exporter
    page.goto("/connections/?order_by=created_at")
    download = start_and_finish(page, "Excel (.xlsx)")
    assert download.suggested_filename.endswith(".xlsx")
    with open(download.path(), "rb") as handle:  # the path has no extension
        book = openpyxl.load_workbook(io.BytesIO(handle.read()))
    sheet = book.worksheets[0]
    assert sheet.freeze_panes == "A2"
    header = [c.value for c in sheet[1]]
    assert header[:3] == ["Host organization ID", "Host name", "Host email"]
    assert header[6] == f"Created ({ZONE})"
    want = sandbox_rows(sandbox, order_by="created_at")
    got = list(sheet.iter_rows(min_row=2, values_only=True))
    assert len(got) == len(want)
    zone = zoneinfo.ZoneInfo(ZONE)
    for cells, up in zip(got, want, strict=True):
        assert cells[0] == str(up["host_organization_id"])
        assert cells[1] == safe_cell(up["host_name"])
        assert cells[2] == safe_cell(up["host_email"])
        assert cells[3] == safe_cell(up["owner_email"])
        assert cells[4] == up["status"]
        assert cells[5] == ("true" if up["archived"] else "false")
        for col, key in ((6, "created_at"), (7, "updated_at")):
            local = _utc(up[key]).astimezone(zone).replace(tzinfo=None)
            assert isinstance(cells[col], datetime)
            assert abs((cells[col] - local).total_seconds()) < 0.001, (col, cells[col], local)
    assert all(c.data_type != "f" for line in sheet.iter_rows() for c in line)


def _utc(value: Any) -> datetime:
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
