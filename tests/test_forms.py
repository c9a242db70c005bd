"""Forms: what POSTed input is accepted, what is refused and with which message."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from connections.forms import (
    ContextSwitchForm,
    SavedViewCreateForm,
    SavedViewRenameForm,
    SavedViewUpdateForm,
    safe_next,
)
from connections.models import ApiClient
from connections.query import ListQuery
from tests.conftest import org_id

NORTHWIND = org_id("northwind-credit")


# --- a saved view's name and query -----------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("  Weekly  ", "Weekly"),
        ("\u202eWeekly", "Weekly"),
        ("Wee\u200bkly", "Weekly"),
        ("Weekly\u2028\u2029", "Weekly"),
        ("a\x00b\x1fc\x7f", "abc"),
        ("x" * 100, "x" * 100),
    ],
)
def test_saved_view_form_name_cleaned(raw: str, name: str) -> None:
    form = SavedViewRenameForm({"name": raw})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["name"] == name


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "Give the view a name."),
        ("   ", "Give the view a name."),
        ("\u200b\u202e\u2028", "Give the view a name."),  # nothing visible is left
        ("\x00", "Give the view a name."),
        ("x" * 101, "A view name is at most 100 characters."),
    ],
)
def test_saved_view_form_name_refused_with_reason(raw: str, message: str) -> None:
    form = SavedViewCreateForm({"name": raw, "query": "order_dir=desc"})
    assert not form.is_valid()
    assert form.errors["name"] == [message]
    assert form.cleaned_data["query"].order_dir == "desc"  # kept for the form shown again


def test_saved_view_form_name_missing_is_refused() -> None:
    form = SavedViewCreateForm({})
    assert not form.is_valid()
    assert form.errors["name"] == ["Give the view a name."]


@pytest.mark.parametrize(
    ("raw", "saved"),
    [
        ("", ""),
        ("order_dir=desc&offset=40", "order_dir=desc"),
        ("limit=999&order_by=x&evil=1", "limit=100"),  # the nearest valid query
        ("%ff%00=\x00", ""),
    ],
)
def test_saved_view_form_query_never_fails(raw: str, saved: str) -> None:
    form = SavedViewUpdateForm({"query": raw})
    assert form.is_valid()
    query = form.cleaned_data["query"]
    assert isinstance(query, ListQuery)
    assert query.saved_querystring() == saved


# --- the context switcher --------------------------------------------------------------


@pytest.fixture
def clients(user: User, demo_client: ApiClient, harbor_client: ApiClient) -> list[ApiClient]:
    return [demo_client, harbor_client]


@pytest.mark.parametrize(
    ("target", "cleaned"),
    [
        ("", None),
        ("self", None),
        (" SELF ", None),
        (NORTHWIND.upper(), NORTHWIND),
        ("  Northwind \t Credit ", "Northwind Credit"),  # a name, matched by the view
        ("' OR 1=1 --", "' OR 1=1 --"),
    ],
)
def test_context_switch_form_target(
    clients: list[ApiClient], target: str, cleaned: str | None
) -> None:
    form = ContextSwitchForm({"client": str(clients[1].pk), "target": target}, clients=clients)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["client"] == clients[1].pk
    assert form.cleaned_data["target"] == cleaned


@pytest.mark.parametrize("target", ["North\x00wind", "a\u200bb", "x" * 256])
def test_context_switch_form_bad_target_refused(clients: list[ApiClient], target: str) -> None:
    form = ContextSwitchForm({"client": str(clients[0].pk), "target": target}, clients=clients)
    assert not form.is_valid()
    assert list(form.errors) == ["target"]


def test_context_switch_form_query_is_the_nearest_valid(clients: list[ApiClient]) -> None:
    form = ContextSwitchForm(
        {"client": str(clients[0].pk), "query": "order_by=host_email&limit=abc"}, clients=clients
    )
    assert form.is_valid(), form.errors
    assert form.cleaned_data["query"].querystring() == "order_by=host_email"


@pytest.mark.parametrize("client", ["", "abc", "-1", "999999", "1.0"])
def test_context_switch_form_client_not_offered_refused(
    clients: list[ApiClient], client: str
) -> None:
    form = ContextSwitchForm({"client": client, "target": "self"}, clients=clients)
    assert not form.is_valid()
    assert list(form.errors) == ["client"]
    assert form.errors["client"][0] in (
        "You do not have access to that API client.",
        "Choose an API client.",
    )


def test_context_switch_form_offers_only_the_clients_given(
    clients: list[ApiClient], db: None
) -> None:
    from tests.conftest import make_client

    other = make_client("quiet-bank")
    form = ContextSwitchForm({"client": str(other.pk), "target": ""}, clients=clients)
    assert form.errors == {"client": ["You do not have access to that API client."]}


# --- where to go back to ---------------------------------------------------------------

HOST = "testserver"
REFUSED_NEXT = {
    "external": "https://evil.example/connections/",
    "external http": "http://evil.example/",
    "same host, absolute": "http://testserver/connections/",  # never made by us
    "scheme-relative": "//evil.example/connections/",
    "triple slash": "///evil.example/",
    "backslash": "/\\evil.example/",
    "backslashes": "\\\\evil.example/",
    "javascript": "javascript:alert(1)",
    "javascript, mixed case": "JaVaScRiPt:alert(1)",
    "javascript, tab": "java\tscript:alert(1)",
    "data": "data:text/html,<script>alert(1)</script>",
    "encoded scheme-relative": "%2F%2Fevil.example/",
    "encoded backslash": "%5C%5Cevil.example/",
    "encoded javascript": "%6A%61vascript:alert(1)",
    "newline": "/connections/\r\nX-Evil: 1",
    "leading space": " //evil.example/",
    "bidi override": "/connections/\u202e",
    "relative": "connections/",
    "empty": "",
    "too long": "/" + "x" * 9000,
}


@pytest.mark.parametrize("raw", REFUSED_NEXT.values(), ids=REFUSED_NEXT)
def test_safe_next_refuses(raw: str) -> None:
    assert safe_next(raw, host=HOST, secure=False) is None


@pytest.mark.parametrize(
    "raw",
    [
        "/connections/",
        "/connections/?ctx=3&view=4&order_dir=desc&offset=40",
        "/connections/?search_text=%2F%2Fevil.example",  # an encoded value is only a value
        "/connections/?search_text=Z%C3%BCrich",
    ],
)
def test_safe_next_accepts_paths_of_this_site(raw: str) -> None:
    assert safe_next(raw, host=HOST, secure=True) == raw


def test_safe_next_none_is_none() -> None:
    assert safe_next(None, host=HOST, secure=False) is None
