"""The sign-in page in a real browser: an empty submit says what is missing, next to the
field, and the focus goes there."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from tests.e2e.conftest import PASSWORD, axe_violations

pytestmark = pytest.mark.e2e


def test_signin_empty_submit_says_what_is_missing(page: Page, user: User) -> None:
    page.goto("/login/")
    username, password = page.get_by_label("Username"), page.get_by_label("Password")
    expect(username).to_be_focused()
    page.keyboard.press("Enter")  # nothing typed

    expect(page).to_have_url(re.compile(r"/login/$"))
    expect(username).to_have_accessible_description("Enter your username.")
    expect(password).to_have_accessible_description("Enter your password.")
    expect(username).to_have_attribute("aria-invalid", "true")
    expect(username).to_be_focused()
    assert axe_violations(page) == []

    username.fill("alice")
    page.get_by_role("button", name="Sign in").click()
    expect(password).to_have_accessible_description("Enter your password.")
    expect(password).to_be_focused()
    expect(username).to_have_value("alice")
    expect(username).not_to_have_attribute("aria-invalid", "true")
    expect(page.get_by_text("Enter your username.")).to_have_count(0)
    assert axe_violations(page) == []

    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/connections/"))
