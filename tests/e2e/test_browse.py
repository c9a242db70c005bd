"""Browsing the connections list in a real browser: search, filters, sort, pages, the
detail page and back, history, bookmarks, the no-JavaScript fallback, axe and phones."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from tests.e2e.conftest import PASSWORD, axe_violations, expected_names, host_names, sign_in

pytestmark = pytest.mark.e2e


def params(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def mark_document(page: Page) -> None:
    """Tag the current document: the tag is gone after a full page load."""
    page.evaluate("window.__e2eSameDocument = true")


def same_document(page: Page) -> bool:
    return bool(page.evaluate("window.__e2eSameDocument === true"))


def list_requests(page: Page) -> list[str]:
    """URLs of the htmx requests for the list made from now on."""
    seen: list[str] = []

    def record(request: Any) -> None:
        if "/connections/?" in request.url and request.headers.get("hx-request") == "true":
            seen.append(request.url)

    page.on("request", record)
    return seen


def test_browse_search_updates_results_in_place(signed_in: Page, sandbox: Any) -> None:
    page = signed_in
    count = page.locator("#result-count")
    expect(count).to_have_text("302 connections match")
    mark_document(page)
    requests = list_requests(page)
    search = page.get_by_role("searchbox", name="Search")

    search.click()
    search.press_sequentially("Acme", delay=40)

    acme = expected_names(sandbox, search_text="Acme")
    expect(page).to_have_url(re.compile(r"[?&]search_text=Acme(&|$)"))
    expect(count).to_have_text(f"{len(acme)} connections match")
    assert host_names(page) == acme
    assert same_document(page), "the search reloaded the whole page"
    # Debounced: not one request per key (one for the word, unless the machine stalls).
    assert 1 <= len(requests) < len("Acme"), requests
    expect(search).to_be_focused()

    # Keep typing while results arrive: focus and the typed text stay in the box.
    search.press_sequentially(" F", delay=40)
    acme_f = expected_names(sandbox, search_text="Acme F")
    expect(page).to_have_url(re.compile(r"search_text=Acme\+F(&|$)"))
    expect(count).to_have_text(f"{len(acme_f)} connection{'s' * (len(acme_f) != 1)} match")
    expect(search).to_be_focused()
    expect(search).to_have_value("Acme F")
    assert same_document(page)


def test_browse_filters_sort_and_chips(signed_in: Page, sandbox: Any) -> None:
    page = signed_in
    count = page.locator("#result-count")
    mark_document(page)

    page.get_by_role("checkbox", name="Disconnected").uncheck()
    connected = expected_names(sandbox, statuses=("connected",))
    expect(page).to_have_url(re.compile(r"[?&]statuses=connected(&|$)"))
    expect(count).to_have_text(f"{len(connected)} connections match")
    expect(page.get_by_role("checkbox", name=re.compile(r"^Connected\b"))).to_be_checked()

    page.get_by_label("Archived", exact=True).select_option(label="Archived")
    archived = expected_names(sandbox, statuses=("connected",), archived=True)
    expect(page).to_have_url(re.compile(r"[?&]archived=true(&|$)"))
    expect(count).to_have_text(f"{len(archived)} connections match")
    assert host_names(page) == archived[:20]

    header = page.get_by_role("columnheader", name="Created", exact=True)
    expect(header).not_to_have_attribute("aria-sort", re.compile(".*"))
    header.get_by_role("link").click()
    expect(header).to_have_attribute("aria-sort", "ascending")
    expect(page).to_have_url(re.compile(r"[?&]order_by=created_at(&|$)"))
    assert "order_dir" not in params(page)
    by_created = expected_names(
        sandbox, statuses=("connected",), archived=True, order_by="created_at"
    )
    assert host_names(page) == by_created[:20]

    header.get_by_role("link").click()
    expect(header).to_have_attribute("aria-sort", "descending")
    expect(page).to_have_url(re.compile(r"[?&]order_dir=desc(&|$)"))
    newest_first = expected_names(
        sandbox, statuses=("connected",), archived=True, order_by="created_at", order_dir="desc"
    )
    assert host_names(page) == newest_first[:20]
    expect(page.get_by_role("columnheader", name="Host name")).not_to_have_attribute(
        "aria-sort", re.compile(".*")
    )
    assert same_document(page)

    # Clear one filter chip: the status filter goes, archived and the sort stay.
    chips = page.get_by_role("list", name="Active filters")
    chips.get_by_role("link", name="Clear filter: Status: Connected").click()
    expect(page).not_to_have_url(re.compile(r"statuses="))
    assert params(page)["archived"] == ["true"]
    all_archived = expected_names(sandbox, archived=True)
    expect(count).to_have_text(f"{len(all_archived)} connections match")
    expect(page.get_by_role("checkbox", name="Disconnected")).to_be_checked()

    # Reset: everything back to the defaults, the form too.
    page.get_by_role("link", name="Reset", exact=True).click()
    expect(count).to_have_text("302 connections match")
    assert set(params(page)) == {"ctx"}
    expect(page.get_by_label("Archived", exact=True)).to_have_value("")
    expect(page.get_by_role("list", name="Active filters")).to_have_count(0)


def test_browse_pages_and_detail_round_trip(signed_in: Page, sandbox: Any) -> None:
    page = signed_in
    everyone = expected_names(sandbox)
    pager = page.get_by_role("navigation", name="Pagination")
    page.get_by_role("searchbox", name="Search").fill("a")
    with_a = expected_names(sandbox, search_text="a")
    expect(page.locator("#result-count")).to_have_text(f"{len(with_a)} connections match")
    assert len(with_a) > 60 and len(everyone) > len(with_a)

    pager.get_by_role("link", name="Next").click()
    expect(page).to_have_url(re.compile(r"[?&]offset=20(&|$)"))
    expect(page.locator(".range")).to_have_text(f"21\u201340 of {len(with_a)}")
    assert host_names(page) == with_a[20:40]
    expect(pager.locator("[aria-current=page]")).to_have_text("2")

    pager.get_by_role("link", name="Page 4", exact=True).click()
    expect(page).to_have_url(re.compile(r"[?&]offset=60(&|$)"))
    expect(pager.locator("[aria-current=page]")).to_have_text("4")
    assert host_names(page) == with_a[60:80]
    list_url = page.url

    row = page.locator("table.grid tbody tr").nth(2)
    name = with_a[62]
    row.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    expect(page).to_have_url(
        re.compile(r"/connections/[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}/\?")
    )

    page.get_by_role("link", name="Back to the list").click()
    expect(page).to_have_url(re.compile(re.escape(list_url) + r"#c-[0-9a-f-]{36}$"))  # the row
    expect(page.get_by_role("searchbox", name="Search")).to_have_value("a")
    assert host_names(page) == with_a[60:80]


def test_browse_history_and_bookmarks(signed_in: Page, sandbox: Any) -> None:
    page = signed_in
    count = page.locator("#result-count")
    search = page.get_by_role("searchbox", name="Search")
    start = page.url

    search.fill("Summit")
    summit = expected_names(sandbox, search_text="Summit")
    expect(count).to_have_text(f"{len(summit)} connections match")
    summit_url = page.url

    page.get_by_role("checkbox", name="Disconnected").uncheck()
    summit_connected = expected_names(sandbox, search_text="Summit", statuses=("connected",))
    expect(count).to_have_text(f"{len(summit_connected)} connections match")
    filtered_url = page.url
    assert len(summit_connected) < len(summit)

    page.go_back()
    expect(page).to_have_url(summit_url)
    expect(count).to_have_text(f"{len(summit)} connections match")
    expect(search).to_have_value("Summit")
    expect(page.get_by_role("checkbox", name="Disconnected")).to_be_checked()
    assert host_names(page) == summit

    page.go_back()
    expect(page).to_have_url(start)
    expect(count).to_have_text("302 connections match")
    expect(search).to_have_value("")
    assert host_names(page) == expected_names(sandbox)[:20]

    page.go_forward()
    expect(page).to_have_url(summit_url)
    expect(search).to_have_value("Summit")
    expect(count).to_have_text(f"{len(summit)} connections match")

    page.go_forward()
    expect(page).to_have_url(filtered_url)
    expect(page.get_by_role("checkbox", name="Disconnected")).not_to_be_checked()
    expect(count).to_have_text(f"{len(summit_connected)} connections match")

    # A bookmark of the filtered view, opened in a fresh tab of the same session.
    bookmark = page.context.new_page()
    bookmark.goto(filtered_url)
    expect(bookmark.locator("#result-count")).to_have_text(
        f"{len(summit_connected)} connections match"
    )
    expect(bookmark.get_by_role("searchbox", name="Search")).to_have_value("Summit")
    expect(bookmark.get_by_role("checkbox", name="Disconnected")).not_to_be_checked()
    assert host_names(bookmark) == summit_connected
    bookmark.reload()
    assert host_names(bookmark) == summit_connected


def test_browse_without_javascript(new_page: Callable[..., Page], user: User, sandbox: Any) -> None:
    page = new_page(java_script_enabled=False)
    sign_in(page, user.get_username(), PASSWORD)
    count = page.locator("#result-count")

    pager = page.get_by_role("navigation", name="Pagination")
    pager.get_by_role("link", name="Next").click()
    expect(page).to_have_url(re.compile(r"[?&]offset=20(&|$)"))
    assert host_names(page) == expected_names(sandbox)[20:40]
    pager.get_by_role("link", name="Page 4", exact=True).click()
    expect(page).to_have_url(re.compile(r"[?&]offset=60(&|$)"))
    assert host_names(page) == expected_names(sandbox)[60:80]

    page.get_by_role("searchbox", name="Search").fill("Acme")
    page.get_by_role("checkbox", name="Disconnected").uncheck()
    page.get_by_role("button", name="Apply").click()
    acme = expected_names(sandbox, search_text="Acme", statuses=("connected",))
    expect(page).to_have_url(re.compile(r"search_text=Acme"))
    expect(count).to_have_text(f"{len(acme)} connections match")
    assert host_names(page) == acme
    assert params(page)["statuses"] == ["connected"]

    header = page.get_by_role("columnheader", name="Updated", exact=True)
    header.get_by_role("link").click()
    expect(header).to_have_attribute("aria-sort", "ascending")
    header.get_by_role("link").click()
    expect(header).to_have_attribute("aria-sort", "descending")
    assert params(page)["order_dir"] == ["desc"]
    assert host_names(page) == expected_names(
        sandbox,
        search_text="Acme",
        statuses=("connected",),
        order_by="updated_at",
        order_dir="desc",
    )
    expect(page.get_by_role("searchbox", name="Search")).to_have_value("Acme")

    page.get_by_role("list", name="Active filters").get_by_role(
        "link", name="Clear filter: Status: Connected"
    ).click()
    expect(count).to_have_text(
        f"{len(expected_names(sandbox, search_text='Acme'))} connections match"
    )


def test_browse_axe_finds_no_violations(signed_in: Page) -> None:
    page = signed_in
    assert axe_violations(page) == []

    page.get_by_role("searchbox", name="Search").fill("Acme")
    page.get_by_role("checkbox", name="Disconnected").uncheck()
    expect(page).to_have_url(re.compile(r"statuses=connected"))
    expect(page.get_by_role("list", name="Active filters")).to_be_visible()
    assert axe_violations(page) == []

    page.get_by_role("link", name="Reset", exact=True).click()
    expect(page.locator("#result-count")).to_have_text("302 connections match")
    page.locator("table.grid tbody tr").first.get_by_role("link").click()
    expect(page.get_by_role("link", name="Back to the list")).to_be_visible()
    assert axe_violations(page) == []


OVERFLOW_JS = """
() => {
  const width = document.documentElement.clientWidth;
  const wide = [];
  for (const el of document.querySelectorAll("body *")) {
    if (el.closest(".table-wrap") || el.closest(".visually-hidden")) continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    if (box.right > width + 1 || box.left < -1) {
      if (el.classList.contains("skip-link")) continue;
      wide.push(el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
                + (el.className ? "." + String(el.className).replace(/ /g, ".") : "")
                + " " + Math.round(box.left) + ".." + Math.round(box.right));
    }
  }
  return {wide, scrollWidth: document.documentElement.scrollWidth, width};
}
"""


def test_browse_narrow_viewport_fits(
    new_page: Callable[..., Page], user: User, sandbox: Any
) -> None:
    page = new_page(viewport={"width": 375, "height": 800}, is_mobile=True, has_touch=True)
    sign_in(page, user.get_username(), PASSWORD)
    layout = page.evaluate(OVERFLOW_JS)
    assert layout["wide"] == [], layout
    assert layout["scrollWidth"] <= layout["width"], layout

    # The table scrolls inside its wrapper instead of widening the page.
    wrap = page.locator(".table-wrap")
    assert wrap.evaluate("el => el.scrollWidth > el.clientWidth")
    assert wrap.evaluate("el => getComputedStyle(el).overflowX") == "auto"

    # And the page still works at this size (the filters unfold first).
    page.get_by_text("Filters (0 active)").click()
    page.get_by_role("searchbox", name="Search").fill("Acme")
    acme = expected_names(sandbox, search_text="Acme")
    expect(page.locator("#result-count")).to_have_text(f"{len(acme)} connections match")
    assert host_names(page) == acme
    layout = page.evaluate(OVERFLOW_JS)
    assert layout["wide"] == [], layout


MARK_CELLS_JS = """
() => {
  const cells = [...document.querySelectorAll("table.grid tbody td:nth-child(-n+3)")];
  const cut = cells.find((td) => td.scrollWidth > td.clientWidth);
  const whole = cells.find((td) => td.scrollWidth <= td.clientWidth);
  if (cut) cut.dataset.e2e = "cut";
  if (whole) whole.dataset.e2e = "whole";
  return {cut: cut ? cut.textContent.trim() : null, whole: Boolean(whole)};
}
"""


def test_browse_cells_show_their_full_value_in_a_title(signed_in: Page) -> None:
    """A name or email cell cut off by its column has its whole value as its title."""
    page = signed_in
    page.set_viewport_size({"width": 1280, "height": 800})
    found = page.evaluate(MARK_CELLS_JS)
    assert found["cut"] and found["whole"], found  # the demo data has both kinds
    for cell in (page.locator("[data-e2e=cut]"), page.locator("[data-e2e=whole]")):
        expect(cell).to_have_attribute("title", cell.evaluate("td => td.textContent"))


def test_browse_times_are_relative_with_the_exact_time(signed_in: Page) -> None:
    page = signed_in
    created = page.locator("table.grid tbody tr").first.locator("td").nth(5).locator("time")
    expect(created).to_have_text(re.compile(r"^(\d+ \w+ ago|in \d+ \w+|just now)$"))
    exact = created.get_attribute("title") or ""
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+", exact), exact  # to the second
    machine = created.get_attribute("datetime") or ""
    assert machine.startswith(exact[:19])
    assert created.evaluate("t => !Number.isNaN(Date.parse(t.dateTime.replace(' ', 'T')))")


def test_browse_cut_off_cells_unfold_without_javascript(
    new_page: Callable[..., Page], user: User
) -> None:
    page = new_page(java_script_enabled=False, viewport={"width": 1280, "height": 800})
    sign_in(page, user.get_username(), PASSWORD)
    found = page.evaluate(MARK_CELLS_JS)
    assert found["cut"], found
    cut = page.locator("[data-e2e=cut]")
    assert cut.evaluate("td => getComputedStyle(td).whiteSpace") == "nowrap"
    cut.hover()
    assert cut.evaluate("td => getComputedStyle(td).whiteSpace") == "normal"
    assert cut.evaluate("td => td.scrollWidth <= td.clientWidth")  # nothing hidden now
    page.mouse.move(5, 5)
    assert cut.evaluate("td => getComputedStyle(td).whiteSpace") == "nowrap"
    link = cut.locator("xpath=..").get_by_role("link")  # by keyboard, the row unfolds
    link.focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    assert cut.evaluate("td => getComputedStyle(td).whiteSpace") == "normal"


@pytest.mark.parametrize("query", ["", "&limit=100&order_by=owner_email", "&archived=true"])
def test_browse_all_columns_fit_at_1280(
    new_page: Callable[..., Page], user: User, demo_client: Any, query: str
) -> None:
    page = new_page(viewport={"width": 1280, "height": 800})
    sign_in(page, user.get_username(), PASSWORD)
    page.goto(f"{page.url.split('/connections/')[0]}/connections/?ctx={demo_client.pk}{query}")
    expect(page.locator("table.grid tbody tr").first).to_be_visible()
    wrap = page.locator(".table-wrap")
    assert wrap.evaluate("el => el.scrollWidth <= el.clientWidth"), wrap.evaluate(
        "el => [el.scrollWidth, el.clientWidth]"
    )
    expect(page.get_by_role("columnheader", name="Action updated")).to_be_in_viewport()


def test_browse_cut_off_cells_shown_whole_when_the_row_has_focus(signed_in: Page) -> None:
    """By keyboard the row's cut values show whole in a strip under it; no row moves."""
    page = signed_in
    page.set_viewport_size({"width": 1280, "height": 800})
    row_index = page.evaluate(
        """() => [...document.querySelectorAll("table.grid tbody tr")].slice(0, -1).findIndex(
             (tr) => [...tr.cells].slice(1, 3).some((td) => td.scrollWidth > td.clientWidth))"""
    )
    assert row_index >= 0  # the demo data has cut-off emails (a row above the last)
    rows = page.locator("table.grid tbody tr")
    row = rows.nth(row_index)
    rows.nth(row_index + 1).scroll_into_view_if_needed()  # focusing scrolls nothing then
    below = rows.nth(row_index + 1).bounding_box()
    cut = row.evaluate(
        "tr => [...tr.querySelectorAll('td[title]')]"
        ".filter((td) => td.scrollWidth > td.clientWidth).map((td) => td.title)"
    )
    row.get_by_role("link").focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")  # the link has the keyboard's focus
    expect(row.get_by_role("link")).to_be_focused()
    strip = page.locator("#row-whole")
    expect(strip).to_be_visible()
    expect(strip).to_have_text("  ·  ".join(cut))
    assert rows.nth(row_index + 1).bounding_box() == below  # the next row stays put
    strip_box, row_box = strip.bounding_box(), row.bounding_box()
    assert strip_box is not None and row_box is not None
    assert abs(strip_box["y"] - (row_box["y"] + row_box["height"])) < 2  # just under the row
    assert axe_violations(page) == []
    page.keyboard.press("j")  # the next row: the strip follows it, or goes if nothing is cut
    expect(rows.nth(row_index + 1).get_by_role("link")).to_be_focused()
    assert rows.nth(row_index + 1).bounding_box() == below
    page.get_by_role("searchbox", name="Search").focus()
    expect(strip).to_be_hidden()


def test_browse_click_on_a_row_with_cut_off_cells_opens_it(signed_in: Page) -> None:
    """A mouse click must not unfold the row (and move the link away under it)."""
    page = signed_in
    page.set_viewport_size({"width": 1280, "height": 800})
    row_index = page.evaluate(
        """() => [...document.querySelectorAll("table.grid tbody tr")].findIndex(
             (tr) => [...tr.cells].slice(1, 3).some((td) => td.scrollWidth > td.clientWidth))"""
    )
    assert row_index >= 0
    link = page.locator("table.grid tbody tr").nth(row_index).get_by_role("link")
    box = link.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 5, box["y"] + box["height"] / 2)
    expect(page.get_by_role("link", name="Back to the list")).to_be_visible()


def test_browse_time_zone_cookie_follows_the_browser(
    new_page: Callable[..., Page], user: User, live_server: Any
) -> None:
    """A stored "Etc/GMT+10" must not pass for "Etc/GMT+1" (a prefix of it)."""
    page = new_page(timezone_id="Etc/GMT+1")
    page.context.add_cookies([{"name": "tz", "value": "Etc/GMT+10", "url": live_server.url}])
    sign_in(page, user.get_username(), PASSWORD)
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    assert cookies["tz"] == "Etc/GMT+1"
