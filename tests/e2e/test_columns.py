"""The column chooser in a real browser: hide, show and move columns by keyboard; the
choice is in the URL (back/forward, bookmarks), in a saved view and in the CSV export;
without JavaScript it is a form and its buttons. axe-core clean, target size included."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Download, Page, expect

from connections.models import SavedView
from tests.e2e.conftest import (
    PASSWORD,
    axe_violations,
    host_names,
    sign_in,
    target_size_violations,
)

pytestmark = pytest.mark.e2e


def headers(page: Page) -> list[str]:
    return [
        t.strip().rstrip("▲▼").strip()
        for t in page.locator("table.grid thead th").all_text_contents()
    ]


def cols(page: Page) -> list[str]:
    return parse_qs(urlsplit(page.url).query).get("cols", [])


def open_with(page: Page, extra: str) -> None:
    """The current list URL with more parameters."""
    page.goto(page.url + ("&" if "?" in page.url else "?") + extra)


def csv_header(download: Download) -> list[str]:
    path = download.path()
    assert path is not None
    with open(path, encoding="utf-8", newline="") as handle:
        return next(csv.reader(io.StringIO(handle.read())))


def test_columns_hide_move_back_and_keyboard(signed_in: Page) -> None:
    page = signed_in
    assert headers(page)[:4] == ["Host name", "Host email", "Owner email", "Status"]
    names = host_names(page)
    chooser = page.locator("details.col-chooser")
    summary = chooser.locator("summary")
    summary.focus()
    page.keyboard.press("Enter")
    expect(chooser).to_have_attribute("open", "")
    expect(summary).to_contain_text("(10 of 10)")
    assert axe_violations(page) == []
    assert target_size_violations(page) == []

    # Hide "Owner email" with the space bar: the table and the address follow.
    owner = page.get_by_role("checkbox", name="Owner email")
    owner.focus()
    page.keyboard.press("Space")
    expect(page.get_by_role("columnheader", name="Owner email")).to_have_count(0)
    assert "owner_email" not in cols(page) and cols(page)[:2] == ["host_name", "host_email"]
    expect(summary).to_contain_text("(9 of 10)")
    expect(owner).to_be_focused()  # the box swapped in keeps the focus
    expect(owner).not_to_be_checked()
    assert len(page.locator("table.grid tbody tr").first.locator("td").all()) == 9

    # Move "Status" up (left) twice by keyboard: the focus stays on the button.
    up = page.get_by_role("button", name="Move Status up (left)")
    up.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"cols=host_name&cols=status&cols=host_email"))
    expect(page.get_by_role("button", name="Move Status up (left)")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"cols=status&cols=host_name&cols=host_email"))
    assert headers(page)[:3] == ["Status", "Host name", "Host email"]
    row = page.locator("table.grid tbody tr").first
    expect(row.locator("td").first.locator(".badge")).to_be_visible()
    assert host_names(page) == []  # the name is no longer the first cell
    assert page.locator("table.grid tbody tr td > a").all_text_contents() == names
    assert axe_violations(page) == []

    # Back undoes one change at a time; forward redoes it.
    th = page.locator("table.grid thead th")
    page.go_back()
    expect(page).to_have_url(re.compile(r"cols=host_name&cols=status&cols=host_email"))
    expect(th.nth(1)).to_contain_text("Status")
    page.go_back()
    expect(th.nth(2)).to_contain_text("Status")
    assert headers(page)[:3] == ["Host name", "Host email", "Status"]
    page.go_back()
    expect(page.get_by_role("columnheader", name="Owner email")).to_be_visible()
    assert "cols" not in page.url
    page.go_forward()
    expect(page.get_by_role("columnheader", name="Owner email")).to_have_count(0)

    # The bookmark: the same columns after a reload.
    page.reload()
    assert headers(page)[:3] == ["Host name", "Host email", "Status"]
    expect(page.locator("#col-owner_email")).not_to_be_checked()


def test_columns_swapped_form_is_htmx_at_once(signed_in: Page) -> None:
    """The chooser's new form is htmx's in the same task as the swap (base.html:
    defaultSettleDelay 0). With htmx's default it was 20 ms later, and an Enter in between
    was a plain GET (a CI run caught it)."""
    page = signed_in
    page.evaluate(
        """() => document.body.addEventListener("htmx:afterSwap", () => queueMicrotask(() => {
             window.unsettled = document.querySelectorAll(".htmx-added").length;
           }), {once: true})"""
    )
    page.locator("details.col-chooser summary").click()
    page.get_by_role("checkbox", name="Owner email").uncheck()
    page.wait_for_function("() => window.unsettled !== undefined")
    assert page.evaluate("window.unsettled") == 0


def test_columns_in_saved_view_and_csv(signed_in: Page, user: User) -> None:
    page = signed_in
    open_with(page, "cols=status,host_name")
    assert headers(page) == ["Status", "Host name"]
    panel = page.get_by_role("complementary", name="Saved views")
    panel.get_by_label("Save the current view as").fill("Two columns")
    panel.get_by_role("button", name="Save view").click()
    expect(page.locator("#messages")).to_contain_text("Saved view “Two columns”.")
    view = SavedView.objects.get(owner=user, name="Two columns")
    assert "cols=status&cols=host_name" in view.query

    page.get_by_role("link", name="Reset", exact=True).click()
    expect(page.get_by_role("columnheader", name="Owner email")).to_be_visible()
    panel.get_by_role("link", name="Two columns").click()
    expect(page.get_by_role("columnheader", name="Owner email")).to_have_count(0)
    assert headers(page) == ["Status", "Host name"]

    with page.expect_download() as info:
        page.get_by_role("link", name="This page only").click()
    assert csv_header(info.value) == ["Host organization ID", "Status", "Host name"]
    with page.expect_download() as info:
        page.get_by_role("link", name="All columns").click()
    header = csv_header(info.value)
    assert len(header) == 11 and header[1:4] == ["Host name", "Host email", "Owner email"]


def test_columns_unknown_name_is_a_message_beside_the_chooser(signed_in: Page) -> None:
    page = signed_in
    open_with(page, "cols=host_name,nope,status")
    message = page.locator("#err-cols")
    expect(message).to_contain_text("“nope” is not a column; it was left out.")
    expect(page.locator("details.col-chooser")).to_have_attribute("open", "")
    assert headers(page) == ["Host name", "Status"]
    assert axe_violations(page) == []


def test_columns_without_javascript(new_page: Callable[..., Page], user: User) -> None:
    page = new_page(java_script_enabled=False)
    sign_in(page, user.get_username(), PASSWORD)
    page.locator("details.col-chooser summary").click()
    page.get_by_role("checkbox", name="Host email").uncheck()
    page.get_by_role("checkbox", name="Show column Archived", exact=True).uncheck()
    page.get_by_role("button", name="Show these columns").click()
    expect(page.get_by_role("columnheader", name="Host email")).to_have_count(0)
    assert "host_email" not in cols(page) and "archived" not in cols(page)
    page.locator("details.col-chooser summary").click()
    page.get_by_role("button", name="Move Owner email up (left)").click()
    th = page.locator("table.grid thead th")
    expect(th.first).to_contain_text("Owner email")  # the new page has loaded
    assert headers(page)[:2] == ["Owner email", "Host name"]
    assert "move" not in page.url  # a reload does not move it once more
    # Showing a hidden column again puts it after the shown ones.
    page.locator("details.col-chooser summary").click()
    page.get_by_role("checkbox", name="Host email").check()
    page.get_by_role("button", name="Show these columns").click()
    expect(th.last).to_contain_text("Host email")
    assert headers(page)[-1] == "Host email"


def test_columns_keep_the_page_when_moved(signed_in: Page, sandbox: Any) -> None:
    page = signed_in
    pager = page.get_by_role("navigation", name="Pagination").last
    pager.get_by_role("link", name="Page 2", exact=True).click()
    expect(page).to_have_url(re.compile(r"offset=20"))
    names = host_names(page)
    page.locator("details.col-chooser summary").click()
    page.get_by_role("button", name="Move Host email up (left)").click()
    expect(page).to_have_url(re.compile(r"cols=host_email&cols=host_name"))
    assert "offset=20" in page.url
    assert page.locator("table.grid tbody tr td > a").all_text_contents() == names


def test_columns_boxes_go_back_when_their_request_fails(signed_in: Page) -> None:
    """A box's request that never answers (here the network refuses it; a newer request
    aborting it ends the same way): the box shows the table's columns again."""
    page = signed_in
    page.route(
        re.compile(r".*/connections/\?.*"),
        lambda route: (
            route.abort()
            if route.request.headers.get("hx-trigger") == "columns"
            else route.continue_()
        ),
    )
    page.locator("details.col-chooser summary").click()
    owner = page.get_by_role("checkbox", name="Owner email")
    owner.click()  # unticks it, and its request fails
    expect(owner).to_be_checked()  # back as drawn: the table still shows the column
    expect(page.get_by_role("columnheader", name="Owner email")).to_be_visible()
    assert "cols" not in page.url
