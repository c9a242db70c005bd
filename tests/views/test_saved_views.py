"""Saved views through HTTP: every action, full page and htmx, where each one lands (the
page the user was on, through a validated ``next``), refused names shown next to their
field, the IDOR matrix, sharing, and odd stored data."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.db.models.signals import pre_save
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils.html import escape

from connections.links import saved_view_url
from connections.models import ApiClient, SavedView
from sandbox import SandboxApp
from tests.conftest import FormClient, body_of, field_error, make_client, make_view, org_id

DEMO = org_id("demo-lender")
NORTHWIND = org_id("northwind-credit")
XSS = "<img src=x onerror=alert(1)>"
_CSRF = re.compile(r'(name="csrfmiddlewaretoken" value="|"X-CSRFToken": ")[^"]+')
HX = {"HTTP_HX_REQUEST": "true"}
PAGE = "/connections/?ctx={ctx}&order_dir=desc&statuses=connected&offset=40"


def hx(current: str | None = None, **headers: str) -> dict[str, str]:
    """The headers htmx sends; ``current`` is the page's URL (HX-Current-URL)."""
    if current is not None:
        headers["HTTP_HX_CURRENT_URL"] = current
    return {**HX, **headers}


def landed(response, htmx: bool) -> str:
    """Where the action sent the browser: a 302, or for htmx a full-page redirect."""
    if htmx:
        assert response.status_code == 200
        assert "Location" not in response
        return str(response["HX-Redirect"])
    assert response.status_code == 302
    assert "HX-Redirect" not in response
    return str(response["Location"])


def normalised(response) -> tuple[int, str]:
    body = body_of(response).replace(response["X-Request-ID"], "REQUEST-ID")  # one per request
    return response.status_code, _CSRF.sub(r"\1TOKEN", body)


def list_messages(client: Client, url: str = "/connections/?order_dir=desc") -> str:
    """The page-level messages of the next page."""
    return re.search(r'<div id="messages".*?</div>', body_of(client.get(url)), re.S)[0]


def params_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


# --- create ----------------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [False, True])
def test_view_create(alice: Client, user: User, demo_client: ApiClient, htmx: bool) -> None:
    response = alice.post(
        "/views/", {"name": "Desc", "query": "order_dir=desc"}, **(hx() if htmx else {})
    )
    view = SavedView.objects.get(owner=user, name="Desc")
    expected = f"/connections/?ctx={demo_client.pk}&view={view.pk}&order_dir=desc"
    assert landed(response, htmx) == expected
    assert view.query == "order_dir=desc"
    assert "Saved view “Desc”." in list_messages(alice, expected)


def test_view_create_duplicate_htmx_answers_the_form_in_place(
    alice: Client, user: User, demo_client: ApiClient
) -> None:
    make_view(user, "Desc", demo_client)
    response = alice.post(
        "/views/",
        {"name": "DESC", "ctx": str(demo_client.pk), "query": "order_dir=desc&statuses=connected"},
        **hx(f"http://testserver/connections/?ctx={demo_client.pk}&order_dir=desc"),
    )
    assert response.status_code == 422
    assert "HX-Retarget" not in response  # a fragment: it replaces the form, not the page
    body = body_of(response)
    assert body.lstrip().startswith('<form class="save-view"')
    assert "<html" not in body
    assert field_error(body, "err-save-view") == (
        "You already have a view named “DESC”; choose another name."
    )
    assert 'value="DESC"' in body
    assert 'aria-invalid="true" aria-describedby="err-save-view"' in body
    assert 'value="statuses=connected&amp;order_dir=desc"' in body  # the filters it was on
    assert f'name="ctx" value="{demo_client.pk}"' in body
    assert SavedView.objects.count() == 1
    assert "already have" not in list_messages(alice)  # no message left for a later page


def test_view_create_duplicate_without_javascript_is_a_page_with_the_form(
    alice: Client, user: User, demo_client: ApiClient
) -> None:
    make_view(user, "Taken", demo_client)
    response = alice.post(
        "/views/", {"name": "taken", "ctx": str(demo_client.pk), "query": "order_dir=desc"}
    )
    assert response.status_code == 422
    body = body_of(response)
    assert "<h1>The view was not saved</h1>" in body
    assert "already have a view named “taken”" in field_error(body, "err-save-view")
    assert 'value="taken"' in body
    assert 'value="order_dir=desc"' in body
    back = f"/connections/?ctx={demo_client.pk}&amp;order_dir=desc"  # the same filters
    assert f'<a href="{back}">Back to the connections</a>' in body
    assert '<form class="ctx-switcher"' in body  # a whole page, header included


@pytest.mark.parametrize("name", ["", "   ", "\u200b\u202e", "\u2028\u2029"])
def test_view_create_nothing_visible_in_the_name_is_a_form_error(
    alice: Client, user: User, name: str
) -> None:
    response = alice.post("/views/", {"name": name, "query": "order_dir=desc"}, **hx())
    assert response.status_code == 422
    assert field_error(body_of(response), "err-save-view") == "Give the view a name."
    assert not SavedView.objects.exists()


def test_view_create_invisible_characters_never_reach_other_users(
    alice: Client, user: User, other_user: User
) -> None:
    alice.post("/views/", {"name": "\u202eTeam\u200b view\u2028", "query": ""})
    view = SavedView.objects.get(owner=user)
    assert view.name == "Team view"
    alice.post(f"/views/{view.pk}/share/", {"shared": "1"})
    bob = FormClient()
    bob.force_login(other_user)
    body = body_of(bob.get("/connections/?order_dir=desc"))
    assert ">Team view</a>" in body
    for char in ("\u202e", "\u200b", "\u2028"):
        assert char not in body


def test_view_create_race_is_a_form_error_not_500(
    alice: Client, user: User, demo_client: ApiClient
) -> None:
    fired = []

    def receiver(sender, instance, **kwargs) -> None:  # the other request wins the race
        if not fired:
            fired.append(True)
            SavedView.objects.bulk_create(
                [SavedView(owner=user, name="weekly", api_client=demo_client, target_org_id=DEMO)]
            )

    pre_save.connect(receiver, sender=SavedView)
    try:
        response = alice.post("/views/", {"name": "Weekly"}, **hx())
    finally:
        pre_save.disconnect(receiver, sender=SavedView)
    assert fired
    assert response.status_code == 422
    assert "already have a view named" in field_error(body_of(response), "err-save-view")


def test_view_create_limit_is_a_form_error(alice: Client, settings) -> None:
    settings.SAVED_VIEWS_PER_USER = 1
    alice.post("/views/", {"name": "one"})
    response = alice.post("/views/", {"name": "two"}, **hx())
    assert response.status_code == 422
    assert "limit of 1 saved views" in field_error(body_of(response), "err-save-view")
    assert SavedView.objects.count() == 1


def test_view_create_ignores_invalid_query_parts(alice: Client, user: User) -> None:
    alice.post("/views/", {"name": "Odd", "query": "limit=999&order_by=x&offset=40&evil=1"})
    assert SavedView.objects.get(name="Odd").query == "limit=100"


def test_view_create_uses_the_pages_context_not_the_session(
    alice: Client, demo_client: ApiClient, harbor_client: ApiClient
) -> None:
    alice.post("/context/", {"client": harbor_client.pk})  # another tab switched the session
    alice.post("/views/", {"name": "Demo view", "ctx": str(demo_client.pk), "query": ""})
    view = SavedView.objects.get(name="Demo view")
    assert view.api_client == demo_client


# --- rename ----------------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [False, True])
def test_view_rename_returns_to_the_page(
    alice: Client, user: User, demo_client: ApiClient, htmx: bool
) -> None:
    view = make_view(user, "Old", demo_client)
    page = PAGE.format(ctx=demo_client.pk)
    extra = hx(f"http://testserver{page}") if htmx else {}
    response = alice.post(f"/views/{view.pk}/rename/", {"name": "New", "next": page}, **extra)
    assert landed(response, htmx) == page
    assert SavedView.objects.get(pk=view.pk).name == "New"
    assert "Renamed to “New”." in list_messages(alice, page)


def test_view_rename_duplicate_htmx_answers_the_form_in_place(
    alice: Client, user: User, demo_client: ApiClient
) -> None:
    make_view(user, "Weekly", demo_client)
    view = make_view(user, "Daily", demo_client)
    page = PAGE.format(ctx=demo_client.pk)
    response = alice.post(
        f"/views/{view.pk}/rename/", {"name": "weekly"}, **hx(f"http://testserver{page}")
    )
    assert response.status_code == 422
    body = body_of(response)
    assert body.lstrip().startswith("<form ")
    assert f'action="/views/{view.pk}/rename/"' in body
    assert "already have a view named “weekly”" in field_error(body, f"err-rename-{view.pk}")
    assert f'aria-describedby="err-rename-{view.pk}"' in body
    assert 'value="weekly"' in body
    assert f'name="next" value="{page.replace("&", "&amp;")}"' in body
    assert SavedView.objects.get(pk=view.pk).name == "Daily"


def test_view_rename_duplicate_without_javascript_is_a_page_with_the_form(
    alice: Client, user: User, demo_client: ApiClient
) -> None:
    make_view(user, "Weekly", demo_client)
    view = make_view(user, "Daily", demo_client)
    page = PAGE.format(ctx=demo_client.pk)
    response = alice.post(f"/views/{view.pk}/rename/", {"name": "WEEKLY", "next": page})
    assert response.status_code == 422
    body = body_of(response)
    assert "<h1>The view “Daily” was not renamed</h1>" in body
    assert "already have a view named" in field_error(body, f"err-rename-{view.pk}")
    assert f'<a href="{page.replace("&", "&amp;")}">Back to the connections</a>' in body
    assert SavedView.objects.get(pk=view.pk).name == "Daily"


# --- update, default, share, delete, copy: back where the user was ---------------------


@pytest.mark.parametrize("htmx", [False, True])
def test_view_update(
    alice: Client, user: User, demo_client: ApiClient, harbor_client: ApiClient, htmx: bool
) -> None:
    view = make_view(user, "Daily", harbor_client)
    alice.post("/context/", {"client": demo_client.pk, "target": NORTHWIND})  # the session's
    response = alice.post(
        f"/views/{view.pk}/update/", {"query": "order_dir=desc&offset=20"}, **(hx() if htmx else {})
    )
    view.refresh_from_db()
    expected = f"/connections/?ctx={demo_client.pk}.{NORTHWIND}&view={view.pk}&order_dir=desc"
    assert landed(response, htmx) == expected
    assert view.query == "order_dir=desc"
    assert (view.api_client, str(view.target_org_id)) == (demo_client, NORTHWIND)


RETURNING = {
    "default": ("default", {"default": "1"}, "now opens when you visit the list"),
    "not default": ("default", {"default": "0"}, "is no longer your default view"),
    "share": ("share", {"shared": "1"}, "is now shared with"),
    "unshare": ("share", {"shared": "0"}, "is no longer shared with"),
    "delete": ("delete", {}, "Deleted view “Daily”."),
    "rename": ("rename", {"name": "Nightly"}, "Renamed to “Nightly”."),
}


@pytest.mark.parametrize("htmx", [False, True])
@pytest.mark.parametrize(("action", "data", "message"), RETURNING.values(), ids=RETURNING)
def test_view_action_returns_to_the_exact_page(
    alice: Client,
    user: User,
    demo_client: ApiClient,
    action: str,
    data: dict[str, str],
    message: str,
    htmx: bool,
) -> None:
    view = make_view(user, "Daily", demo_client, is_default=data.get("default") == "0")
    page = PAGE.format(ctx=demo_client.pk) + f"&view={view.pk}&limit=50"
    extra = hx(f"http://testserver{page}") if htmx else {}
    response = alice.post(f"/views/{view.pk}/{action}/", {**data, "next": page}, **extra)
    assert landed(response, htmx) == page
    assert message in list_messages(alice, page)


@pytest.mark.parametrize("action", ["default", "share", "rename"])
def test_view_action_htmx_returns_to_the_current_url_not_a_stale_next(
    alice: Client, user: User, demo_client: ApiClient, action: str
) -> None:
    """The panel is drawn once; the results (page, filters) move on under it."""
    view = make_view(user, "Daily", demo_client)
    drawn = f"/connections/?ctx={demo_client.pk}"
    now = PAGE.format(ctx=demo_client.pk)
    response = alice.post(
        f"/views/{view.pk}/{action}/",
        {"name": "Nightly", "default": "1", "shared": "1", "next": drawn},
        **hx(f"http://testserver{now}"),
    )
    assert landed(response, True) == now


@pytest.mark.parametrize(
    "current",
    [
        "https://evil.example/connections/",
        "http://evil.example/",
        "https://testserver/connections/",
    ],
)
def test_view_action_htmx_current_url_of_another_origin_is_not_followed(
    alice: Client, user: User, demo_client: ApiClient, current: str
) -> None:
    view = make_view(user, "Daily", demo_client)
    response = alice.post(f"/views/{view.pk}/default/", {"default": "1"}, **hx(current))
    assert landed(response, True) == "/connections/"


UNSAFE_NEXT = [
    "https://evil.example/connections/",
    "//evil.example/connections/",
    "///evil.example/",
    "/\\evil.example/",
    "javascript:alert(1)",
    "JAVASCRIPT:alert(1)",
    "%2F%2Fevil.example/",
    "%2f%2fevil.example%2fconnections%2f",
    "/%0d%0aX-Evil: 1".replace("%0d%0a", "\r\n"),
    "connections/",
]


@pytest.mark.parametrize("action", ["rename", "default", "share", "delete"])
@pytest.mark.parametrize("evil", UNSAFE_NEXT)
def test_view_action_unsafe_next_refused(
    alice: Client, user: User, demo_client: ApiClient, action: str, evil: str
) -> None:
    view = make_view(user, "Old", demo_client)
    response = alice.post(
        f"/views/{view.pk}/{action}/", {"name": "New", "default": "1", "next": evil}
    )
    assert landed(response, False) == "/connections/"


def test_view_action_without_next_returns_to_the_list(
    alice: Client, user: User, demo_client: ApiClient
) -> None:
    view = make_view(user, "Old", demo_client)
    assert landed(alice.post(f"/views/{view.pk}/share/", {"shared": "1"}), False) == "/connections/"


def test_view_panel_forms_carry_the_page_to_return_to(
    alice: Client, user: User, demo_client: ApiClient, other_user: User
) -> None:
    view = make_view(user, "Daily", demo_client)
    shared = make_view(other_user, "Team", demo_client, shared=True)
    page = PAGE.format(ctx=demo_client.pk)
    body = body_of(alice.get(page))
    escaped = page.replace("&", "&amp;")
    assert body.count(f'name="next" value="{escaped}"') == 4  # rename, default, share, copy
    confirm = f"/views/{view.pk}/confirm-delete/?next={quote(page, safe='/')}"
    assert f'href="{confirm.replace("&", "&amp;")}"' in body
    for action in ("rename", "default", "share"):
        assert f'hx-post="/views/{view.pk}/{action}/"' in body
    assert f'hx-post="/views/{shared.pk}/copy/"' in body


# --- the delete confirmation -----------------------------------------------------------


def test_view_confirm_delete_page(alice: Client, user: User, demo_client: ApiClient) -> None:
    view = make_view(user, "Daily", demo_client)
    page = PAGE.format(ctx=demo_client.pk)
    response = alice.get(f"/views/{view.pk}/confirm-delete/", {"next": page})
    assert response.status_code == 200
    body = body_of(response)
    escaped = page.replace("&", "&amp;")
    assert "Delete the view “Daily”?" in body
    assert f'action="/views/{view.pk}/delete/"' in body
    assert f'name="next" value="{escaped}"' in body
    assert f'<a class="btn" href="{escaped}">Cancel</a>' in body
    assert SavedView.objects.filter(pk=view.pk).exists()


@pytest.mark.parametrize("evil", UNSAFE_NEXT)
def test_view_confirm_delete_unsafe_next_cancels_to_the_list(
    alice: Client, user: User, demo_client: ApiClient, evil: str
) -> None:
    view = make_view(user, "Daily", demo_client)
    body = body_of(alice.get(f"/views/{view.pk}/confirm-delete/", {"next": evil}))
    assert '<a class="btn" href="/connections/">Cancel</a>' in body
    assert 'name="next" value="/connections/"' in body
    assert "evil" not in body and "javascript" not in body.lower().replace("javascript:void", "")


def test_view_confirm_delete_opened_in_place_keeps_the_current_page(
    alice: Client, user: User, demo_client: ApiClient
) -> None:
    view = make_view(user, "Daily", demo_client)
    page = PAGE.format(ctx=demo_client.pk)
    response = alice.get(
        f"/views/{view.pk}/confirm-delete/",
        **hx(f"http://testserver{page}", HTTP_HX_BOOSTED="true"),
    )
    assert response.status_code == 200
    assert f'<a class="btn" href="{page.replace("&", "&amp;")}">Cancel</a>' in body_of(response)
    # the address bar keeps the way back, so a reload of the confirmation keeps it too
    pushed = response["HX-Push-Url"]
    assert pushed.startswith(f"/views/{view.pk}/confirm-delete/?next=")
    assert params_of(pushed)["next"] == [page]


def test_view_delete_from_the_confirmation_returns_to_the_page(
    alice: Client, user: User, demo_client: ApiClient
) -> None:
    view = make_view(user, "Daily", demo_client)
    page = PAGE.format(ctx=demo_client.pk)
    body = body_of(alice.get(f"/views/{view.pk}/confirm-delete/", {"next": page}))
    posted_next = re.search(r'name="next" value="([^"]*)"', body)[1].replace("&amp;", "&")
    response = alice.post(f"/views/{view.pk}/delete/", {"next": posted_next})
    assert landed(response, False) == page
    assert not SavedView.objects.filter(pk=view.pk).exists()
    assert "Deleted view “Daily”." in list_messages(alice, page)


@pytest.mark.parametrize("htmx", [False, True])
def test_view_default_keeps_one(
    alice: Client, user: User, demo_client: ApiClient, htmx: bool
) -> None:
    first = make_view(user, "A", demo_client, is_default=True)
    view = make_view(user, "B", demo_client)
    extra = hx() if htmx else {}
    alice.post(f"/views/{view.pk}/default/", {"default": "1"}, **extra)
    assert list(SavedView.objects.filter(is_default=True)) == [view]
    assert SavedView.objects.get(pk=first.pk).is_default is False
    alice.post(f"/views/{view.pk}/default/", {"default": "0"}, **extra)
    assert not SavedView.objects.filter(is_default=True).exists()


@pytest.mark.parametrize("htmx", [False, True])
def test_view_share_and_unshare(
    alice: Client, user: User, demo_client: ApiClient, htmx: bool
) -> None:
    view = make_view(user, "A", demo_client)
    extra = hx() if htmx else {}
    alice.post(f"/views/{view.pk}/share/", {"shared": "1"}, **extra)
    assert SavedView.objects.get(pk=view.pk).shared is True
    alice.post(f"/views/{view.pk}/share/", {"shared": "0"}, **extra)
    assert SavedView.objects.get(pk=view.pk).shared is False


@pytest.mark.parametrize("htmx", [False, True])
def test_view_copy(
    alice: Client, user: User, other_user: User, demo_client: ApiClient, htmx: bool
) -> None:
    original = make_view(other_user, "Team", demo_client, query="order_dir=desc", shared=True)
    response = alice.post(f"/views/{original.pk}/copy/", **(hx() if htmx else {}))
    copy = SavedView.objects.get(owner=user)
    expected = f"/connections/?ctx={demo_client.pk}&view={copy.pk}&order_dir=desc"
    assert landed(response, htmx) == expected
    assert copy.query == "order_dir=desc"
    assert SavedView.objects.get(pk=original.pk).owner == other_user


def test_view_copy_limit_is_a_message_on_the_same_page(
    alice: Client, user: User, other_user: User, demo_client: ApiClient, settings
) -> None:
    settings.SAVED_VIEWS_PER_USER = 1
    make_view(user, "Mine", demo_client)
    original = make_view(other_user, "Team", demo_client, shared=True)
    page = PAGE.format(ctx=demo_client.pk)
    response = alice.post(f"/views/{original.pk}/copy/", {"next": page})
    assert landed(response, False) == page
    assert "limit of 1 saved views" in list_messages(alice, page)


POST_ACTIONS = ["rename", "update", "delete", "default", "share", "copy"]


@pytest.mark.parametrize("action", POST_ACTIONS)
def test_view_actions_are_post_only(
    alice: Client, user: User, demo_client: ApiClient, action: str
) -> None:
    view = make_view(user, "Daily", demo_client, shared=True)
    response = alice.get(f"/views/{view.pk}/{action}/", {"name": "x", "default": "1"})
    assert response.status_code == 405
    view.refresh_from_db()
    assert (view.name, view.is_default, view.shared) == ("Daily", False, True)


def test_view_create_is_post_only(alice: Client) -> None:
    assert alice.get("/views/", {"name": "x"}).status_code == 405
    assert not SavedView.objects.exists()


def test_view_confirm_delete_is_get_only(alice: Client, user: User, demo_client: ApiClient) -> None:
    view = make_view(user, "Daily", demo_client)
    assert alice.post(f"/views/{view.pk}/confirm-delete/").status_code == 405
    assert SavedView.objects.filter(pk=view.pk).exists()


# --- IDOR: another user's, missing and malformed ids look the same ---------------------

IDOR_ACTIONS = [
    ("get", "confirm-delete", "view_confirm_delete"),
    ("post", "rename", "view_rename"),
    ("post", "update", "view_update"),
    ("post", "delete", "view_delete"),
    ("post", "default", "view_default"),
    ("post", "share", "view_share"),
    ("post", "copy", "view_copy"),
]
IDOR_IDS = ["foreign", "foreign_shared_elsewhere", "missing", "huge"]
MALFORMED_IDS = ["abc", "1;drop", "-1", "1.0", "%C2%B2", "0x1"]  # no route matches them


@pytest.mark.parametrize("htmx", [False, True])
@pytest.mark.parametrize(("method", "action", "url_name"), IDOR_ACTIONS)
def test_idor_matrix_same_404(
    alice: Client,
    user: User,
    other_user: User,
    carol: User,
    harbor_client: ApiClient,
    demo_client: ApiClient,
    method: str,
    action: str,
    url_name: str,
    htmx: bool,
) -> None:
    foreign = make_view(other_user, "Bob private", demo_client, query="order_dir=desc")
    # Carol's shared view, made in a context Alice can use (Harbor): copyable, but never
    # writable by Alice. For "copy", a shared view in a context Alice lacks is used.
    elsewhere = make_view(carol, "Carol team", harbor_client, shared=True)
    if action == "copy":
        carol_only = make_client("northwind-credit")
        carol_only.users.add(carol)
        elsewhere.api_client = carol_only
        elsewhere.save()
    ids = {
        "foreign": str(foreign.pk),
        "foreign_shared_elsewhere": str(elsewhere.pk),
        "missing": str(max(foreign.pk, elsewhere.pk) + 1000),
        "huge": "9" * 30,
    }
    extra = hx() if htmx else {}
    data = {"name": "Hacked", "query": "statuses=connected", "default": "1", "shared": "1"}
    send = getattr(alice, method)
    responses = {}
    for key in IDOR_IDS:
        response = send(f"/views/{ids[key]}/{action}/", data if method == "post" else {}, **extra)
        assert response.resolver_match.url_name == url_name  # the view itself answered
        responses[key] = normalised(response)
    for key in MALFORMED_IDS:
        response = send(f"/views/{key}/{action}/", data if method == "post" else {}, **extra)
        responses[key] = normalised(response)
    reference = responses["missing"]
    assert reference[0] == 404
    for key, seen in responses.items():
        assert seen == reference, key
    assert "Bob private" not in reference[1] and "Carol team" not in reference[1]
    # Nothing changed, nothing was copied.
    foreign.refresh_from_db()
    elsewhere.refresh_from_db()
    assert (foreign.name, foreign.query, foreign.shared, foreign.is_default) == (
        "Bob private",
        "order_dir=desc",
        False,
        False,
    )
    assert (elsewhere.name, elsewhere.shared, elsewhere.is_default) == ("Carol team", True, False)
    assert not SavedView.objects.filter(owner=user).exists()


def test_idor_own_view_is_not_copyable(alice: Client, user: User, demo_client: ApiClient) -> None:
    view = make_view(user, "Mine", demo_client, shared=True)
    assert alice.post(f"/views/{view.pk}/copy/").status_code == 404
    assert SavedView.objects.count() == 1


def test_idor_foreign_view_id_in_list_url_is_not_applied(
    alice: Client, other_user: User, demo_client: ApiClient
) -> None:
    foreign = make_view(other_user, "Bob private", demo_client, query="order_dir=desc")
    response = alice.get(f"/connections/?ctx={demo_client.pk}&view={foreign.pk}")
    assert response.status_code == 200
    assert response.context["listing"].view is None
    assert "Bob private" not in body_of(response)


# --- opening the list: the default view ------------------------------------------------


def test_list_without_params_redirects_to_default_view(
    alice: Client, user: User, demo_client: ApiClient, upstream: SandboxApp
) -> None:
    view = make_view(user, "Desc", demo_client, query="order_dir=desc", is_default=True)
    response = alice.get("/connections/")
    assert response.status_code == 302
    assert (
        response["Location"] == f"/connections/?ctx={demo_client.pk}&view={view.pk}&order_dir=desc"
    )
    assert list(upstream.seen) == []
    page = alice.get(response["Location"])
    assert page.status_code == 200
    assert page.context["listing"].view == view


def test_list_without_default_view_does_not_redirect(
    alice: Client, user: User, demo_client: ApiClient
) -> None:
    make_view(user, "Desc", demo_client, query="order_dir=desc")
    assert alice.get("/connections/").status_code == 200


def test_list_with_params_ignores_default_view(
    alice: Client, user: User, demo_client: ApiClient
) -> None:
    make_view(user, "Desc", demo_client, query="order_dir=desc", is_default=True)
    assert alice.get(f"/connections/?ctx={demo_client.pk}").status_code == 200


def test_list_default_view_in_lost_context_does_not_lock_out(
    alice: Client, user: User, demo_client: ApiClient, harbor_client: ApiClient
) -> None:
    view = make_view(user, "Harbor", harbor_client, is_default=True)
    harbor_client.users.remove(user)
    response = alice.get("/connections/", follow=True)
    assert response.status_code == 200
    assert response.context["listing"].ctx.client == demo_client
    assert f"view={view.pk}" not in body_of(response)


# --- applying a view -------------------------------------------------------------------


def _view_item(body: str, name: str) -> str:
    """The <li> of one view in the "My views" panel."""
    items = re.findall(r"<li class=\"[^\"]*\">.*?</li>", body, re.S)
    found = [i for i in items if name in i]
    assert len(found) == 1, name
    return found[0]


def test_apply_view_highlights_it(alice: Client, user: User, demo_client: ApiClient) -> None:
    view = make_view(user, "Desc", demo_client, query="order_dir=desc")
    other = make_view(user, "Plain", demo_client)
    url = saved_view_url(view)
    assert params_of(url)["view"] == [str(view.pk)]
    response = alice.get(url)
    assert response.status_code == 200
    body = body_of(response)
    assert 'class="active"' in _view_item(body, "Desc")
    assert 'aria-current="true"' in _view_item(body, "Desc")
    assert 'aria-current="true"' not in _view_item(body, "Plain")
    assert "· view “Desc”" in body
    assert "(modified)" not in body
    assert other.pk != view.pk


def test_apply_view_modified_when_filters_differ(
    alice: Client, user: User, demo_client: ApiClient
) -> None:
    view = make_view(user, "Desc", demo_client, query="order_dir=desc")
    response = alice.get(saved_view_url(view) + "&statuses=connected")
    body = body_of(response)
    assert "· view “Desc” (modified)" in body
    assert "“Desc” is modified." in body
    assert f'action="/views/{view.pk}/update/"' in body


def test_apply_view_page_change_is_not_a_modification(
    alice: Client, user: User, demo_client: ApiClient
) -> None:
    view = make_view(user, "Desc", demo_client, query="order_dir=desc")
    body = body_of(alice.get(saved_view_url(view) + "&offset=20"))
    assert "· view “Desc”" in body
    assert "(modified)" not in body


def test_apply_view_htmx_results_request(alice: Client, user: User, demo_client: ApiClient) -> None:
    view = make_view(user, "Desc", demo_client, query="order_dir=desc")
    response = alice.get(
        saved_view_url(view) + "&statuses=connected",
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="results",
    )
    assert response.status_code == 200
    assert "(modified)" in body_of(response)
    assert f"view={view.pk}" in response["HX-Push-Url"]


# --- shared views ----------------------------------------------------------------------


def test_shared_view_visible_read_only_to_users_with_access(
    alice: Client, other_user: User, demo_client: ApiClient
) -> None:
    shared = make_view(other_user, "Team desc", demo_client, query="order_dir=desc", shared=True)
    body = body_of(alice.get("/connections/?order_dir=desc"))
    assert "Shared with me" in body
    assert "Team desc" in body
    assert "by bob" in body
    assert f'action="/views/{shared.pk}/copy/"' in body
    for action in ("rename", "update", "default", "share", "confirm-delete"):
        assert f"/views/{shared.pk}/{action}/" not in body
    assert saved_view_url(shared) in body.replace("&amp;", "&")


def test_shared_view_invisible_without_access(
    client: Client, carol: User, other_user: User, demo_client: ApiClient, upstream: SandboxApp
) -> None:
    shared = make_view(other_user, "Team desc", demo_client, shared=True)
    client.force_login(carol)
    body = body_of(client.get("/connections/?order_dir=desc"))
    assert "Team desc" not in body
    assert "Shared with me" not in body
    assert client.post(f"/views/{shared.pk}/copy/").status_code == 404
    assert not SavedView.objects.filter(owner=carol).exists()


def test_shared_view_unshared_disappears(
    alice: Client, other_user: User, demo_client: ApiClient
) -> None:
    view = make_view(other_user, "Team desc", demo_client, shared=True)
    assert "Team desc" in body_of(alice.get("/connections/?order_dir=desc"))
    view.shared = False
    view.save()
    assert "Team desc" not in body_of(alice.get("/connections/?order_dir=desc"))
    assert alice.post(f"/views/{view.pk}/copy/").status_code == 404


def test_shared_view_invisible_after_losing_access(
    alice: Client, user: User, other_user: User, harbor_client: ApiClient
) -> None:
    harbor_client.users.add(other_user)
    view = make_view(other_user, "Harbor team", harbor_client, shared=True)
    assert "Harbor team" in body_of(alice.get("/connections/?order_dir=desc"))
    harbor_client.users.remove(user)
    assert "Harbor team" not in body_of(alice.get("/connections/?order_dir=desc"))
    assert alice.post(f"/views/{view.pk}/copy/").status_code == 404


def test_shared_view_copy_then_own_it(
    alice: Client, user: User, other_user: User, demo_client: ApiClient
) -> None:
    shared = make_view(other_user, "Team", demo_client, query="order_dir=desc", shared=True)
    alice.post(f"/views/{shared.pk}/copy/")
    copy = SavedView.objects.get(owner=user, name="Team")
    assert "Copied “Team” to your views as “Team”." in list_messages(alice)
    assert alice.post(f"/views/{copy.pk}/rename/", {"name": "Ours"}).status_code == 302
    assert SavedView.objects.get(pk=shared.pk).name == "Team"


@pytest.mark.parametrize("htmx", [False, True])
def test_view_copy_twice_asks_for_the_name(
    alice: Client, user: User, other_user: User, demo_client: ApiClient, htmx: bool
) -> None:
    shared = make_view(other_user, "Team", demo_client, query="order_dir=desc", shared=True)
    page = PAGE.format(ctx=demo_client.pk)
    extra = hx(page) if htmx else {}
    assert alice.post(f"/views/{shared.pk}/copy/", {"next": page}, **extra).status_code in (
        200,
        302,
    )
    response = alice.post(f"/views/{shared.pk}/copy/", {"next": page}, **extra)
    assert response.status_code == 422
    assert response["Content-Type"].startswith("text/html")
    body = body_of(response)
    assert field_error(body, f"err-copy-{shared.pk}") == (
        "You already have a view named “Team”; choose another name."
    )
    assert f'<input id="copy-{shared.pk}" name="name" maxlength="100" required value="Team"' in body
    assert SavedView.objects.filter(owner=user).count() == 1  # no "Team (2)"
    if htmx:
        assert body.lstrip().startswith(f'<form method="post" action="/views/{shared.pk}/copy/"')
        assert "<html" not in body
    else:
        assert "<h1>The view “Team” was not copied</h1>" in body
        assert f'<a href="{escape(page)}">Back to the connections</a>' in body

    response = alice.post(f"/views/{shared.pk}/copy/", {"next": page, "name": "Team B"}, **extra)
    copy = SavedView.objects.get(owner=user, name="Team B")
    assert landed(response, htmx) == (
        f"/connections/?ctx={demo_client.pk}&view={copy.pk}&order_dir=desc"
    )


def test_view_copy_with_a_bad_name_keeps_what_was_typed(
    alice: Client, user: User, other_user: User, demo_client: ApiClient
) -> None:
    shared = make_view(other_user, "Team", demo_client, shared=True)
    make_view(user, "Taken", demo_client)
    response = alice.post(f"/views/{shared.pk}/copy/", {"name": "taken "})
    assert response.status_code == 422
    body = body_of(response)
    assert field_error(body, f"err-copy-{shared.pk}") == (
        "You already have a view named “taken”; choose another name."
    )
    assert 'value="taken "' in body
    assert SavedView.objects.filter(owner=user).count() == 1


# --- a view whose context is gone ------------------------------------------------------


def test_view_in_lost_context_listed_as_unavailable(
    alice: Client, user: User, harbor_client: ApiClient
) -> None:
    view = make_view(user, "Harbor only", harbor_client, query="order_dir=desc")
    harbor_client.users.remove(user)
    body = body_of(alice.get("/connections/?order_dir=desc"))
    item = _view_item(body, "Harbor only")
    assert "unavailable: no access to its context" in item
    assert "<a href" not in item.split("<details")[0]
    assert f"view={view.pk}" not in body


def test_view_in_disabled_client_listed_as_unavailable(
    alice: Client, user: User, harbor_client: ApiClient
) -> None:
    make_view(user, "Harbor only", harbor_client)
    harbor_client.enabled = False
    harbor_client.save()
    item = _view_item(body_of(alice.get("/connections/?order_dir=desc")), "Harbor only")
    assert "unavailable: no access to its context" in item


def test_view_with_deleted_client_listed_as_unavailable(
    alice: Client, user: User, harbor_client: ApiClient
) -> None:
    make_view(user, "Harbor only", harbor_client)
    harbor_client.delete()
    item = _view_item(body_of(alice.get("/connections/?order_dir=desc")), "Harbor only")
    assert "unavailable: no access to its context" in item


def test_view_in_lost_context_opened_by_url_is_403_without_upstream_call(
    alice: Client, user: User, harbor_client: ApiClient, upstream: SandboxApp
) -> None:
    view = make_view(user, "Harbor only", harbor_client)
    url = saved_view_url(view)
    harbor_client.users.remove(user)
    response = alice.get(url)
    assert response.status_code == 403
    assert list(upstream.seen) == []


# --- tampered stored data --------------------------------------------------------------


def test_tampered_stored_query_opens_with_a_message(
    alice: Client, user: User, demo_client: ApiClient, upstream: SandboxApp
) -> None:
    view = make_view(user, "Odd", demo_client, query="order_dir=desc")
    SavedView.objects.filter(pk=view.pk).update(query="limit=999&order_by=x")
    view.refresh_from_db()
    url = saved_view_url(view)
    assert params_of(url)["limit"] == ["100"]
    assert "order_by" not in params_of(url)
    response = alice.get(url)
    assert response.status_code == 200
    item = _view_item(body_of(response), "Odd")
    assert "some saved filters are no longer valid" in item
    call = [s for s in upstream.seen if s.path.endswith("/host-connections")][-1]
    assert "limit=100" in call.query
    assert "order_by=host_name" in call.query


def test_tampered_stored_query_as_default_view(
    alice: Client, user: User, demo_client: ApiClient
) -> None:
    view = make_view(user, "Odd", demo_client, is_default=True)
    SavedView.objects.filter(pk=view.pk).update(query="limit=999&order_by=x&%00=%ff")
    response = alice.get("/connections/", follow=True)
    assert response.status_code == 200
    assert "some saved filters are no longer valid" in body_of(response)


def test_tampered_query_in_view_url_explains_each_bad_value(
    alice: Client, user: User, demo_client: ApiClient
) -> None:
    view = make_view(user, "Odd", demo_client)
    response = alice.get(f"/connections/?ctx={demo_client.pk}&view={view.pk}&limit=999&order_by=x")
    assert response.status_code == 200
    body = body_of(response)
    assert "Rows per page must be 20, 50 or 100" in body
    assert "is not a valid column to sort by" in body


# --- escaping --------------------------------------------------------------------------


def test_view_name_is_escaped_everywhere(
    alice: Client, client: Client, user: User, other_user: User, demo_client: ApiClient
) -> None:
    response = alice.post("/views/", {"name": XSS, "query": "order_dir=desc"})
    view = SavedView.objects.get(name=XSS)
    assert XSS not in response["Location"]
    pages = [
        alice.get(response["Location"]),  # list, panel, "Saved view" message
        alice.get(f"/views/{view.pk}/confirm-delete/"),
        alice.get(saved_view_url(view) + "&statuses=connected"),  # the "modified" box
    ]
    alice.post(f"/views/{view.pk}/share/", {"shared": "1"})
    bob = FormClient()
    bob.force_login(other_user)
    pages.append(bob.get("/connections/?order_dir=desc"))  # "Shared with me"
    escaped = "&lt;img src=x onerror=alert(1)&gt;"
    for page in pages:
        body = body_of(page)
        assert "<img" not in body
        assert escaped in body


def test_views_panel_queries_do_not_grow_with_views(
    alice: Client, user: User, other_user: User, demo_client: ApiClient, harbor_client: ApiClient
) -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert alice.get("/connections/?order_dir=desc").status_code == 200
        return len(captured.captured_queries)

    queries()  # the first request of a session also writes it
    empty = queries()
    for i in range(4):
        make_view(user, f"Mine {i}", demo_client if i % 2 else harbor_client)
        make_view(other_user, f"Bob's {i}", demo_client, shared=True)
    lost = make_client("northwind-credit")  # a context alice cannot use: listed as unavailable
    make_view(user, "Mine, lost", lost)
    body = body_of(alice.get("/connections/?order_dir=desc"))
    assert body.count("by bob") == 4
    assert body.count("Mine ") >= 4
    assert "unavailable: no access to its context" in body
    assert queries() == empty


def test_views_panel_sorted_by_name_ignoring_case(
    alice: Client, user: User, other_user: User, demo_client: ApiClient
) -> None:
    for name in ("beta", "Gamma", "Alpha", "delta"):  # by code point: A, G, b, d
        make_view(user, name, demo_client)
    for name in ("Team Zeta", "team eta"):
        make_view(other_user, name, demo_client, shared=True)
    body = body_of(alice.get("/connections/?order_dir=desc"))
    mine = [body.index(f">{name}</a>") for name in ("Alpha", "beta", "delta", "Gamma")]
    shared = [body.index(f">{name}</a>") for name in ("team eta", "Team Zeta")]
    assert mine == sorted(mine)
    assert shared == sorted(shared)


def test_views_panel_ids_in_the_thousands(
    alice: Client, user: User, demo_client: ApiClient
) -> None:
    view = make_view(user, "Big id", demo_client)
    SavedView.objects.filter(pk=view.pk).update(id=4321)
    body = body_of(alice.get("/connections/?order_dir=desc"))
    assert '<label for="rename-4321">' in body
    assert 'id="rename-4321"' in body
    assert "4,321" not in body


# --- the panel names a view's context where it is not the page's --------------------------


def test_views_panel_shows_the_context_of_views_made_elsewhere(
    alice: Client, user: User, demo_client: ApiClient, harbor_client: ApiClient
) -> None:
    northwind = org_id("northwind-credit")
    make_view(user, "Here", demo_client)
    make_view(user, "Harbor own", harbor_client)
    make_view(user, "Northwind", demo_client, target=northwind)
    response = alice.get(f"/connections/?ctx={demo_client.pk}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    body = body_of(response)
    tag = '<span class="tag tag-ctx"><span class="visually-hidden">made in </span>{}</span>'
    assert "tag-ctx" not in _view_item(body, "Here")
    assert tag.format("Harbor Finance → self") in _view_item(body, "Harbor own")
    assert tag.format("Demo Lender → Northwind Credit") in _view_item(body, "Northwind")

    # In Harbor Finance's own context, the Harbor view is the one at home.
    body = body_of(alice.get(f"/connections/?ctx={harbor_client.pk}"))
    assert "tag-ctx" not in _view_item(body, "Harbor own")
    assert tag.format("Demo Lender → self") in _view_item(body, "Here")


def test_views_panel_context_of_a_lost_client_is_not_looked_up(
    alice: Client, user: User, demo_client: ApiClient, harbor_client: ApiClient
) -> None:
    make_view(user, "Harbor own", harbor_client)
    harbor_client.users.remove(user)
    item = _view_item(body_of(alice.get(f"/connections/?ctx={demo_client.pk}")), "Harbor own")
    assert "unavailable: no access to its context" in item
    assert "tag-ctx" not in item


# --- leaving a modified view: its changes stay reachable ----------------------------------


def unsaved(left: str) -> str:
    """The parameter a link leaving a modified view carries (``left``: its state)."""
    return urlencode({"unsaved": left})


def unsaved_input(html: str) -> str:
    match = re.search(r'<input type="hidden" id="unsaved-from" name="unsaved"[^>]*>', html)
    assert match, "no #unsaved-from"
    return match[0]


@pytest.fixture
def acme_left(user: User, demo_client: ApiClient) -> tuple[SavedView, SavedView, str]:
    """Two of alice's views, and the state of "Acme" modified (a list's query string)."""
    acme = make_view(user, "Acme", demo_client, "search_text=Acme")
    other = make_view(user, "Other", demo_client, "archived=true")
    return acme, other, f"ctx={demo_client.pk}&view={acme.pk}&search_text=Acme&archived=false"


def test_leaving_modified_view_links_carry_its_state(
    alice: Client, demo_client: ApiClient, acme_left: tuple[SavedView, SavedView, str]
) -> None:
    acme, other, modified = acme_left
    html = body_of(alice.get(f"/connections/?{modified}"))
    state = f"ctx={demo_client.pk}&amp;view={acme.pk}&amp;search_text=Acme&amp;archived=false"
    expected = f'name="unsaved" form="ctx-switcher" value="{state}">'
    assert unsaved_input(html).endswith(expected)
    assert '<form class="ctx-switcher" id="ctx-switcher"' in html  # the switcher posts it
    link = re.search(rf'<a href="([^"]+)" hx-get="[^"]+view={other.pk}[^"]*"', html)
    assert link, "no link to the other view"
    assert params_of(link[1].replace("&amp;", "&"))["unsaved"] == [modified]
    # Unmodified: nothing to keep; the input is disabled (htmx leaves it out).
    html = body_of(alice.get(f"/connections/?ctx={demo_client.pk}&view={acme.pk}&search_text=Acme"))
    assert "disabled" in unsaved_input(html)
    assert "unsaved=" not in html


def test_leaving_modified_view_results_update_the_state_out_of_band(
    alice: Client, user: User, demo_client: ApiClient
) -> None:
    acme = make_view(user, "Acme", demo_client, "search_text=Acme")
    url = f"/connections/?ctx={demo_client.pk}&view={acme.pk}&search_text=Acme&limit=50"
    partial = body_of(alice.get(url, **hx(HTTP_HX_TARGET="results")))
    assert 'hx-swap-oob="true"' in unsaved_input(partial)
    assert "limit=50" in unsaved_input(partial)


def test_leaving_modified_view_next_page_leads_back(
    alice: Client, demo_client: ApiClient, acme_left: tuple[SavedView, SavedView, str]
) -> None:
    _, other, left = acme_left
    html = body_of(
        alice.get(
            f"/connections/?ctx={demo_client.pk}&view={other.pk}&archived=true&{unsaved(left)}"
        )
    )
    assert "You left unsaved changes to “Acme”." in html
    back = escape(f"/connections/?{left}")
    assert f'<a class="btn" href="{back}" hx-get="{back}"' in html
    assert "Back to your unsaved changes" in html
    assert "Ignored unknown parameter" not in html
    # For htmx (a panel link), the address keeps the way back, so a reload shows it again.
    url = f"/connections/?ctx={demo_client.pk}&view={other.pk}&archived=true&{unsaved(left)}"
    response = alice.get(url, **hx(HTTP_HX_TARGET="content"))
    assert response["HX-Push-Url"] == url


@pytest.mark.parametrize("case", ["not modified", "not mine", "no access", "bad ctx", "here"])
def test_leaving_modified_view_no_way_back_when_nothing_to_go_back_to(
    alice: Client, user: User, other_user: User, demo_client: ApiClient, case: str
) -> None:
    acme = make_view(user, "Acme", demo_client, "search_text=Acme")
    theirs = make_view(other_user, "Theirs", demo_client, "search_text=Acme")
    quiet = make_client("quiet-bank")
    here = f"ctx={demo_client.pk}&view={acme.pk}&search_text=Acme&archived=false"
    left = {
        "not modified": f"ctx={demo_client.pk}&view={acme.pk}&search_text=Acme",
        "not mine": f"ctx={demo_client.pk}&view={theirs.pk}&archived=false",
        "no access": f"ctx={quiet.pk}&view={acme.pk}&archived=false",
        "bad ctx": f"ctx=javascript:alert(1)&view={acme.pk}&archived=false",
        "here": here,
    }[case]
    html = body_of(alice.get(f"/connections/?{here}&{unsaved(left)}"))
    assert "Acme" in html and "(modified)" in html  # the page itself is the modified view
    assert "Back to your unsaved changes" not in html


def test_leaving_modified_view_by_switching_context_keeps_the_way_back(
    alice: Client, user: User, demo_client: ApiClient, harbor_client: ApiClient
) -> None:
    acme = make_view(user, "Acme", demo_client, "search_text=Acme")
    left = f"ctx={demo_client.pk}&view={acme.pk}&search_text=Acme&archived=false"
    data = {"client": harbor_client.pk, "target": "", "query": "archived=false", "unsaved": left}
    response = alice.post("/context/", data)
    assert response.status_code == 302
    assert params_of(response["Location"])["unsaved"] == [left]
    html = body_of(alice.get(response["Location"]))
    assert "You left unsaved changes to “Acme”." in html
