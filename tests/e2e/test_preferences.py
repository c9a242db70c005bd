"""The header's "Display" menu in a real browser: compact rows chosen by keyboard only,
kept across reloads (stored per user in the database), axe-core clean."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from connections.models import UserPreferences
from tests.e2e.conftest import axe_violations

pytestmark = pytest.mark.e2e

WCAG22_TARGET_SIZE = "axe.run(document, {runOnly: ['target-size'], resultTypes: ['violations']})"


def row_height(page: Page) -> float:
    return float(page.locator("table.grid tbody tr").first.evaluate("r => r.offsetHeight"))


def tab_to(page: Page, selector: str, limit: int = 20) -> None:
    """Press Tab until the element matching ``selector`` has the focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"document.activeElement.matches({selector!r})"):
            return
    raise AssertionError(f"{selector} never got the focus")


def test_preferences_compact_rows_by_keyboard_kept_after_reload(
    signed_in: Page, user: User
) -> None:
    page = signed_in
    body = page.locator("body")
    expect(body).to_have_class("density-comfortable")
    comfortable = row_height(page)
    menu = page.locator("details.display-menu")

    tab_to(page, "details.display-menu > summary")
    page.keyboard.press("Enter")
    expect(menu).to_have_attribute("open", "")
    rows = page.get_by_role("group", name="Rows")
    expect(rows.get_by_role("radio", name="Comfortable")).to_be_checked()
    assert axe_violations(page) == []  # the menu open

    page.keyboard.press("Tab")  # into the "Rows" group: its checked radio
    expect(rows.get_by_role("radio", name="Comfortable")).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(rows.get_by_role("radio", name="Compact")).to_be_checked()
    page.keyboard.press("Tab")  # the "Times" group
    expect(page.get_by_role("radio", name="Relative (3 days ago)")).to_be_focused()
    page.keyboard.press("Tab")
    expect(menu.get_by_role("button", name="Save")).to_be_focused()
    page.keyboard.press("Enter")

    expect(page.locator("#messages")).to_contain_text("Display settings saved.")
    expect(body).to_have_class("density-compact")
    expect(menu).not_to_have_attribute("open", "")
    assert UserPreferences.objects.get(user=user).density == "compact"

    page.reload()
    expect(body).to_have_class("density-compact")
    expect(page.locator("#result-count")).to_contain_text("match")
    compact = row_height(page)
    assert 24 <= compact < comfortable, (compact, comfortable)
    assert axe_violations(page) == []
    page.evaluate("document.querySelector('details.display-menu').open = true")
    assert page.evaluate(WCAG22_TARGET_SIZE)["violations"] == []
    expect(page).to_have_url(re.compile(r"/connections/"))
