"""Saved views: the services, the views, the IDOR matrix, sharing and odd stored data."""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.db.models.signals import pre_save
from django.test import Client
from django.test.utils import CaptureQueriesContext

from connections import services
from connections.context import OrgContext
from connections.links import saved_view_url
from connections.models import ApiClient, SavedView
from connections.query import ListQuery
from sandbox import SandboxApp
from tests.conftest import body_of, make_client, org_id

DEMO = org_id("demo-lender")
HARBOR = org_id("harbor-finance")
NORTHWIND = org_id("northwind-credit")
XSS = "<img src=x onerror=alert(1)>"
_CSRF = re.compile(r'(name="csrfmiddlewaretoken" value="|"X-CSRFToken": ")[^"]+')


@pytest.fixture
def demo_ctx(demo_client: ApiClient) -> OrgContext:
    return OrgContext(demo_client, DEMO)


def make_view(owner: User, name: str, client: ApiClient, query: str = "", **kwargs) -> SavedView:
    return SavedView.objects.create(
        owner=owner,
        name=name,
        query=query,
        api_client=client,
        target_org_id=kwargs.pop("target", str(client.organization_id)),
        **kwargs,
    )


def normalised(response) -> tuple[int, str]:
    return response.status_code, _CSRF.sub(r"\1TOKEN", body_of(response))


def list_messages(client: Client, url: str = "/connections/?order_dir=desc") -> str:
    """The page-level messages and the messages shown next to a control."""
    body = body_of(client.get(url))
    page_level = re.search(r'<div id="messages".*?</div>', body, re.S)[0]
    beside = re.findall(r'<p class="error[^"]*" id="err-[^"]*" role="alert">.*?</p>', body, re.S)
    return page_level + "".join(beside)


def test_saved_view_duplicate_name_message_is_next_to_the_name_field(
    alice: Client, user: User, demo_client: ApiClient
) -> None:
    alice.post("/views/", {"name": "Mine", "query": ""})
    alice.post("/views/", {"name": "mine", "query": ""})
    body = body_of(alice.get("/connections/?order_dir=desc"))
    field = re.search(
        r'<p class="error field-error" id="err-save-view" role="alert">(.*?)</p>', body
    )
    assert field is not None
    assert "already have a view named" in field[1]
    assert 'aria-describedby="err-save-view"' in body


def params_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


# --- services: create ------------------------------------------------------------------


def test_saved_view_create_stores_canonical_query_and_context(
    user: User, demo_client: ApiClient
) -> None:
    ctx = OrgContext(demo_client, NORTHWIND)
    query = ListQuery.parse({"order_dir": ["desc"], "offset": ["40"], "limit": ["50"]}).query
    view = services.saved_view_create(owner=user, name="  Mine  ", query=query, ctx=ctx)
    view.refresh_from_db()
    assert view.name == "Mine"
    assert view.query == "order_dir=desc&limit=50"  # canonical, without the position
    assert view.api_client == demo_client
    assert str(view.target_org_id) == NORTHWIND
    assert (view.shared, view.is_default) == (False, False)


def test_saved_view_create_strips_control_characters(user: User, demo_ctx: OrgContext) -> None:
    view = services.saved_view_create(
        owner=user, name="a\x00b\x1fc\x7f", query=ListQuery(), ctx=demo_ctx
    )
    assert view.name == "abc"


@pytest.mark.parametrize("name", ["", "   ", "\x00\x01", "x" * 101])
def test_saved_view_create_invalid_name_refused(
    user: User, demo_ctx: OrgContext, name: str
) -> None:
    with pytest.raises(services.SavedViewError):
        services.saved_view_create(owner=user, name=name, query=ListQuery(), ctx=demo_ctx)
    assert not SavedView.objects.exists()


def test_saved_view_create_name_of_100_characters_accepted(
    user: User, demo_ctx: OrgContext
) -> None:
    view = services.saved_view_create(owner=user, name="x" * 100, query=ListQuery(), ctx=demo_ctx)
    assert len(view.name) == 100


@pytest.mark.parametrize("duplicate", ["Weekly", "weekly", "WEEKLY", " wEEkly ", "wEEKLY\x00"])
def test_saved_view_create_duplicate_name_case_insensitive_refused(
    user: User, demo_ctx: OrgContext, duplicate: str
) -> None:
    services.saved_view_create(owner=user, name="Weekly", query=ListQuery(), ctx=demo_ctx)
    with pytest.raises(services.SavedViewError, match="already have a view named"):
        services.saved_view_create(owner=user, name=duplicate, query=ListQuery(), ctx=demo_ctx)
    assert SavedView.objects.count() == 1


def test_saved_view_create_duplicate_non_ascii_name_refused(
    user: User, demo_ctx: OrgContext
) -> None:
    services.saved_view_create(owner=user, name="Zürich", query=ListQuery(), ctx=demo_ctx)
    with pytest.raises(services.SavedViewError, match="already have a view named"):
        services.saved_view_create(owner=user, name="ZÜRICH", query=ListQuery(), ctx=demo_ctx)


def test_saved_view_create_same_name_other_owner_allowed(
    user: User, other_user: User, demo_ctx: OrgContext
) -> None:
    services.saved_view_create(owner=user, name="Weekly", query=ListQuery(), ctx=demo_ctx)
    services.saved_view_create(owner=other_user, name="weekly", query=ListQuery(), ctx=demo_ctx)
    assert SavedView.objects.count() == 2


def test_saved_view_unique_name_enforced_by_database(user: User, demo_client: ApiClient) -> None:
    make_view(user, "Weekly", demo_client)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_view(user, "WEEKLY", demo_client)


def test_saved_view_create_race_duplicate_row_created_directly(
    user: User, demo_client: ApiClient, demo_ctx: OrgContext
) -> None:
    make_view(user, "weekly", demo_client)  # another request saved it a moment ago
    with pytest.raises(services.SavedViewError, match="already have a view named"):
        services.saved_view_create(owner=user, name="Weekly", query=ListQuery(), ctx=demo_ctx)
    assert SavedView.objects.filter(owner=user).count() == 1


@contextlib.contextmanager
def saving_views_runs(receiver: Callable[..., None]) -> Iterator[None]:
    """``receiver`` runs just before every SavedView save inside the block."""
    pre_save.connect(receiver, sender=SavedView)
    try:
        yield
    finally:
        pre_save.disconnect(receiver, sender=SavedView)


def _insert_duplicate_on_save(owner: User, client: ApiClient, name: str):
    """A receiver that writes a row with ``name`` just before the service's own write:
    the other request of a race that won after the service's check."""
    fired = []

    def receiver(sender, instance, **kwargs) -> None:
        if fired:
            return
        fired.append(True)
        SavedView.objects.bulk_create(  # bulk_create sends no pre_save: no recursion
            [SavedView(owner=owner, name=name, api_client=client, target_org_id=DEMO)]
        )

    return receiver, fired


def test_saved_view_create_race_insert_during_save_is_a_form_error(
    user: User, demo_client: ApiClient, demo_ctx: OrgContext
) -> None:
    receiver, fired = _insert_duplicate_on_save(user, demo_client, "WEEKLY")
    with (
        saving_views_runs(receiver),
        pytest.raises(services.SavedViewError, match="already have a view named"),
    ):
        services.saved_view_create(owner=user, name="Weekly", query=ListQuery(), ctx=demo_ctx)
    assert fired
    # The transaction is still usable (PostgreSQL aborts it on an unhandled error).
    assert SavedView.objects.filter(owner=user, name="Weekly").count() == 0
    services.saved_view_create(owner=user, name="Other", query=ListQuery(), ctx=demo_ctx)


def test_saved_view_create_race_via_http_is_a_message_not_500(
    alice: Client, user: User, demo_client: ApiClient
) -> None:
    receiver, fired = _insert_duplicate_on_save(user, demo_client, "weekly")
    with saving_views_runs(receiver):
        response = alice.post("/views/", {"name": "Weekly"})
    assert fired
    assert response.status_code == 302
    assert "already have a view named" in list_messages(alice)


def test_saved_view_limit_per_user(
    user: User, other_user: User, demo_ctx: OrgContext, settings
) -> None:
    settings.SAVED_VIEWS_PER_USER = 2
    services.saved_view_create(owner=user, name="one", query=ListQuery(), ctx=demo_ctx)
    services.saved_view_create(owner=user, name="two", query=ListQuery(), ctx=demo_ctx)
    with pytest.raises(services.SavedViewError, match="limit of 2 saved views"):
        services.saved_view_create(owner=user, name="three", query=ListQuery(), ctx=demo_ctx)
    services.saved_view_create(owner=other_user, name="one", query=ListQuery(), ctx=demo_ctx)
    assert SavedView.objects.filter(owner=user).count() == 2


def test_saved_view_limit_per_user_via_http(alice: Client, settings) -> None:
    settings.SAVED_VIEWS_PER_USER = 1
    alice.post("/views/", {"name": "one"})
    response = alice.post("/views/", {"name": "two"})
    assert response.status_code == 302
    assert "limit of 1 saved views" in list_messages(alice)
    assert SavedView.objects.count() == 1


# --- services: rename, update, delete, default, share, copy ----------------------------


def test_saved_view_rename(user: User, demo_client: ApiClient) -> None:
    view = make_view(user, "Old", demo_client)
    services.saved_view_rename(view=view, name=" New ")
    view.refresh_from_db()
    assert view.name == "New"


def test_saved_view_rename_case_only_change_of_itself(user: User, demo_client: ApiClient) -> None:
    view = make_view(user, "weekly", demo_client)
    services.saved_view_rename(view=view, name="Weekly")
    view.refresh_from_db()
    assert view.name == "Weekly"


def test_saved_view_rename_to_taken_name_refused(user: User, demo_client: ApiClient) -> None:
    make_view(user, "Weekly", demo_client)
    view = make_view(user, "Daily", demo_client)
    with pytest.raises(services.SavedViewError, match="already have a view named"):
        services.saved_view_rename(view=view, name="WEEKLY")
    view.refresh_from_db()
    assert view.name == "Daily"


def test_saved_view_rename_race_insert_during_save_is_a_form_error(
    user: User, demo_client: ApiClient
) -> None:
    view = make_view(user, "Daily", demo_client)
    receiver, fired = _insert_duplicate_on_save(user, demo_client, "weekly")
    with (
        saving_views_runs(receiver),
        pytest.raises(services.SavedViewError, match="already have a view named"),
    ):
        services.saved_view_rename(view=view, name="Weekly")
    assert fired
    assert SavedView.objects.get(pk=view.pk).name == "Daily"


@pytest.mark.parametrize("name", ["", "  ", "y" * 101])
def test_saved_view_rename_invalid_name_refused(
    user: User, demo_client: ApiClient, name: str
) -> None:
    view = make_view(user, "Daily", demo_client)
    with pytest.raises(services.SavedViewError):
        services.saved_view_rename(view=view, name=name)
    assert SavedView.objects.get(pk=view.pk).name == "Daily"


def test_saved_view_update_sets_query_and_context(
    user: User, demo_client: ApiClient, harbor_client: ApiClient
) -> None:
    view = make_view(user, "Daily", demo_client, query="order_dir=desc")
    query = ListQuery.parse({"statuses": ["connected"], "offset": ["20"]}).query
    services.saved_view_update(view=view, query=query, ctx=OrgContext(harbor_client, NORTHWIND))
    view.refresh_from_db()
    assert view.query == "statuses=connected"
    assert view.api_client == harbor_client
    assert str(view.target_org_id) == NORTHWIND


def test_saved_view_delete(user: User, demo_client: ApiClient) -> None:
    view = make_view(user, "Daily", demo_client)
    keep = make_view(user, "Weekly", demo_client)
    services.saved_view_delete(view=view)
    assert list(SavedView.objects.all()) == [keep]


def test_saved_view_make_default_keeps_one_default(user: User, demo_client: ApiClient) -> None:
    first = make_view(user, "A", demo_client)
    second = make_view(user, "B", demo_client)
    services.saved_view_make_default(view=first)
    services.saved_view_make_default(view=second)
    assert list(SavedView.objects.filter(owner=user, is_default=True)) == [second]
    services.saved_view_make_default(view=second)  # again: still one
    assert SavedView.objects.filter(owner=user, is_default=True).count() == 1


def test_saved_view_make_default_per_owner(
    user: User, other_user: User, demo_client: ApiClient
) -> None:
    mine = make_view(user, "A", demo_client)
    theirs = make_view(other_user, "A", demo_client)
    services.saved_view_make_default(view=mine)
    services.saved_view_make_default(view=theirs)
    assert SavedView.objects.filter(is_default=True).count() == 2


def test_saved_view_one_default_enforced_by_database(user: User, demo_client: ApiClient) -> None:
    make_view(user, "A", demo_client, is_default=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_view(user, "B", demo_client, is_default=True)


def test_saved_view_clear_default(user: User, demo_client: ApiClient) -> None:
    view = make_view(user, "A", demo_client, is_default=True)
    services.saved_view_clear_default(view=view)
    view.refresh_from_db()
    assert view.is_default is False


def test_saved_view_set_shared(user: User, demo_client: ApiClient) -> None:
    view = make_view(user, "A", demo_client)
    services.saved_view_set_shared(view=view, shared=True)
    assert SavedView.objects.get(pk=view.pk).shared is True
    services.saved_view_set_shared(view=view, shared=False)
    assert SavedView.objects.get(pk=view.pk).shared is False


def test_saved_view_copy_keeps_query_and_context(
    user: User, other_user: User, demo_client: ApiClient
) -> None:
    original = make_view(
        other_user, "Team", demo_client, query="order_dir=desc", target=NORTHWIND, shared=True
    )
    copy = services.saved_view_copy(view=original, owner=user)
    assert copy.pk != original.pk
    assert (copy.owner, copy.name, copy.query) == (user, "Team", "order_dir=desc")
    assert (copy.api_client, str(copy.target_org_id)) == (demo_client, NORTHWIND)
    assert (copy.shared, copy.is_default) == (False, False)


def test_saved_view_copy_picks_a_free_name(
    user: User, other_user: User, demo_client: ApiClient
) -> None:
    original = make_view(other_user, "Team", demo_client, shared=True)
    make_view(user, "team", demo_client)
    make_view(user, "Team (2)", demo_client)
    copy = services.saved_view_copy(view=original, owner=user)
    assert copy.name == "Team (3)"


def test_saved_view_copy_respects_limit(
    user: User, other_user: User, demo_client: ApiClient, settings
) -> None:
    settings.SAVED_VIEWS_PER_USER = 1
    original = make_view(other_user, "Team", demo_client, shared=True)
    make_view(user, "Mine", demo_client)
    with pytest.raises(services.SavedViewError, match="limit"):
        services.saved_view_copy(view=original, owner=user)
    assert SavedView.objects.filter(owner=user).count() == 1


# --- views: every action, full page and htmx -------------------------------------------


@pytest.mark.parametrize("htmx", [False, True])
def test_view_create(alice: Client, user: User, demo_client: ApiClient, htmx: bool) -> None:
    extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = alice.post("/views/", {"name": "Desc", "query": "order_dir=desc"}, **extra)
    view = SavedView.objects.get(owner=user, name="Desc")
    expected = f"/connections/?ctx={demo_client.pk}&view={view.pk}&order_dir=desc"
    if htmx:
        assert response.status_code == 204
        assert response["HX-Location"] == expected
    else:
        assert response.status_code == 302
        assert response["Location"] == expected
    assert view.query == "order_dir=desc"
    assert "Saved view “Desc”." in list_messages(alice, expected)


def test_view_create_duplicate_is_a_message(alice: Client, user: User) -> None:
    alice.post("/views/", {"name": "Desc"})
    response = alice.post("/views/", {"name": "DESC"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert response["HX-Location"].startswith("/connections/?ctx=")  # the same list view
    assert "already have a view named “DESC”" in list_messages(alice)
    assert SavedView.objects.count() == 1


def test_view_create_ignores_invalid_query_parts(alice: Client, user: User) -> None:
    alice.post("/views/", {"name": "Odd", "query": "limit=999&order_by=x&offset=40&evil=1"})
    assert SavedView.objects.get(name="Odd").query == "limit=100"


@pytest.mark.parametrize("htmx", [False, True])
def test_view_rename(alice: Client, user: User, demo_client: ApiClient, htmx: bool) -> None:
    view = make_view(user, "Old", demo_client)
    extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = alice.post(f"/views/{view.pk}/rename/", {"name": "New"}, **extra)
    if htmx:
        assert (response.status_code, response["HX-Location"]) == (204, "/connections/")
    else:
        assert (response.status_code, response["Location"]) == (302, "/connections/")
    assert SavedView.objects.get(pk=view.pk).name == "New"
    assert "Renamed to “New”." in list_messages(alice)


def test_view_rename_duplicate_is_a_message(
    alice: Client, user: User, demo_client: ApiClient
) -> None:
    make_view(user, "Weekly", demo_client)
    view = make_view(user, "Daily", demo_client)
    response = alice.post(f"/views/{view.pk}/rename/", {"name": "weekly"})
    assert response.status_code == 302
    assert "already have a view named" in list_messages(alice)
    assert SavedView.objects.get(pk=view.pk).name == "Daily"


def test_view_redirect_ignores_next(alice: Client, user: User, demo_client: ApiClient) -> None:
    view = make_view(user, "Old", demo_client)
    for evil in (
        "https://evil.example/connections/",
        "//evil.example/connections/",
        "/admin/",
        "/connections/?order_dir=desc",
    ):
        response = alice.post(f"/views/{view.pk}/rename/", {"name": "New", "next": evil})
        assert response["Location"] == "/connections/"


@pytest.mark.parametrize("htmx", [False, True])
def test_view_update(
    alice: Client, user: User, demo_client: ApiClient, harbor_client: ApiClient, htmx: bool
) -> None:
    view = make_view(user, "Daily", harbor_client)
    alice.post("/context/", {"client": demo_client.pk, "target": NORTHWIND})  # the session's
    extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = alice.post(
        f"/views/{view.pk}/update/", {"query": "order_dir=desc&offset=20"}, **extra
    )
    view.refresh_from_db()
    expected = f"/connections/?ctx={demo_client.pk}.{NORTHWIND}&view={view.pk}&order_dir=desc"
    if htmx:
        assert (response.status_code, response["HX-Location"]) == (204, expected)
    else:
        assert (response.status_code, response["Location"]) == (302, expected)
    assert view.query == "order_dir=desc"
    assert (view.api_client, str(view.target_org_id)) == (demo_client, NORTHWIND)


def test_view_confirm_delete_page(alice: Client, user: User, demo_client: ApiClient) -> None:
    view = make_view(user, "Daily", demo_client)
    response = alice.get(f"/views/{view.pk}/confirm-delete/")
    assert response.status_code == 200
    body = body_of(response)
    assert "Delete the view “Daily”?" in body
    assert f'action="/views/{view.pk}/delete/"' in body
    assert SavedView.objects.filter(pk=view.pk).exists()


@pytest.mark.parametrize("htmx", [False, True])
def test_view_delete(alice: Client, user: User, demo_client: ApiClient, htmx: bool) -> None:
    view = make_view(user, "Daily", demo_client)
    extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = alice.post(f"/views/{view.pk}/delete/", **extra)
    assert response.status_code == (204 if htmx else 302)
    assert not SavedView.objects.filter(pk=view.pk).exists()
    assert "Deleted view “Daily”." in list_messages(alice)


@pytest.mark.parametrize("htmx", [False, True])
def test_view_default(alice: Client, user: User, demo_client: ApiClient, htmx: bool) -> None:
    first = make_view(user, "A", demo_client, is_default=True)
    view = make_view(user, "B", demo_client)
    extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = alice.post(f"/views/{view.pk}/default/", {"default": "1"}, **extra)
    assert response.status_code == (204 if htmx else 302)
    assert list(SavedView.objects.filter(is_default=True)) == [view]
    assert SavedView.objects.get(pk=first.pk).is_default is False
    response = alice.post(f"/views/{view.pk}/default/", {"default": "0"}, **extra)
    assert not SavedView.objects.filter(is_default=True).exists()


@pytest.mark.parametrize("htmx", [False, True])
def test_view_share(alice: Client, user: User, demo_client: ApiClient, htmx: bool) -> None:
    view = make_view(user, "A", demo_client)
    extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = alice.post(f"/views/{view.pk}/share/", {"shared": "1"}, **extra)
    assert response.status_code == (204 if htmx else 302)
    assert SavedView.objects.get(pk=view.pk).shared is True
    alice.post(f"/views/{view.pk}/share/", {"shared": "0"}, **extra)
    assert SavedView.objects.get(pk=view.pk).shared is False


@pytest.mark.parametrize("htmx", [False, True])
def test_view_copy(
    alice: Client, user: User, other_user: User, demo_client: ApiClient, htmx: bool
) -> None:
    original = make_view(other_user, "Team", demo_client, query="order_dir=desc", shared=True)
    extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = alice.post(f"/views/{original.pk}/copy/", **extra)
    copy = SavedView.objects.get(owner=user)
    expected = f"/connections/?ctx={demo_client.pk}&view={copy.pk}&order_dir=desc"
    location = response["HX-Location"] if htmx else response["Location"]
    assert (response.status_code, location) == ((204 if htmx else 302), expected)
    assert copy.query == "order_dir=desc"
    assert SavedView.objects.get(pk=original.pk).owner == other_user


def test_view_copy_limit_is_a_message(
    alice: Client, user: User, other_user: User, demo_client: ApiClient, settings
) -> None:
    settings.SAVED_VIEWS_PER_USER = 1
    make_view(user, "Mine", demo_client)
    original = make_view(other_user, "Team", demo_client, shared=True)
    response = alice.post(f"/views/{original.pk}/copy/")
    assert response.status_code == 302
    assert "limit of 1 saved views" in list_messages(alice)


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
IDOR_IDS = ["foreign", "foreign_shared_elsewhere", "missing", "abc", "1;drop", "-1", "1.0"]


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
    missing = max(foreign.pk, elsewhere.pk) + 1000
    ids = {
        "foreign": str(foreign.pk),
        "foreign_shared_elsewhere": str(elsewhere.pk),
        "missing": str(missing),
        "abc": "abc",
        "1;drop": "1;drop",
        "-1": "-1",
        "1.0": "1.0",
    }
    extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    data = {"name": "Hacked", "query": "statuses=connected", "default": "1", "shared": "1"}
    responses = {}
    for key in IDOR_IDS:
        send = getattr(alice, method)
        response = send(f"/views/{ids[key]}/{action}/", data if method == "post" else {}, **extra)
        assert response.resolver_match.url_name == url_name
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
    make_view(user, "Team", demo_client)
    alice.post(f"/views/{shared.pk}/copy/")
    copy = SavedView.objects.get(owner=user, name="Team (2)")
    assert "Copied “Team” to your views as “Team (2)”." in list_messages(alice)
    assert alice.post(f"/views/{copy.pk}/rename/", {"name": "Ours"}).status_code == 302
    assert SavedView.objects.get(pk=shared.pk).name == "Team"


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
    bob = Client()
    bob.force_login(other_user)
    pages.append(bob.get("/connections/?order_dir=desc"))  # "Shared with me"
    escaped = "&lt;img src=x onerror=alert(1)&gt;"
    for page in pages:
        body = body_of(page)
        assert "<img" not in body
        assert escaped in body


def test_saved_view_rejected_save_keeps_filters_and_name(
    alice: Client, user: User, demo_client: ApiClient
) -> None:
    make_view(user, "Taken", demo_client)
    response = alice.post(
        "/views/", {"name": "taken", "ctx": str(demo_client.pk), "query": "order_dir=desc"}
    )
    assert response.status_code == 302
    assert response["Location"] == f"/connections/?ctx={demo_client.pk}&order_dir=desc"
    body = body_of(alice.get(response["Location"]))
    assert 'id="err-save-view"' in body
    assert 'value="taken"' in body


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


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="a race between two database connections: make test-postgres runs it",
)
def test_saved_view_make_default_race_on_postgresql(user: User, demo_client: ApiClient) -> None:
    """A pauses after clearing the old default; B makes another view default meanwhile.
    Without the lock B commits first and A breaks the one-default constraint."""
    a = make_view(user, "A", demo_client)
    b = make_view(user, "B", demo_client)
    a_is_saving, b_done = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def pause_a(sender, instance, **kwargs) -> None:
        if instance.pk == a.pk and threading.current_thread().name == "A":
            a_is_saving.set()
            b_done.wait(0.5)  # B finishes here without the lock, or waits for A with it

    def run(name: str, view: SavedView, before: threading.Event | None) -> None:
        try:
            if before is not None:
                before.wait(5)
            services.saved_view_make_default(view=SavedView.objects.get(pk=view.pk))
        except BaseException as exc:
            errors.append(exc)
        finally:
            if name == "B":
                b_done.set()
            connection.close()

    with saving_views_runs(pause_a):
        threads = [
            threading.Thread(target=run, args=("A", a, None), name="A"),
            threading.Thread(target=run, args=("B", b, a_is_saving), name="B"),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert not any(thread.is_alive() for thread in threads), "a change hung"
        assert a_is_saving.is_set(), "A never paused: the race did not happen"
    assert errors == []
    assert list(SavedView.objects.filter(owner=user, is_default=True)) == [
        SavedView.objects.get(pk=b.pk)
    ]
