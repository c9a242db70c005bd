"""CSV export in a real browser: the downloaded file matches the table, "This page only"
is the page; each export has its own progress region in the exports panel (Preparing…
until the total is known, announced politely and not at every poll) that does not move the
toolbar, survives a reload and another tab, and can be cancelled or retried; a refused
export is explained in place, by mouse and by keyboard, and without JavaScript on a page
that leads back to the exact list."""

from __future__ import annotations

import csv
import io
import re
import uuid
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Download, Locator, Page, expect

from sandbox import Dataset, SandboxApp
from tests.e2e.conftest import PASSWORD, axe_violations, expected_names, host_names, sign_in

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
    progress = exports(page)
    size = download.path().stat().st_size  # type: ignore[union-attr]
    expect(progress.locator(".export-item")).to_have_count(1)
    expect(progress).to_contain_text(
        re.compile(rf"Export complete: {len(summit)} rows, [\d.]+\s(KB|bytes)\.")
    )
    assert size > 0

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
    # One region per export: the first one's is still there, above the new one.
    expect(progress.locator(".export-item")).to_have_count(2)
    expect(progress.locator(".export-item").nth(1)).to_contain_text("Export complete: 20 rows")


def exports(page: Page) -> Locator:
    return page.get_by_role("region", name="Your exports")


def slow_exports(sandbox: SandboxApp, settings: Any, latency_ms: int = 100) -> None:
    """One upstream page at a time, each slow: a whole-view export takes seconds."""
    settings.EXPORT_CONCURRENCY = 1
    sandbox.faults.latency_ms = latency_ms


def download_link(page: Page) -> Locator:
    return page.get_by_role("link", name=re.compile(r"^Download CSV"))


def written_rows(download: Download) -> int:
    path = download.path()
    assert path is not None
    with open(path, encoding="utf-8", newline="") as handle:
        return len(list(csv.reader(handle))) - 1


def test_export_progress_shows_and_cancel_stops_it(
    signed_in: Page, sandbox: SandboxApp, settings: Any
) -> None:
    """By mouse: the region appears where space was kept for it (the toolbar does not
    move), says "Preparing…" until the total is known, then the rows; Cancel stops it."""
    page = signed_in
    expect(page.locator("#result-count")).to_have_text(f"{ROWS + 2:,} connections match")
    slow_exports(sandbox, settings, latency_ms=300)
    toolbar = page.locator(".toolbar")
    before = toolbar.bounding_box()
    texts: list[str] = []
    page.on("response", lambda r: "/progress/" in r.url and texts.append(r.text()))

    with page.expect_download() as info:
        download_link(page).click()
    region = exports(page).locator(".export-item")
    expect(region).to_have_count(1)
    expect(region).to_contain_text(re.compile(r"Exporting: [\d,]+ of 3,002 rows"))
    expect(region.get_by_role("progressbar")).to_be_visible()
    assert toolbar.bounding_box() == before
    assert not [t for t in texts if "0 of 0" in t]
    assert axe_violations(page) == []

    region.get_by_role("button", name="Cancel export").click()
    expect(region).to_contain_text(re.compile(r"Export cancelled after [\d,]+ of 3,002 rows"))
    expect(region.get_by_role("button", name="Cancel export")).to_have_count(0)
    expect(region.get_by_role("button", name="Retry the export")).to_be_visible()
    assert written_rows(info.value) < ROWS + 2  # the stream stopped short of the whole view
    assert toolbar.bounding_box() == before
    assert axe_violations(page) == []


def test_export_by_keyboard_announced_politely_not_every_poll(
    signed_in: Page, sandbox: SandboxApp, settings: Any
) -> None:
    page = signed_in
    slow_exports(sandbox, settings, latency_ms=300)
    polls: list[str] = []
    page.on("request", lambda r: "/progress/" in r.url and polls.append(r.url))
    # Every text a live region of the panel is given, as a screen reader would be told it.
    page.locator("#exports-list").evaluate(
        """list => { window.__said = [];
             new MutationObserver(records => records.forEach(r => {
               const live = (r.target.nodeType === 1 ? r.target : r.target.parentElement)
                 .closest("[aria-live]");
               if (live && live.textContent) { window.__said.push(live.textContent); }
             })).observe(list, {childList: true, subtree: true, characterData: true}); }"""
    )
    with page.expect_download() as info:
        download_link(page).focus()
        page.keyboard.press("Enter")
    region = exports(page).locator(".export-item")
    expect(region.locator("[aria-live=polite]")).to_have_count(1)
    # On Cancel (by keyboard): the polls replace the progress, never the focused button.
    cancel = region.get_by_role("button", name="Cancel export")
    cancel.focus()
    expect(region).to_contain_text(re.compile(r"Exporting: [\d,]+ of 3,002"))
    page.wait_for_timeout(1200)  # two polls
    expect(cancel).to_be_focused()
    expect(region).to_contain_text("Export complete: 3,002 rows", timeout=30_000)
    expect(region.get_by_role("button", name="Dismiss this export")).to_be_focused()
    assert written_rows(info.value) == ROWS + 2
    said = page.evaluate("window.__said")
    assert said[0] == "Preparing…" or said[0].startswith("Exporting:"), said
    assert said[-1].startswith("Export complete: 3,002 rows"), said
    assert len(polls) >= 12
    assert len(said) <= len(polls) // 5 + 2, (said, len(polls))  # throttled: not every poll
    assert axe_violations(page) == []


def test_export_refused_in_place_by_mouse_and_keyboard(
    signed_in: Page, sandbox: SandboxApp, settings: Any
) -> None:
    """Over the per-user limit: the reason shows next to the buttons, the list stays; the
    "this page only" export is not counted and still downloads."""
    page = signed_in
    settings.EXPORTS_PER_USER = 1
    slow_exports(sandbox, settings, latency_ms=500)  # the first export runs all along
    page.get_by_label("Rows per page").select_option("50")
    expect(page).to_have_url(re.compile(r"limit=50"))
    here, rows = page.url, host_names(page)
    with page.expect_download():
        download_link(page).click()
    panel = exports(page)
    expect(panel).to_contain_text("Exporting:")

    page.get_by_role("link", name="CSV for Excel").click()  # by mouse
    alert = panel.get_by_role("alert")
    expect(alert).to_contain_text("You already have 1 exports running")
    assert page.url == here and host_names(page) == rows
    assert axe_violations(page) == []
    panel.locator(".export-refused").get_by_role("button", name="Dismiss").click()
    expect(panel.get_by_role("alert")).to_have_count(0)

    download_link(page).focus()  # by keyboard: the same refusal, dismissed by keyboard
    page.keyboard.press("Enter")
    expect(panel.get_by_role("alert")).to_contain_text("You already have 1 exports running")
    panel.locator(".export-refused").get_by_role("button", name="Dismiss").focus()
    page.keyboard.press("Enter")
    expect(panel.get_by_role("alert")).to_have_count(0)
    expect(page.locator("#export a").first).to_be_focused()

    with page.expect_download() as info:
        page.get_by_role("link", name="This page only").click()
    assert written_rows(info.value) == 50
    expect(panel.locator(".export-item").last).to_contain_text("Export complete: 50 rows")
    assert page.url == here
    panel.get_by_role("button", name="Cancel export").click()
    expect(panel.locator(".export-item").first).to_contain_text("Export cancelled after")


def test_export_over_the_cap_refused_in_place(signed_in: Page, settings: Any) -> None:
    page = signed_in
    settings.EXPORT_MAX_ROWS = 3002
    page.get_by_role("searchbox", name="Search").fill("Harbor")  # fewer rows than the cap
    expect(page).to_have_url(re.compile(r"search_text=Harbor"))
    settings.EXPORT_MAX_ROWS = 10  # lowered since the page was drawn: the server says so
    download_link(page).click()
    expect(exports(page).get_by_role("alert")).to_contain_text("exports are limited to 10")
    expect(page).to_have_url(re.compile(r"search_text=Harbor"))
    assert axe_violations(page) == []


def test_export_listed_across_tabs_and_reloads_failed_says_why_and_retries(
    signed_in: Page, sandbox: SandboxApp, settings: Any
) -> None:
    page = signed_in
    slow_exports(sandbox, settings)
    with page.expect_download():
        download_link(page).click()
    expect(exports(page)).to_contain_text("Exporting:")

    other = page.context.new_page()  # another tab of the same session
    other.goto(page.url)
    region = exports(other).locator(".export-item")
    expect(region).to_have_count(1)
    expect(region).to_contain_text(re.compile(r"Exporting: [\d,]+ of 3,002 rows"))
    region.get_by_role("button", name="Cancel export").click()
    expect(exports(page)).to_contain_text("Export cancelled after")  # the first tab sees it

    # A failed export says why, after a reload too, and offers to retry. The upstream
    # fails once this export is under way (and the cancelled one has stopped calling it).
    with page.expect_download():
        download_link(page).click()
    expect(exports(page).locator(".export-item").last).to_contain_text("Exporting:")
    rule = sandbox.faults.add("status_500", path="/host-connections", times=None)
    failed = exports(page).locator(".export-item").last
    expect(failed).to_contain_text(re.compile(r"The export failed after [\d,]+ of 3,002 rows \("))
    page.reload()
    failed = exports(page).locator(".export-item").last
    expect(failed).to_contain_text("The export failed after")
    assert axe_violations(page) == []
    sandbox.faults.rules.remove(rule)
    sandbox.faults.latency_ms = 0
    with page.expect_download() as info:
        failed.get_by_role("button", name="Retry the export").click()
    assert written_rows(info.value) == ROWS + 2
    expect(exports(page).locator(".export-item").last).to_contain_text(
        "Export complete: 3,002 rows"
    )
    # Dismiss takes a finished one off the list.
    count = exports(page).locator(".export-item").count()
    exports(page).locator(".export-item").first.get_by_role("button", name="Dismiss").click()
    expect(exports(page).locator(".export-item")).to_have_count(count - 1)


def test_export_refused_without_javascript_links_back_to_the_exact_list(
    new_page: Any, user: User, settings: Any
) -> None:
    page = new_page(java_script_enabled=False)
    sign_in(page, user.get_username(), PASSWORD)
    page.get_by_label("Rows per page").select_option("50")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"limit=50"))
    page.locator("#page-next").click()  # page 2 of 50 rows
    expect(page).to_have_url(re.compile(r"offset=50"))
    page.wait_for_load_state()  # the whole table, not the top of it
    rows = host_names(page)
    settings.EXPORT_MAX_ROWS = 10
    download_link(page).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("The export did not start")
    expect(page.get_by_role("alert")).to_contain_text("exports are limited to 10")
    page.get_by_role("link", name="Back to the list").click()
    expect(page).to_have_url(re.compile(r"\?ctx=\d+&limit=50&offset=50$"))  # canonical
    page.wait_for_load_state()
    assert host_names(page) == rows
    # The refused export is listed with its reason (and a Retry) on the list.
    expect(exports(page)).to_contain_text("The export did not start: This view matches")
