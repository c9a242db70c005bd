# ruff: noqa: RUF001, RUF003 - the page prints en dashes and angle quotes; tests match them exactly.
"""The table for a long day: its header row stays in view on a 100-row page (also when it
scrolls sideways), a pager above it as well as below, and after a page change the view
goes back to the top of the table with the focus on the results heading; a swap that
removes the focused control leaves the focus on that heading, never nowhere."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from tests.e2e.conftest import PASSWORD, axe_violations, expected_names, host_names, sign_in

pytestmark = pytest.mark.e2e

WCAG22_TARGET_SIZE = "axe.run(document, {runOnly: ['target-size'], resultTypes: ['violations']})"


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
    page.wait_for_function("document.querySelector('.table-wrap').scrollTop > 1000")
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
        "(() => { const w = document.querySelector('.table-wrap');"
        " return w.scrollLeft > 300 && w.scrollTop > 1000; })()"
    )
    frame = box(page, ".table-wrap")
    head = box(page, "table.grid thead th.key")
    assert abs(head["y"] - frame["y"]) <= 2 and abs(head["x"] - frame["x"]) <= 2, (head, frame)
    name = page.locator("table.grid tbody tr").nth(50).locator("td.key")
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
    assert page.evaluate(WCAG22_TARGET_SIZE)["violations"] == []

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
