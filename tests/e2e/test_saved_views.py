"""Saved views in a real browser: save, apply, modify and update, rename, default,
share with a colleague who copies it, delete."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import (
    OTHER_PASSWORD,
    PASSWORD,
    axe_violations,
    expected_names,
    host_names,
    sign_in,
)

pytestmark = pytest.mark.e2e


def panel(page: Page) -> Locator:
    return page.get_by_role("complementary", name="Saved views")


def save_current_view(page: Page, name: str) -> None:
    panel(page).get_by_label("Save the current view as").fill(name)
    panel(page).get_by_role("button", name="Save view").click()
    expect(page.locator("#messages")).to_contain_text(f"Saved view “{name}”.")


def manage(page: Page, name: str) -> Locator:
    """Open the "Manage" disclosure of one of my views; returns it."""
    page.get_by_text(f"Manage {name}", exact=True).click()
    box = page.locator("details.view-actions[open]")
    expect(box).to_have_count(1)
    return box


def filter_acme_connected(page: Page) -> None:
    page.get_by_role("searchbox", name="Search").fill("Acme")
    expect(page).to_have_url(re.compile(r"search_text=Acme"))
    page.get_by_role("checkbox", name="Disconnected").uncheck()
    expect(page).to_have_url(re.compile(r"statuses=connected"))


def test_saved_views_save_apply_update_rename_default(signed_in: Page, sandbox: Any) -> None:
    page = signed_in
    count = page.locator("#result-count")
    filter_acme_connected(page)
    acme = expected_names(sandbox, search_text="Acme", statuses=("connected",))

    save_current_view(page, "Acme connected")
    expect(page).to_have_url(re.compile(r"[?&]view=\d+&"))
    expect(count).to_have_text(f"{len(acme)} connections match · view “Acme connected”")
    page.reload()
    expect(count).to_have_text(f"{len(acme)} connections match · view “Acme connected”")
    expect(panel(page).get_by_role("link", name="Acme connected")).to_have_attribute(
        "aria-current", "true"
    )

    # Start over, then apply the view from the sidebar.
    page.get_by_role("link", name="Reset", exact=True).click()
    expect(count).to_have_text("302 connections match")
    expect(panel(page).locator("[aria-current]")).to_have_count(0)
    panel(page).get_by_role("link", name="Acme connected").click()
    expect(count).to_have_text(f"{len(acme)} connections match · view “Acme connected”")
    expect(page.get_by_role("searchbox", name="Search")).to_have_value("Acme")
    expect(page.get_by_role("checkbox", name="Disconnected")).not_to_be_checked()
    assert host_names(page) == acme

    # Change a filter: the view is "modified" until it is updated.
    page.get_by_label("Archived", exact=True).select_option(label="Not archived")
    live = expected_names(sandbox, search_text="Acme", statuses=("connected",), archived=False)
    expect(count).to_have_text(f"{len(live)} connections match · view “Acme connected” (modified)")
    expect(page.locator("#results").get_by_role("status")).to_have_text(re.compile("is modified"))
    page.locator("#results").get_by_role("button", name="Update view").click()
    expect(page.locator("#messages")).to_contain_text("Updated view “Acme connected”.")
    expect(count).to_have_text(f"{len(live)} connections match · view “Acme connected”")
    expect(page).to_have_url(re.compile(r"archived=false"))
    expect(page.get_by_role("button", name="Update view")).to_have_count(0)

    # Rename it.
    box = manage(page, "Acme connected")
    box.get_by_label("New name").fill("Acme live")
    box.get_by_role("button", name="Rename").click()
    expect(page.locator("#messages")).to_contain_text("Renamed to “Acme live”.")
    expect(panel(page).get_by_role("link", name="Acme live")).to_be_visible()
    expect(panel(page).get_by_role("link", name="Acme connected")).to_have_count(0)

    # Make it the default: the bare list URL opens it.
    manage(page, "Acme live").get_by_role("button", name="Make default").click()
    expect(page.locator("#messages")).to_contain_text("“Acme live” now opens when you visit")
    expect(panel(page).locator(".tag", has_text="default")).to_be_visible()
    page.goto("/connections/")
    expect(page).to_have_url(re.compile(r"view=\d+.*search_text=Acme.*archived=false"))
    expect(count).to_have_text(f"{len(live)} connections match · view “Acme live”")
    assert host_names(page) == live


def test_saved_views_share_copy_and_delete(
    signed_in: Page, new_page: Callable[..., Page], other_user: User, sandbox: Any
) -> None:
    alice = signed_in
    filter_acme_connected(alice)
    save_current_view(alice, "Acme for the team")
    manage(alice, "Acme for the team").get_by_role("button", name="Share").click()
    expect(alice.locator("#messages")).to_contain_text("is now shared with")
    expect(panel(alice).locator(".tag", has_text="shared")).to_be_visible()

    bob = new_page()
    sign_in(bob, other_user.get_username(), OTHER_PASSWORD)
    expect(panel(bob).get_by_text("No saved views yet.")).to_be_visible()
    expect(panel(bob).get_by_role("heading", name="Shared with me")).to_be_visible()
    shared = panel(bob).get_by_role("listitem").filter(has_text="Acme for the team")
    expect(shared).to_contain_text("by alice")
    shared.get_by_role("button", name="Copy to my views").click()
    expect(bob.locator("#messages")).to_contain_text(
        "Copied “Acme for the team” to your views as “Acme for the team”."
    )
    acme = expected_names(sandbox, search_text="Acme", statuses=("connected",))
    expect(bob.locator("#result-count")).to_have_text(
        f"{len(acme)} connections match · view “Acme for the team”"
    )
    assert host_names(bob) == acme
    my_views = panel(bob).get_by_role("list").first
    expect(my_views.get_by_role("link", name="Acme for the team")).to_be_visible()

    # A second copy asks for its name, in place, by keyboard: no silent "(2)".
    shared = panel(bob).get_by_role("listitem").filter(has_text="by alice")
    shared.get_by_role("button", name="Copy to my views").click()
    name = shared.get_by_label("Name of your copy")
    expect(name).to_be_focused()
    expect(shared.get_by_role("alert")).to_have_text(
        "You already have a view named “Acme for the team”; choose another name."
    )
    assert axe_violations(bob) == []
    name.fill("Acme, my copy")
    name.press("Enter")
    expect(bob.locator("#messages")).to_contain_text("to your views as “Acme, my copy”.")
    expect(panel(bob).get_by_role("link", name="Acme for the team (2)")).to_have_count(0)

    # Alice deletes hers, through the confirmation page.
    manage(alice, "Acme for the team").get_by_role("link", name="Delete…").click()
    expect(alice.get_by_role("heading", level=1)).to_have_text(
        "Delete the view “Acme for the team”?"
    )
    alice.get_by_role("button", name="Delete").click()
    expect(alice.locator("#messages")).to_contain_text("Deleted view “Acme for the team”.")
    expect(panel(alice).get_by_text("No saved views yet.")).to_be_visible()

    # Bob's copy is his own: it stays, and nothing is shared with him any more.
    bob.reload()
    expect(panel(bob).get_by_role("heading", name="Shared with me")).to_have_count(0)
    expect(panel(bob).get_by_role("link", name="Acme for the team")).to_be_visible()


def test_saved_views_actions_return_to_the_exact_page(signed_in: Page) -> None:
    """The panel is drawn once; the filters and the page move on under it (htmx). Every
    action, and Cancel on the delete confirmation, comes back to where the user is."""
    page = signed_in
    filter_acme_connected(page)
    save_current_view(page, "Acme")
    page.get_by_label("Rows per page").select_option("20")
    page.get_by_role("checkbox", name="Disconnected").check()  # the view is now modified
    page.get_by_role("searchbox", name="Search").fill("")
    expect(page).not_to_have_url(re.compile(r"search_text"))
    page.get_by_role("navigation", name="Pagination").get_by_role("link", name="Next").click()
    expect(page).to_have_url(re.compile(r"offset=20"))
    here = page.url

    manage(page, "Acme").get_by_role("button", name="Share").click()
    expect(page.locator("#messages")).to_contain_text("is now shared with")
    assert page.url == here
    manage(page, "Acme").get_by_role("button", name="Make default").click()
    expect(page.locator("#messages")).to_contain_text("now opens when you visit the list")
    assert page.url == here
    box = manage(page, "Acme")
    box.get_by_label("New name").fill("Acme all")
    box.get_by_role("button", name="Rename").click()
    expect(page.locator("#messages")).to_contain_text("Renamed to “Acme all”.")
    assert page.url == here

    manage(page, "Acme all").get_by_role("link", name="Delete…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Delete the view “Acme all”?")
    page.get_by_role("link", name="Cancel").click()
    expect(page).to_have_url(here)
    expect(page.locator("#result-count")).to_contain_text("(modified)")

    manage(page, "Acme all").get_by_role("link", name="Delete…").click()
    page.get_by_role("button", name="Delete").click()
    expect(page.locator("#messages")).to_contain_text("Deleted view “Acme all”.")
    assert page.url == here


def test_saved_views_refused_name_stays_in_place(signed_in: Page) -> None:
    """By keyboard: Enter in the name field; the error is next to it, nothing else moves."""
    page = signed_in
    filter_acme_connected(page)
    save_current_view(page, "Acme")
    page.get_by_role("checkbox", name="Disconnected").check()
    expect(page).not_to_have_url(re.compile(r"statuses=connected"))
    here = page.url
    rows = host_names(page)

    name = panel(page).get_by_label("Save the current view as")
    name.fill("ACME")
    name.press("Enter")
    error = panel(page).get_by_role("alert")
    expect(error).to_have_text("You already have a view named “ACME”; choose another name.")
    name = panel(page).get_by_label("Save the current view as")
    expect(name).to_be_focused()
    expect(name).to_have_value("ACME")
    expect(name).to_have_attribute("aria-describedby", "err-save-view")
    assert page.url == here
    assert host_names(page) == rows
    assert axe_violations(page) == []

    name.fill("Acme, all statuses")
    name.press("Enter")
    expect(page.locator("#messages")).to_contain_text("Saved view “Acme, all statuses”.")
    expect(page.locator("#result-count")).to_contain_text("view “Acme, all statuses”")


def back_to_unsaved_changes(page: Page, name: str, modified_url: str) -> None:
    """The panel says which view's changes were left; its link leads back to them."""
    banner = panel(page).get_by_role("status")
    expect(banner).to_contain_text(f"You left unsaved changes to “{name}”.")
    assert axe_violations(page) == []
    banner.get_by_role("link", name="Back to your unsaved changes").click()
    expect(page.locator("#result-count")).to_contain_text(f"view “{name}” (modified)")
    assert page.url == modified_url


def test_saved_views_leaving_modified_view_keeps_the_changes_reachable(signed_in: Page) -> None:
    """By mouse: opening another view from a modified one; the way back restores the
    modified filters, still marked as changes to the view."""
    page = signed_in
    filter_acme_connected(page)
    save_current_view(page, "Acme")
    page.get_by_role("link", name="Reset", exact=True).click()
    expect(page.locator("#result-count")).to_have_text("302 connections match")
    page.get_by_label("Archived", exact=True).select_option(label="Archived")
    expect(page).to_have_url(re.compile(r"archived=true"))
    save_current_view(page, "Archived")

    panel(page).get_by_role("link", name="Acme").click()
    expect(page.locator("#result-count")).to_contain_text("view “Acme”")
    page.get_by_label("Archived", exact=True).select_option(label="Not archived")
    expect(page.locator("#result-count")).to_contain_text("view “Acme” (modified)")
    modified = page.url

    panel(page).get_by_role("link", name="Archived", exact=True).click()
    expect(page.locator("#result-count")).to_contain_text("view “Archived”")
    page.reload()  # the way back is in the address too
    back_to_unsaved_changes(page, "Acme", modified)
    expect(page.get_by_label("Archived", exact=True)).to_have_value("false")
    expect(page.get_by_role("searchbox", name="Search")).to_have_value("Acme")


def test_saved_views_leaving_modified_view_by_keyboard_and_by_switching_context(
    signed_in: Page,
) -> None:
    page = signed_in
    filter_acme_connected(page)
    save_current_view(page, "Acme")
    page.get_by_role("checkbox", name="Disconnected").check()  # modified
    expect(page.locator("#result-count")).to_contain_text("(modified)")
    modified = page.url

    # By keyboard: Enter on the view's own link discards the changes on screen...
    panel(page).get_by_role("link", name="Acme").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#result-count")).not_to_contain_text("(modified)")
    back = panel(page).get_by_role("link", name="Back to your unsaved changes")
    expect(back).to_be_visible()
    back.focus()  # ...and the way back to them is a link like any other
    page.keyboard.press("Enter")
    expect(page.locator("#result-count")).to_contain_text("(modified)")
    assert page.url == modified

    # Switching the context (another API client) keeps the way back too.
    page.get_by_label("API client").select_option(label="Harbor Finance")
    page.get_by_role("button", name="Switch").click()
    expect(page.locator("#page-title")).to_contain_text("Harbor Finance")
    back_to_unsaved_changes(page, "Acme", modified)
    expect(page.locator("#page-title")).to_contain_text("Demo Lender")


@pytest.mark.parametrize("javascript", [True, False])
def test_saved_views_focus_lands_on_the_message_after_a_post(
    new_page: Callable[..., Page], user: User, javascript: bool
) -> None:
    page = new_page(java_script_enabled=javascript)
    sign_in(page, user.get_username(), PASSWORD)
    name = panel(page).get_by_label("Save the current view as")
    name.fill("Keyboard view")
    name.press("Enter")  # the form's post, by keyboard
    message = page.locator("#messages .message")
    expect(message).to_have_text("Saved view “Keyboard view”.")
    expect(message).to_be_focused()
    # From the message, Tab goes on into the page (the focus is not trapped there).
    page.keyboard.press("Tab")
    expect(message).not_to_be_focused()
