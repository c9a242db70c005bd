# ruff: noqa: RUF001 - the page prints angle quotes; tests match them exactly.
"""Back from a detail page: the list scrolls to the row opened and marks it, by the back
link and by the browser's Back; the detail page steps to the list view's previous and next
rows (across its pages)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import axe_violations, expected_names

pytestmark = pytest.mark.e2e

OPENED = "#results tr.is-opened td > a"


def test_return_marks_the_row_and_steps_through_the_view(
    signed_in: Page, sandbox: Any, demo_client: Any
) -> None:
    page = signed_in
    every = expected_names(sandbox)
    page.goto(f"{page.url.split('?')[0]}?ctx={demo_client.pk}&limit=50")
    row = page.locator("table.grid tbody tr").nth(45)
    row.locator("td > a").click()
    title = page.get_by_role("heading", level=1)
    expect(title).to_have_text(every[45])

    # The browser's Back: the row is in view, marked and focused.
    page.go_back()
    opened = page.locator(OPENED)
    expect(opened).to_have_text(every[45])
    expect(opened).to_be_in_viewport()
    expect(opened).to_be_focused()

    # The detail page's previous / next rows, across the list's pages.
    opened.click()
    expect(title).to_have_text(every[45])
    assert axe_violations(page) == []
    for step in range(46, 52):
        page.get_by_role("link", name="Next row ›").click()
        expect(title).to_have_text(every[step])
    page.get_by_role("link", name="‹ Previous row").click()
    expect(title).to_have_text(every[50])

    # Back to the list: the page of that row (the second one), with the row marked.
    page.get_by_role("link", name="Back to the list").click()
    expect(page).to_have_url(re.compile(r"offset=50#c-"))
    opened = page.locator(OPENED)
    expect(opened).to_have_text(every[50])
    expect(opened).to_be_in_viewport()
    assert page.locator("#results tr.is-opened").count() == 1
    assert axe_violations(page) == []
