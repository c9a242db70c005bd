"""Moving through the table by keyboard and while it loads: GitHub's shortcuts and their
"?" dialog, the busy state with its "Still loading…" and Cancel, and one history entry
per typed search."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import axe_violations, expected_names, host_names

pytestmark = pytest.mark.e2e

CURRENT = "#results tr.is-current td > a"


def history_length(page: Page) -> int:
    return int(page.evaluate("history.length"))


def test_keyboard_shortcuts_dialog_rows_and_pages(signed_in: Page, sandbox: Any) -> None:
    page = signed_in
    every = expected_names(sandbox)
    page.locator("#page-title").click()  # focus on nothing in particular

    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Next / previous row")
    assert axe_violations(page) == []
    page.keyboard.press("j")  # the dialog is modal: no shortcut behind it
    expect(page.locator(CURRENT)).to_have_count(0)
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    # j/k move a visible row focus; the row's link has the focus.
    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(page.locator(CURRENT)).to_have_text(every[1])
    expect(page.locator(CURRENT)).to_be_focused()
    page.keyboard.press("k")
    expect(page.locator(CURRENT)).to_have_text(every[0])

    # "/" to the search; typing there fires nothing.
    page.keyboard.press("/")
    search = page.get_by_role("searchbox", name="Search")
    expect(search).to_be_focused()
    search.press_sequentially("jk?", delay=30)
    expect(search).to_have_value("jk?")
    expect(page.locator("#result-count")).to_have_text("No connections match")
    expect(dialog).to_be_hidden()
    expect(page.locator(CURRENT)).to_have_count(0)
    search.fill("")
    expect(page.locator("#result-count")).to_have_text("302 connections match")

    # "]" and "[" change pages; the focus goes to the results heading.
    page.locator("#page-title").click()
    page.keyboard.press("]")
    heading = page.locator("#results-heading")
    expect(heading).to_have_text("21–40 of 302")  # noqa: RUF001 - the page's en dash
    expect(heading).to_be_focused()
    assert host_names(page) == every[20:40]
    page.keyboard.press("[")
    expect(heading).to_have_text("1–20 of 302")  # noqa: RUF001
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("o")
    expect(page.get_by_role("heading", level=1)).to_have_text(every[2])


def test_keyboard_enter_opens_the_focused_row(signed_in: Page, sandbox: Any) -> None:
    page = signed_in
    page.locator("#page-title").click()
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(expected_names(sandbox)[0])


def test_keyboard_loading_is_busy_then_still_loading_and_cancel(
    signed_in: Page, sandbox: Any
) -> None:
    page = signed_in
    url = page.url
    results = page.locator("#results")
    rows_before = host_names(page)
    sandbox.faults.latency_ms = 20_000  # longer than any wait below, axe-core included
    shortcuts = page.get_by_role("button", name="Keyboard shortcuts")
    shortcuts_box = shortcuts.bounding_box()
    page.get_by_role("checkbox", name="Disconnected").uncheck()

    expect(results).to_have_attribute("aria-busy", "true")
    download = page.get_by_role("link", name=re.compile(r"^Download CSV"))
    expect(download).to_have_attribute("aria-disabled", "true")
    wrap = page.locator(".table-wrap")
    assert wrap.evaluate("el => getComputedStyle(el).pointerEvents") == "none"
    cell = page.locator("table.grid tbody td").nth(1)
    assert cell.evaluate("td => getComputedStyle(td).backgroundColor") == "rgb(238, 241, 244)"
    still = page.locator("#still-loading")
    expect(still).to_have_text("")
    expect(still).to_have_text("Still loading…")
    assert shortcuts.bounding_box() == shortcuts_box  # the status line's growth moves nothing
    expect(still).to_have_attribute("role", "status")
    cancel = page.get_by_role("button", name="Cancel")
    expect(cancel).to_be_visible()
    assert axe_violations(page) == []

    cancel.click()
    expect(results).not_to_have_attribute("aria-busy", "true")
    expect(cancel).to_be_hidden()
    expect(still).to_have_text("")
    expect(download).not_to_have_attribute("aria-disabled", "true")
    assert host_names(page) == rows_before  # the old rows, usable again
    assert page.url == url  # nothing pushed
    assert wrap.evaluate("el => getComputedStyle(el).pointerEvents") == "auto"
    sandbox.faults.latency_ms = 0


def test_keyboard_one_search_one_history_entry(signed_in: Page, sandbox: Any) -> None:
    page = signed_in
    start, before = page.url, history_length(page)
    search = page.get_by_role("searchbox", name="Search")
    count = page.locator("#result-count")

    search.click()
    sandbox.faults.latency_ms = 700  # responses come after the next keys, and after a pause
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "search_text=S" in r.url else None)
    search.press_sequentially("Summit", delay=450)  # a request per letter on the way
    summit = expected_names(sandbox, search_text="Summit")
    expect(count).to_have_text(f"{len(summit)} connections match")
    page.wait_for_timeout(1500)  # the search settles (its late responses counted with it)
    assert len(requests) >= 3, requests  # several requests, ...
    assert history_length(page) == before + 1  # ... one entry
    search.press_sequentially(" Lending", delay=150)
    both = expected_names(sandbox, search_text="Summit Lending")
    expect(count).to_have_text(f"{len(both)} connections match")
    search.press("Enter")  # settles it, and adds nothing: the view is the same
    page.wait_for_timeout(400)
    expect(page.locator("#results")).not_to_have_attribute("aria-busy", "true")  # answered
    assert history_length(page) == before + 2
    expect(page).to_have_url(re.compile(r"search_text=Summit\+Lending(&|$)"))

    sandbox.faults.latency_ms = 0
    page.go_back()
    expect(search).to_have_value("Summit")
    expect(count).to_have_text(f"{len(summit)} connections match")
    page.go_back()
    expect(page).to_have_url(start)
    expect(search).to_have_value("")
    expect(count).to_have_text("302 connections match")


def test_keyboard_shortcuts_button_stays_after_the_content_is_swapped(signed_in: Page) -> None:
    """The button is shown by app.js (it does nothing without it): also in content htmx
    swaps in, such as after a filter chip's clear (#content)."""
    page = signed_in
    button = page.get_by_role("button", name="Keyboard shortcuts")
    expect(button).to_be_visible()
    page.get_by_role("checkbox", name=re.compile(r"^Disconnected")).uncheck()
    page.get_by_role("link", name=re.compile(r"^Clear filter: Status")).click()
    expect(page.get_by_role("checkbox", name=re.compile(r"^Disconnected"))).to_be_checked()
    expect(button).to_be_visible()


def test_keyboard_esc_closes_the_column_chooser(signed_in: Page) -> None:
    page = signed_in
    chooser = page.locator("details.col-chooser")
    summary = chooser.locator("summary")
    summary.focus()
    page.keyboard.press("Enter")
    expect(chooser).to_have_attribute("open", "")
    page.get_by_role("checkbox", name="Owner email").focus()
    page.keyboard.press("Escape")
    expect(chooser).not_to_have_attribute("open", "")
    expect(summary).to_be_focused()
