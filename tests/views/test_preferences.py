"""The "Display" form (connections/views/preferences.py, templates/display_menu.html):
POST-only, saves the user's preferences, returns to a validated ``next``."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils.html import escape

from connections.models import UserPreferences
from sandbox import ORGS_BY_SLUG
from tests.conftest import FormClient, body_of, field_error

URL = "/preferences/"
COMPACT_EXACT = {"density": "compact", "time_display": "absolute"}


def _saved(user: User) -> tuple[str, str] | None:
    row = UserPreferences.objects.filter(user=user).values_list("density", "time_display")
    return row.first()


def _checked(html: str, name: str) -> list[str]:
    """The values of the checked radios of one group in the Display menu."""
    return re.findall(rf'<input type="radio" name="{name}" value="(\w+)" checked>', html)


def test_preferences_post_saves_and_returns_to_next(alice: Client, user: User) -> None:
    next_url = "/connections/?statuses=connected&search_text=%C3%A9t%C3%A9"
    response = alice.post(URL, {**COMPACT_EXACT, "next": next_url})
    assert response.status_code == 302
    assert response["Location"] == next_url
    assert _saved(user) == ("compact", "absolute")

    page = alice.get(response["Location"])
    assert page.status_code == 200
    html = body_of(page)
    assert '<body class="density-compact"' in html
    assert _checked(html, "density") == ["compact"]
    assert _checked(html, "time_display") == ["absolute"]
    assert "Display settings saved." in html
    assert page.context["prefs"].time_display == "absolute"  # for the rows (lead wires it)


def test_preferences_post_without_next_returns_to_the_list(alice: Client, user: User) -> None:
    response = alice.post(URL, COMPACT_EXACT)
    assert response.status_code == 302
    assert response["Location"] == "/connections/"
    assert _saved(user) == ("compact", "absolute")


def test_preferences_htmx_post_refreshes_the_page(alice: Client, user: User) -> None:
    response = alice.post(URL, {**COMPACT_EXACT, "next": "/connections/"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response["HX-Refresh"] == "true"
    assert _saved(user) == ("compact", "absolute")


@pytest.mark.parametrize("method", ["get", "head", "put", "delete"])
def test_preferences_endpoint_refuses_other_methods(alice: Client, user: User, method: str) -> None:
    response = getattr(alice, method)(URL + "?density=compact&time_display=absolute")
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert _saved(user) is None


def test_preferences_pages_read_but_never_write(alice: Client, user: User) -> None:
    """A GET shows the defaults without creating the row, and asks for it once."""
    with CaptureQueriesContext(connection) as queries:
        response = alice.get("/connections/")
    assert response.status_code == 200
    html = body_of(response)
    assert '<body class="density-comfortable"' in html
    assert _checked(html, "density") == ["comfortable"]
    assert _checked(html, "time_display") == ["relative"]
    asked = [q["sql"] for q in queries.captured_queries if "userpreferences" in q["sql"]]
    assert len(asked) == 1 and asked[0].lstrip().upper().startswith("SELECT")
    assert _saved(user) is None


def test_preferences_htmx_fragment_asks_once_for_the_rows_time_display(
    alice: Client, user: User
) -> None:
    with CaptureQueriesContext(connection) as queries:
        response = alice.get("/connections/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results")
    assert response.status_code == 200
    assert "<body" not in body_of(response)
    asked = [q for q in queries.captured_queries if "userpreferences" in q["sql"]]
    assert len(asked) == 1  # the rows' time display; the menu is not in a fragment


def test_preferences_anonymous_pages_ask_nothing(client: Client, db) -> None:
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/login/")
    assert response.status_code == 200
    html = body_of(response)
    assert "<body hx-headers=" in html and "display-menu" not in html
    assert not [q for q in queries.captured_queries if "userpreferences" in q["sql"]]


def _display_form(html: str) -> str:
    form = re.search(r'<form class="display-panel".*?</form>', html, re.S)
    assert form, "no Display form"
    return form.group(0)


def test_preferences_menu_form_carries_the_list_view_as_next(alice: Client) -> None:
    response = alice.get("/connections/?statuses=connected&order_by=host_email&password=hunter2")
    assert response.status_code == 200
    form = _display_form(body_of(response))
    assert 'method="post" action="/preferences/"' in form
    canonical = response.context["listing"].canonical_url
    assert "statuses=connected" in canonical and "order_by=host_email" in canonical
    assert f'<input type="hidden" name="next" value="{escape(canonical)}">' in form
    assert "hunter2" not in form  # the raw query is never echoed
    assert 'name="csrfmiddlewaretoken"' in form
    assert "<legend>Rows</legend>" in form and "<legend>Times</legend>" in form


@pytest.mark.parametrize("path", ["/connections/{host}/?back=password%3Dhunter2", "/views/9/x/"])
def test_preferences_menu_form_on_other_pages_returns_to_the_list(alice: Client, path: str) -> None:
    """Pages without a canonical address (detail, 404) give no ``next``: the view falls
    back to the list; the page's own address is never echoed."""
    response = alice.get(path.format(host=ORGS_BY_SLUG["northwind-credit"].id))
    form = _display_form(body_of(response))
    assert 'name="next"' not in form
    assert "hunter2" not in form and "/views/9/" not in form


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"density": "huge", "time_display": "absolute"}, "density", "Choose a row density"),
        ({"density": "compact", "time_display": "soon"}, "time_display", "Choose how times"),
        ({"time_display": "absolute"}, "density", "Choose a row density"),
        ({"density": "compact"}, "time_display", "Choose how times"),
    ],
)
def test_preferences_invalid_value_shows_an_error_and_changes_nothing(
    alice: Client, user: User, data: dict[str, str], field: str, message: str
) -> None:
    UserPreferences.objects.create(user=user, density="comfortable", time_display="relative")
    response = alice.post(URL, {**data, "next": "/connections/?statuses=connected"})
    assert response.status_code == 422
    assert _saved(user) == ("comfortable", "relative")
    html = body_of(response)
    assert "Your display settings were not saved" in html
    assert '<a href="/connections/?statuses=connected">Back to the connections</a>' in html
    assert '<details class="display-menu" open>' in html
    assert f'<fieldset aria-describedby="err-display-{field}">' in html
    assert field_error(html, f"err-display-{field}").startswith(message)
    assert "Display settings saved." not in html


def test_preferences_both_invalid_show_both_errors(alice: Client, user: User) -> None:
    response = alice.post(URL, {"density": "<script>", "time_display": "x"})
    assert response.status_code == 422
    html = body_of(response)
    assert 'id="err-display-density" role="alert">Choose a row density' in html
    assert 'id="err-display-time_display" role="alert">Choose how times' in html
    assert "<script>" not in html.split("<body", 1)[1].split("</header>")[0]
    assert _saved(user) is None


@pytest.mark.parametrize(
    "next_url",
    [
        "https://evil.example/connections/",
        "http://evil.example",
        "//evil.example/connections/",
        "///evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "\\/evil.example",
        "javascript:alert(1)",
        "JavaScript:alert(document.cookie)",
        "java\tscript:alert(1)",
        " //evil.example",
        "/\t/evil.example",
        "/connections/\r\nSet-Cookie: a=b",
        "http:evil.example",
        "data:text/html,<script>alert(1)</script>",
        "%2F%2Fevil.example",  # double-encoded in the body (the variant below is single)
        "evil.example",
        "",
    ],
)
def test_preferences_next_refuses_other_sites_and_schemes(
    alice: Client, user: User, next_url: str
) -> None:
    response = alice.post(URL, {**COMPACT_EXACT, "next": next_url})
    assert response.status_code == 302
    assert response["Location"] == "/connections/"
    assert _saved(user) == ("compact", "absolute")  # the save itself still happened


@pytest.mark.parametrize(
    "body",
    [
        "next=%2F%2Fevil.example%2F",
        "next=%2F%5Cevil.example",
        "next=https%3A%2F%2Fevil.example",
        "next=javascript%3Aalert%281%29",
        "next=%252F%252Fevil.example",
        "next=%2F%0D%0ALocation%3A%20https%3A%2F%2Fevil.example",
    ],
)
def test_preferences_next_refuses_encoded_variants(alice: Client, user: User, body: str) -> None:
    response = alice.post(URL, f"density=compact&time_display=absolute&{body}")
    assert response.status_code == 302
    assert response["Location"] == "/connections/"
    assert _saved(user) == ("compact", "absolute")


def test_preferences_next_refuses_http_on_an_https_site(user: User) -> None:
    browser = FormClient()
    browser.force_login(user)
    response = browser.post(
        URL, {**COMPACT_EXACT, "next": "http://testserver/connections/"}, secure=True
    )
    assert response["Location"] == "/connections/"


def test_preferences_csrf_is_enforced(user: User) -> None:
    browser = FormClient(enforce_csrf_checks=True)
    browser.force_login(user)
    response = browser.post(URL, COMPACT_EXACT)
    assert response.status_code == 403
    assert "The form expired" in body_of(response)
    assert _saved(user) is None


def test_preferences_with_the_csrf_token_of_the_page(user: User) -> None:
    browser = FormClient(enforce_csrf_checks=True)
    browser.force_login(user)
    token = browser.get("/connections/").context["csrf_token"]
    response = browser.post(URL, {**COMPACT_EXACT, "csrfmiddlewaretoken": str(token)})
    assert response.status_code == 302
    assert _saved(user) == ("compact", "absolute")


def test_preferences_anonymous_post_goes_to_sign_in(client: Client, db) -> None:
    response = client.post(URL, COMPACT_EXACT)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=/preferences/")
    assert not UserPreferences.objects.exists()


def test_preferences_are_per_user(alice: Client, user: User, other_user: User) -> None:
    alice.post(URL, COMPACT_EXACT)
    bob = FormClient()
    bob.force_login(other_user)
    html = body_of(bob.get("/connections/"))
    assert '<body class="density-comfortable"' in html
    assert _saved(other_user) is None
