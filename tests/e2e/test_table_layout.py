# ruff: noqa: RUF001, RUF003 - the page prints en dashes and angle quotes; tests match them exactly.
"""The table for a long day: its header row stays in view on a 100-row page (also when it
scrolls sideways), a pager above it as well as below, and after a page change the view
goes back to the top of the table with the focus on the results heading; a swap that
removes the focused control leaves the focus on that heading, never nowhere."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from tests.e2e.conftest import (
    PASSWORD,
    axe_violations,
    expected_names,
    host_names,
    sign_in,
    target_size_violations,
)

pytestmark = pytest.mark.e2e


def box(page: Page, selector: str) -> dict[str, float]:
    found = page.locator(selector).first.bounding_box()
    assert found is not None, selector
    return found


def open_list(page: Page, query: str) -> None:
    page.goto(page.url.split("?")[0] + "?" + query)
    expect(page.locator("table.grid tbody tr").first).to_be_visible()


def test_layout_header_row_sticks_on_a_100_row_page(signed_in: Page, demo_client: Any) -> None:
    page = signed_in
    open_list(page, f"ctx={demo_client.pk}&limit=100")
    assert page.locator("table.grid tbody tr").count() == 100
    wrap = page.locator(".table-wrap")
    wrap.scroll_into_view_if_needed()
    wrap.evaluate("el => el.scrollTo(0, 1500)")
    page.wait_for_function("() => document.querySelector('.table-wrap').scrollTop > 1000")
    head, frame = box(page, "table.grid thead th"), box(page, ".table-wrap")
    assert abs(head["y"] - frame["y"]) <= 2, (head, frame)  # still at the top of the table
    assert 0 <= head["y"] < 900  # and on screen
    expect(page.locator("table.grid tbody tr").first).not_to_be_in_viewport()
    expect(page.get_by_role("columnheader", name="Host email")).to_be_in_viewport()
    # The row under the header is a later one: the rows did scroll.
    later = page.locator("table.grid tbody tr").nth(60)
    expect(later).to_be_in_viewport()


def test_layout_narrow_header_and_host_name_stay_put(
    new_page: Callable[..., Page], user: User, demo_client: Any
) -> None:
    page = new_page(viewport={"width": 375, "height": 800}, is_mobile=True, has_touch=True)
    sign_in(page, user.get_username(), PASSWORD)
    open_list(page, f"ctx={demo_client.pk}&limit=100")
    wrap = page.locator(".table-wrap")
    wrap.scroll_into_view_if_needed()
    wrap.evaluate("el => el.scrollTo(400, 1200)")
    page.wait_for_function(
        "() => { const w = document.querySelector('.table-wrap');"
        " return w.scrollLeft > 300 && w.scrollTop > 1000; }"
    )
    frame = box(page, ".table-wrap")
    head = box(page, "table.grid thead th.key")
    assert abs(head["y"] - frame["y"]) <= 2 and abs(head["x"] - frame["x"]) <= 2, (head, frame)
    name = page.locator("table.grid tbody tr").nth(50).locator("td:has(> a)")
    expect(name).to_be_in_viewport()
    cell = name.bounding_box()
    assert cell is not None and abs(cell["x"] - frame["x"]) <= 2, (cell, frame)
    # Sideways, the other columns did move under it.
    email = box(page, "table.grid thead th:nth-child(2)")
    assert email["x"] < head["x"] + head["width"], (email, head)


def test_layout_pager_above_and_below_focus_goes_to_the_heading(
    signed_in: Page, sandbox: Any
) -> None:
    page = signed_in
    top = page.get_by_role("navigation", name="Pages (above the table)")
    bottom = page.get_by_role("navigation", name="Pagination")
    expect(top).to_be_visible()
    expect(bottom).to_be_visible()
    assert box(page, "nav.pager-top")["y"] < box(page, "table.grid")["y"]
    assert axe_violations(page) == []
    assert target_size_violations(page) == []

    heading = page.locator("#results-heading")
    every = expected_names(sandbox)
    # The bottom pager, by keyboard: back to the top of the table, focus on the heading.
    bottom.get_by_role("link", name="Page 3", exact=True).focus()
    page.keyboard.press("Enter")
    expect(heading).to_have_text("41–60 of 302")
    expect(heading).to_be_focused()
    expect(heading).to_be_in_viewport()
    assert host_names(page) == every[40:60]
    # "Next ›" of the top pager: the same.
    top.get_by_role("link", name="Next ›").click()
    expect(heading).to_have_text("61–80 of 302")
    expect(heading).to_be_focused()
    assert host_names(page) == every[60:80]


def test_layout_focus_lands_on_the_heading_when_a_chip_is_gone(signed_in: Page) -> None:
    page = signed_in
    page.get_by_role("checkbox", name="Disconnected").uncheck()
    chip = page.get_by_role("link", name="Clear filter: Status: Connected")
    chip.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#result-count")).to_have_text("302 connections match")
    expect(chip).to_have_count(0)
    expect(page.locator("#results-heading")).to_be_focused()

    page.get_by_role("checkbox", name="Disconnected").uncheck()
    clear_all = page.get_by_role("link", name="Clear all")
    clear_all.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#result-count")).to_have_text("302 connections match")
    expect(page.locator("#results-heading")).to_be_focused()


CUT_SHARE_JS = """
() => {
  const cells = [...document.querySelectorAll("table.grid tbody td[title]")];
  const cut = cells.filter((td) => td.scrollWidth > td.clientWidth);
  return {cells: cells.length, cut: cut.length};
}
"""


def test_layout_1920_names_and_emails_are_not_cut(
    new_page: Callable[..., Page], user: User, demo_client: Any
) -> None:
    page = new_page(viewport={"width": 1920, "height": 1080})
    sign_in(page, user.get_username(), PASSWORD)
    for query in ("", "&limit=100", "&limit=100&offset=100", "&limit=100&offset=200"):
        open_list(page, f"ctx={demo_client.pk}{query}")
        share = page.evaluate(CUT_SHARE_JS)
        assert share["cells"] >= 60, share
        assert share["cut"] / share["cells"] < 0.05, share
        wrap = page.locator(".table-wrap")
        assert wrap.evaluate("el => el.scrollWidth <= el.clientWidth")  # no sideways scroll


def test_layout_1280_cut_cell_shows_its_value_on_hover_and_tap(
    new_page: Callable[..., Page], user: User, demo_client: Any
) -> None:
    page = new_page(viewport={"width": 1280, "height": 900}, has_touch=True)
    sign_in(page, user.get_username(), PASSWORD)
    index = page.evaluate(
        """() => [...document.querySelectorAll("table.grid tbody td[title]")].findIndex(
             (td) => !td.querySelector("a") && td.scrollWidth > td.clientWidth)"""
    )
    assert index >= 0  # the demo data has cut-off emails at 1280
    cell = page.locator("table.grid tbody td[title]").nth(index)
    whole = cell.get_attribute("title") or ""
    after = "td => getComputedStyle(td, '::after').content"
    assert cell.evaluate(after) == "none"
    cell.hover()
    assert cell.evaluate(after) == f'"{whole}"'
    shown = cell.evaluate(
        "td => { const r = td.getBoundingClientRect();"
        " return parseFloat(getComputedStyle(td, '::after').width) > r.width; }"
    )
    assert shown  # wider than the cell: the whole value
    page.mouse.move(5, 5)
    assert cell.evaluate(after) == "none"
    box = cell.bounding_box()
    assert box is not None
    page.touchscreen.tap(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(cell).to_have_class(re.compile(r"\bis-shown\b"))
    assert cell.evaluate(after) == f'"{whole}"'
    page.touchscreen.tap(5, 300)  # elsewhere: it folds again
    expect(cell).not_to_have_class(re.compile(r"\bis-shown\b"))


def test_layout_tap_on_a_cut_host_name_shows_it_then_opens_the_row(
    new_page: Callable[..., Page], user: User, demo_client: Any
) -> None:
    page = new_page(viewport={"width": 375, "height": 800}, is_mobile=True, has_touch=True)
    sign_in(page, user.get_username(), PASSWORD)
    index = page.evaluate(
        """() => [...document.querySelectorAll("table.grid tbody td[title]")].findIndex(
             (td) => td.querySelector("a") && td.scrollWidth > td.clientWidth)"""
    )
    assert index >= 0  # the demo data has cut-off host names at 375 px
    cell = page.locator("table.grid tbody td[title]").nth(index)
    link = cell.locator("a")
    href = link.get_attribute("href") or ""
    list_url = page.url
    link.tap()  # first tap: the whole name, and the list stays
    expect(cell).to_have_class(re.compile(r"\bis-shown\b"))
    whole = cell.get_attribute("title") or ""
    assert cell.evaluate("td => getComputedStyle(td, '::after').content") == f'"{whole}"'
    assert page.url == list_url
    link.tap()  # second tap: the row opens
    expect(page).to_have_url(re.compile(re.escape(href.split("?")[0])))
    expect(page.get_by_role("heading", level=1)).to_contain_text(whole)


def test_layout_375_filters_fold_first_row_on_first_screen_targets(
    new_page: Callable[..., Page], user: User, sandbox: Any
) -> None:
    page = new_page(viewport={"width": 375, "height": 800}, is_mobile=True, has_touch=True)
    sign_in(page, user.get_username(), PASSWORD)
    fold = page.locator("#filters-fold")
    summary = fold.locator("summary")
    expect(summary).to_have_text("Filters (0 active)")
    expect(fold).not_to_have_attribute("open", "")
    expect(page.get_by_role("searchbox", name="Search")).to_be_hidden()
    first = page.locator("table.grid tbody tr").first
    row = first.bounding_box()
    assert row is not None and row["y"] + row["height"] <= 800, row  # on the first screen
    assert axe_violations(page) == []
    assert target_size_violations(page) == []

    summary.tap()
    expect(fold).to_have_attribute("open", "")
    page.get_by_role("checkbox", name="Disconnected").uncheck()
    connected = expected_names(sandbox, statuses=("connected",))
    expect(page.locator("#result-count")).to_have_text(f"{len(connected)} connections match")
    expect(summary).to_have_text("Filters (1 active)")
    expect(fold).to_have_attribute("open", "")  # the user's choice stays
    assert axe_violations(page) == []
    assert target_size_violations(page) == []
    page.get_by_role("link", name="Clear all").tap()
    expect(summary).to_have_text("Filters (0 active)")
    expect(fold).to_have_attribute("open", "")


def test_layout_focus_after_retry_lands_on_the_heading(signed_in: Page, sandbox: Any) -> None:
    page = signed_in
    sandbox.faults.add("status_503", path="/host-connections", times=None)
    page.get_by_role("checkbox", name="Disconnected").uncheck()
    retry = page.get_by_role("link", name="Retry")
    expect(retry).to_be_visible()
    assert axe_violations(page) == []
    sandbox.faults.clear()
    retry.focus()
    page.keyboard.press("Enter")
    connected = expected_names(sandbox, statuses=("connected",))
    expect(page.locator("#result-count")).to_have_text(f"{len(connected)} connections match")
    expect(page.locator("#results-heading")).to_be_focused()


@pytest.mark.parametrize("width", [1280, 1920])
def test_layout_facet_counts_arriving_move_nothing(
    new_page: Callable[..., Page], user: User, width: int
) -> None:
    """The choices' counts load after the rows; their room is kept, so neither the filters
    nor the table move when they arrive (a CI run once saw the toolbar drop 48 px)."""
    page = new_page(viewport={"width": width, "height": 900})
    held: list[Any] = []
    page.route(re.compile(r".*/connections/facets/.*"), lambda route: held.append(route))
    sign_in_without_waiting(page, user)
    expect(page.get_by_role("checkbox", name="Connected", exact=True)).to_be_visible()
    for _ in range(250):  # the counts' request, sent once htmx has started, is held
        if held:
            break
        page.wait_for_timeout(20)
    assert held
    before = {s: box(page, s) for s in (".toolbar", "table.grid", "#f-limit")}
    assert page.locator("#count-connected").text_content() == ""
    for route in held:
        route.continue_()
    expect(page.get_by_role("checkbox", name=re.compile(r"^Connected \(\d+\)$"))).to_be_visible()
    expect(page.locator("#count-archived-false")).not_to_be_empty()
    assert {s: box(page, s) for s in before} == before


def sign_in_without_waiting(page: Page, user: User) -> None:
    """The login form, then only the rows (sign_in also waits for the counts)."""
    page.goto("/login/")
    page.get_by_label("Username").fill(user.get_username())
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("table.grid tbody tr").first).to_be_visible()


@pytest.mark.parametrize("width", [1280, 375])
def test_layout_a_long_search_chip_stays_on_screen(
    new_page: Callable[..., Page], user: User, demo_client: Any, width: int
) -> None:
    page = new_page(viewport={"width": width, "height": 800})
    sign_in(page, user.get_username(), PASSWORD)
    page.goto(f"/connections/?ctx={demo_client.pk}&search_text={'Acme' * 60}")  # one word; no rows
    chip = page.locator(".chip").first
    expect(chip).to_be_visible()
    right = box(page, ".chip")["x"] + box(page, ".chip")["width"]
    assert right <= width, (right, width)
    expect(chip.locator(".chip-clear")).to_be_in_viewport()


def test_layout_counts_of_replaced_results_never_land(signed_in: Page) -> None:
    """The late answer of a counts request whose results were replaced (the old filters'
    counts) does not overwrite the new filters' counts: htmx leaves an answer for an
    element that is gone unswapped."""
    page = signed_in
    archived = page.locator("#count-archived-true")
    before = archived.text_content()
    held: list[Any] = []
    page.route(re.compile(r".*/connections/facets/.*"), lambda route: held.append(route))
    page.get_by_role("checkbox", name=re.compile(r"^Disconnected")).uncheck()  # counts held
    expect(page).to_have_url(re.compile(r"statuses=connected"))
    page.get_by_role("checkbox", name=re.compile(r"^Disconnected")).check()  # replaced again
    expect(page).not_to_have_url(re.compile(r"statuses="))
    page.get_by_role("checkbox", name=re.compile(r"^Connected")).uncheck()
    expect(page).to_have_url(re.compile(r"statuses=disconnected"))
    for _ in range(250):
        if len(held) == 3:
            break
        page.wait_for_timeout(20)
    assert len(held) == 3
    held[2].continue_()  # the current filters' counts
    expect(archived).not_to_have_text(before or "")
    now = archived.text_content()
    for route in held[:2]:  # the replaced ones', late
        route.continue_()
    page.wait_for_timeout(500)
    assert archived.text_content() == now
