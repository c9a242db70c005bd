"""The sign-in page (hostadmin/signin.py and registration/login.html): an empty submit
says which field is missing, next to it, and keeps what was typed."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client

from connections.models import AuditEvent
from tests.conftest import body_of

PASSWORD = "correct horse battery staple"


def _input(html: str, name: str) -> str:
    """The ``<input>`` tag of one field."""
    match = re.search(rf'<input id="id_{name}"[^>]*>', html, re.S)
    assert match, f"no {name} input"
    return match.group(0)


def test_signin_empty_submit_says_both_fields_are_missing(client: Client, db) -> None:
    response = client.post("/login/", {"username": "", "password": ""})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = body_of(response)
    assert '<span class="error field-error" id="err-username">Enter your username.</span>' in html
    assert '<span class="error field-error" id="err-password">Enter your password.</span>' in html
    username, password = _input(html, "username"), _input(html, "password")
    assert 'aria-invalid="true" aria-describedby="err-username"' in username
    assert 'aria-invalid="true" aria-describedby="err-password"' in password
    assert "autofocus" in username and "autofocus" not in password
    assert "_auth_user_id" not in client.session


def test_signin_empty_password_keeps_the_username_and_focuses_the_password(
    client: Client, user: User
) -> None:
    response = client.post("/login/", {"username": "alice", "password": ""})
    assert response.status_code == 200
    html = body_of(response)
    assert "Enter your password." in html
    assert "Enter your username." not in html
    username, password = _input(html, "username"), _input(html, "password")
    assert 'value="alice"' in username
    assert "aria-invalid" not in username and "autofocus" not in username
    assert 'aria-invalid="true"' in password and "autofocus" in password
    assert "Please enter a correct username" not in html  # the password was not checked


def test_signin_blank_username_with_a_password(client: Client, user: User) -> None:
    response = client.post("/login/", {"username": "   ", "password": PASSWORD})
    assert response.status_code == 200
    html = body_of(response)
    assert 'id="err-username">Enter your username.</span>' in html
    assert "Enter your password." not in html
    assert "_auth_user_id" not in client.session


def test_signin_fields_missing_from_the_body(client: Client, db) -> None:
    response = client.post("/login/", {})
    assert response.status_code == 200
    html = body_of(response)
    assert "Enter your username." in html and "Enter your password." in html


def test_signin_empty_submits_are_no_failed_sign_ins(client: Client, user: User, settings) -> None:
    """More empty submits than the lockout allows failures: no lock-out, no audit entry."""
    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        assert client.post("/login/", {"username": "alice", "password": ""}).status_code == 200
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.LOGIN_FAILED).exists()
    response = client.post("/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    assert "_auth_user_id" in client.session


def test_signin_wrong_password_still_says_so_once(client: Client, user: User) -> None:
    response = client.post("/login/", {"username": "alice", "password": "wrong"})
    assert response.status_code == 200
    html = body_of(response)
    assert 'role="alert" id="login-error">Please enter a correct username and password' in html
    assert 'aria-describedby="login-error"' in _input(html, "username")
    assert "field-error" not in html


@pytest.mark.parametrize("path", ["/login/", "/login/?next=/connections/"])
def test_signin_page_without_errors_has_no_error_marks(client: Client, db, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    html = body_of(response)
    assert "aria-invalid" not in html and "field-error" not in html
    assert "autofocus" in _input(html, "username")
