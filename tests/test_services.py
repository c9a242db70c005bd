"""Saved-view services: the writes, their limits and the races they survive."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.db.models.signals import pre_save

from connections import services
from connections.context import OrgContext
from connections.models import ApiClient, SavedView
from connections.query import ListQuery
from tests.conftest import make_view, org_id

DEMO = org_id("demo-lender")
NORTHWIND = org_id("northwind-credit")


@pytest.fixture
def demo_ctx(demo_client: ApiClient) -> OrgContext:
    return OrgContext(demo_client, DEMO)


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


INVISIBLE_NAMES = {
    "bidi override": ("\u202eDaily\u202c", "Daily"),
    "zero-width space": ("Dai\u200bly", "Daily"),
    "line separator": ("Daily\u2028report", "Dailyreport"),
    "paragraph separator": ("\u2029Daily", "Daily"),
    "byte-order mark": ("\ufeffDaily", "Daily"),
    "bidi isolate": ("\u2066Daily\u2069", "Daily"),
    "soft hyphen": ("Dai\u00adly", "Daily"),
    "C1 control": ("Dai\x85ly", "Daily"),
}


@pytest.mark.parametrize(("raw", "stored"), INVISIBLE_NAMES.values(), ids=INVISIBLE_NAMES)
def test_saved_view_create_strips_invisible_characters(
    user: User, demo_ctx: OrgContext, raw: str, stored: str
) -> None:
    view = services.saved_view_create(owner=user, name=raw, query=ListQuery(), ctx=demo_ctx)
    assert SavedView.objects.get(pk=view.pk).name == stored


def test_saved_view_create_keeps_visible_non_ascii(user: User, demo_ctx: OrgContext) -> None:
    name = "Zürich · 東京 — ok"
    view = services.saved_view_create(owner=user, name=name, query=ListQuery(), ctx=demo_ctx)
    assert SavedView.objects.get(pk=view.pk).name == name


def test_saved_view_create_duplicate_hidden_by_invisible_characters_refused(
    user: User, demo_ctx: OrgContext
) -> None:
    services.saved_view_create(owner=user, name="Weekly", query=ListQuery(), ctx=demo_ctx)
    with pytest.raises(services.SavedViewError, match="already have a view named “Weekly”"):
        services.saved_view_create(
            owner=user, name="Wee\u200bkly\u202e", query=ListQuery(), ctx=demo_ctx
        )


@pytest.mark.parametrize("name", ["", "   ", "\x00\x01", "\u200b\u202e\u2028", "x" * 101])
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
    assert view.name == "Daily"  # the refused name does not linger in the object either


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


def test_saved_view_copy_name_taken_is_refused(
    user: User, other_user: User, demo_client: ApiClient
) -> None:
    original = make_view(other_user, "Team", demo_client, shared=True)
    make_view(user, "team", demo_client)
    with pytest.raises(services.SavedViewNameTaken, match="named “Team”"):
        services.saved_view_copy(view=original, owner=user)
    copy = services.saved_view_copy(view=original, owner=user, name=" Team B ")
    assert copy.name == "Team B"
    assert SavedView.objects.filter(owner=user).count() == 2


def test_saved_view_copy_cleans_a_name_stored_before_the_rule(
    user: User, other_user: User, demo_client: ApiClient
) -> None:
    original = make_view(other_user, "Team\u202e txt.exe", demo_client, shared=True)
    copy = services.saved_view_copy(view=original, owner=user)
    assert copy.name == "Team txt.exe"


def test_saved_view_copy_respects_limit(
    user: User, other_user: User, demo_client: ApiClient, settings
) -> None:
    settings.SAVED_VIEWS_PER_USER = 1
    original = make_view(other_user, "Team", demo_client, shared=True)
    make_view(user, "Mine", demo_client)
    with pytest.raises(services.SavedViewError, match="limit"):
        services.saved_view_copy(view=original, owner=user)
    assert SavedView.objects.filter(owner=user).count() == 1


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
