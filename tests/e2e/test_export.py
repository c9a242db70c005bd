"""CSV export in a real browser: the downloaded file matches the table, "This page only"
is the page, and a long export shows its progress and can be cancelled."""

from __future__ import annotations

import csv
import io
import re
import uuid
from typing import Any

import pytest
from playwright.sync_api import Download, Page, expect

from sandbox import Dataset, SandboxApp
from tests.e2e.conftest import expected_names, host_names

pytestmark = pytest.mark.e2e

ROWS = 3000


@pytest.fixture
def sandbox() -> SandboxApp:
    """Enough rows for an export that takes a while once latency is added."""
    return SandboxApp(Dataset(seed=7, rows_per_org=ROWS))


def csv_rows(download: Download) -> list[dict[str, str]]:
    assert download.failure() is None, download.failure()
    path = download.path()
    assert path is not None
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(io.StringIO(handle.read())))


def unquoted(name: str) -> str:
    """The export neutralises spreadsheet formulas with a leading quote."""
    return name[1:] if name.startswith("'") and name[1:2] in "=+-@\t\r\n" else name


def detail_ids(page: Page) -> list[str]:
    hrefs = page.locator("table.grid tbody tr td:first-child a").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))"
    )
    ids = []
    for href in hrefs:
        match = re.search(r"/connections/([0-9a-f-]{36})/", href)
        assert match, href
        ids.append(str(uuid.UUID(match.group(1))))
    return ids


def test_export_downloads_match_the_table(signed_in: Page, sandbox: Any) -> None:
    page = signed_in
    page.get_by_role("searchbox", name="Search").fill("Summit Lending")
    summit = expected_names(sandbox, search_text="Summit Lending")
    assert 1 < len(summit) <= 20
    expect(page.locator("#result-count")).to_have_text(f"{len(summit)} connections match")
    table = host_names(page)
    assert table == summit

    with page.expect_download() as info:
        page.get_by_role("link", name=f"Download CSV ({len(summit)} rows)").click()
    download = info.value
    assert download.suggested_filename.startswith("host-connections_demo-lender_")
    assert download.suggested_filename.endswith(".csv")
    rows = csv_rows(download)
    assert [unquoted(r["Host name"]) for r in rows] == table
    assert [r["Host organization ID"] for r in rows] == detail_ids(page)
    progress = page.locator("#export-progress")
    expect(progress).to_contain_text(f"Export complete: {len(summit)} rows.")

    # "This page only", on page 3 of a longer list: exactly the rows on screen.
    page.get_by_role("searchbox", name="Search").fill("Harbor")
    expect(page).to_have_url(re.compile(r"search_text=Harbor(&|$)"))
    pager = page.get_by_role("navigation", name="Pagination")
    pager.get_by_role("link", name="Page 3", exact=True).click()
    expect(pager.locator("[aria-current=page]")).to_have_text("3")
    table = host_names(page)
    assert table == expected_names(sandbox, search_text="Harbor")[40:60]
    with page.expect_download() as info:
        page.get_by_role("link", name="This page only").click()
    rows = csv_rows(info.value)
    assert [unquoted(r["Host name"]) for r in rows] == table
    assert [r["Host organization ID"] for r in rows] == detail_ids(page)
    expect(progress).to_contain_text("Export complete: 20 rows.")


def test_export_progress_shows_and_cancel_stops_it(
    signed_in: Page, sandbox: SandboxApp, settings: Any
) -> None:
    page = signed_in
    expect(page.locator("#result-count")).to_have_text(f"{ROWS + 2:,} connections match")
    # One upstream page at a time, each slow: the export takes seconds.
    settings.EXPORT_CONCURRENCY = 1
    sandbox.faults.latency_ms = 100

    progress = page.locator("#export-progress")
    with page.expect_download() as info:
        page.get_by_role("link", name=re.compile(r"^Download CSV")).click()
    expect(progress).to_be_visible()
    expect(progress).to_contain_text(re.compile(r"Exporting: [\d,]+ of 3,002 rows"))
    expect(progress.get_by_role("progressbar")).to_be_visible()

    progress.get_by_role("button", name="Cancel export").click()
    expect(progress).to_contain_text(re.compile(r"Export cancelled after [\d,]+ of 3,002 rows"))
    expect(progress.get_by_role("button", name="Cancel export")).to_have_count(0)
    # The stream stopped: whatever the browser got is short of the whole view.
    path = info.value.path()
    assert path is not None
    with open(path, encoding="utf-8", newline="") as handle:
        written = len(list(csv.reader(handle))) - 1
    assert written < ROWS + 2
