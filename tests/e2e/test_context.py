"""The org context in a real browser: the header switcher, links of another context,
revoked access, a target the client may not act on, and signing out."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from connections.models import ApiClient
from sandbox.data import org_uuid
from tests.e2e.conftest import axe_violations, expected_names, host_names

pytestmark = pytest.mark.e2e

NORTHWIND = org_uuid("northwind-credit")
QUIET_BANK = org_uuid("quiet-bank")


def switch(page: Page, client: str, target: str = "") -> None:
    """Use the header's context switcher."""
    switcher = page.locator("form.ctx-switcher")
    switcher.get_by_label("API client").select_option(label=client)
    switcher.get_by_label("Target").fill(target)
    switcher.get_by_role("button", name="Switch").click()


def test_context_switch_client_and_target(
    signed_in: Page, sandbox: Any, demo_client: ApiClient, harbor_client: ApiClient
) -> None:
    page = signed_in
    title = page.get_by_role("heading", level=1)
    expect(title).to_contain_text("Demo Lender → self")
    demo_rows = expected_names(sandbox, "demo-lender")
    assert host_names(page) == demo_rows[:20]

    switch(page, "Harbor Finance")
    expect(page).to_have_url(re.compile(rf"/connections/\?ctx={harbor_client.pk}$"))
    expect(title).to_contain_text("Harbor Finance → self")
    harbor_rows = expected_names(sandbox, "harbor-finance")
    expect(page.locator("#result-count")).to_have_text(f"{len(harbor_rows)} connections match")
    assert host_names(page) == harbor_rows[:20]
    assert harbor_rows[:20] != demo_rows[:20]
    expect(page.get_by_label("API client")).to_have_value(str(harbor_client.pk))

    switch(page, "Demo Lender", NORTHWIND)
    expect(page).to_have_url(re.compile(rf"\?ctx={demo_client.pk}\.{NORTHWIND}$"))
    expect(title).to_contain_text("Demo Lender → Northwind Credit")
    # The recent targets remember its name (the requester's own connection to it).
    recent = page.locator(f"#ctx-targets option[value='{NORTHWIND}']")
    expect(recent).to_have_text("Northwind Credit")
    northwind_rows = expected_names(sandbox, "northwind-credit")
    assert host_names(page) == northwind_rows[:20]
    expect(page.get_by_label("Target")).to_have_value("Northwind Credit")

    # The context sticks to the session: the bare list URL opens it again.
    page.goto("/connections/")
    expect(title).to_contain_text("Demo Lender → Northwind Credit")
    assert host_names(page) == northwind_rows[:20]


def test_context_bookmarked_link_of_another_context(
    signed_in: Page, sandbox: Any, harbor_client: ApiClient
) -> None:
    page = signed_in
    expect(page.get_by_role("heading", level=1)).to_contain_text("Demo Lender → self")

    page.goto(f"/connections/?ctx={harbor_client.pk}&search_text=Harbor")
    harbor = expected_names(sandbox, "harbor-finance", search_text="Harbor")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Harbor Finance → self")
    expect(page.locator("#result-count")).to_have_text(f"{len(harbor)} connections match")
    assert host_names(page) == harbor[:20]
    expect(page.get_by_label("API client")).to_have_value(str(harbor_client.pk))

    # The link's context was that page's only: the session's is still Demo Lender's.
    page.goto("/connections/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Demo Lender → self")


def test_context_lost_access_shows_403_on_next_navigation(
    signed_in: Page, user: User, demo_client: ApiClient
) -> None:
    page = signed_in
    page.get_by_role("navigation", name="Pagination").get_by_role("link", name="Next").click()
    expect(page).to_have_url(re.compile(r"offset=20"))

    demo_client.users.remove(user)

    # An in-page (htmx) navigation: the refusal is shown, not a table.
    page.get_by_role("navigation", name="Pagination").get_by_role("link", name="Next").click()
    expect(page.get_by_role("alert")).to_contain_text("You do not have access to this API client")
    expect(page.locator("table.grid")).to_have_count(0)
    expect(page.locator("header.topbar")).to_have_count(1)

    # A full navigation: the 403 page.
    response = page.reload()
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="No access")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("You do not have access to this API client")
    expect(page.locator("table.grid")).to_have_count(0)

    # The way out leads to what is still allowed (Harbor Finance).
    page.get_by_role("link", name="Go to the connections you can see").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Harbor Finance → self")


def test_context_refused_target_is_an_error_beside_the_switcher(signed_in: Page) -> None:
    page = signed_in
    title = page.get_by_role("heading", level=1)
    switch(page, "Demo Lender", QUIET_BANK)
    switcher = page.locator("form.ctx-switcher")
    target = switcher.get_by_label("Target")
    expect(switcher.get_by_role("alert")).to_have_text(
        "Demo Lender may not act on this organization (the API refused it); pick another target."
    )
    expect(target).to_be_focused()
    expect(target).to_have_value(QUIET_BANK)
    expect(target).to_have_attribute("aria-describedby", "err-ctx-target")
    # Nothing else moved: the page, its table and the session's context are as they were.
    expect(title).to_contain_text("Demo Lender → self")
    expect(page.locator("table.grid tbody tr")).to_have_count(20)
    assert axe_violations(page) == []
    page.reload()
    expect(title).to_contain_text("Demo Lender → self")

    page.locator("form.ctx-switcher").get_by_label("Target").fill(NORTHWIND)
    page.get_by_role("button", name="Switch").click()
    expect(title).to_contain_text("Demo Lender → Northwind Credit")
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(page.locator("table.grid tbody tr")).to_have_count(20)


def test_context_link_to_a_refused_target_offers_to_pick_another(
    signed_in: Page, demo_client: ApiClient
) -> None:
    page = signed_in
    page.goto(f"/connections/?ctx={demo_client.pk}.{QUIET_BANK}")
    banner = page.get_by_role("alert")
    expect(banner).to_contain_text("Could not load the connections.")
    expect(page.locator("#result-count")).to_have_text("Results unavailable")
    expect(page.locator("table.grid")).to_have_count(0)

    banner.get_by_role("link", name="Pick another target").click()
    target = page.locator("form.ctx-switcher").get_by_label("Target")
    expect(target).to_be_focused()
    expect(target).to_have_value(QUIET_BANK)


def test_context_sign_out_then_back_shows_no_data(signed_in: Page) -> None:
    page = signed_in
    page.get_by_role("searchbox", name="Search").fill("Acme")
    expect(page).to_have_url(re.compile(r"search_text=Acme"))
    response = page.reload()  # a full page load, as from a bookmark: one a cache could keep
    assert response is not None
    assert "no-store" in response.headers.get("cache-control", "")
    expect(page.locator("table.grid tbody tr").first).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login/"))
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()

    page.go_back()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.locator("table.grid tbody tr")).to_have_count(0)
    expect(page.get_by_text("connections match")).to_have_count(0)

    page.go_back()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.locator("table.grid tbody tr")).to_have_count(0)


def test_context_pick_another_target_by_keyboard_then_by_name(
    signed_in: Page, demo_client: ApiClient
) -> None:
    """On a 403, Enter on "Pick another target" puts the caret in the picker with the
    refused UUID selected; its list offers the names the client may act on; typing a name
    and Enter switches to it. The address never gets a "#ctx-target"."""
    page = signed_in
    page.goto(f"/connections/?ctx={demo_client.pk}.{QUIET_BANK}")
    link = page.get_by_role("alert").get_by_role("link", name="Pick another target")
    link.focus()
    page.keyboard.press("Enter")
    target = page.locator("form.ctx-switcher").get_by_label("Target")
    expect(target).to_be_focused()
    selected = target.evaluate("e => e.value.slice(e.selectionStart, e.selectionEnd)")
    assert selected == QUIET_BANK
    assert "#" not in page.url
    # Focusing the field loaded the client's targets by name.
    expect(page.locator("#ctx-targets option[value='Northwind Credit']")).to_have_count(1)
    expect(page.locator("#ctx-targets option[value='Harbor Finance']")).to_have_count(1)
    assert axe_violations(page) == []

    page.keyboard.type("northwind")
    page.keyboard.press("Enter")
    title = page.get_by_role("heading", level=1)
    expect(title).to_contain_text("Demo Lender → Northwind Credit")
    expect(page).to_have_url(re.compile(rf"\?ctx={demo_client.pk}\.{NORTHWIND}$"))

    # Again, after the field lost focus: the link still moves it there.
    page.goto(f"/connections/?ctx={demo_client.pk}.{QUIET_BANK}")
    link = page.get_by_role("alert").get_by_role("link", name="Pick another target")
    link.click()
    expect(target).to_be_focused()
    page.keyboard.press("Tab")
    link.click()
    expect(target).to_be_focused()


def test_context_unknown_name_is_an_error_beside_the_picker(signed_in: Page) -> None:
    page = signed_in
    switch(page, "Harbor Finance", "Demo Lender")  # a host of Harbor's that it may not act on
    switcher = page.locator("form.ctx-switcher")
    expect(switcher.get_by_role("alert")).to_contain_text(
        "Harbor Finance may act on no organization named “Demo Lender”"
    )
    expect(switcher.get_by_label("Target")).to_be_focused()
    assert axe_violations(page) == []
