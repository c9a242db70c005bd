"""Selectors: who may use which API client, and which saved views a user sees."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser, Group, User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from connections import selectors
from connections.models import ApiClient
from tests.conftest import make_client, make_view


def test_api_client_list_direct_and_group_access_once_by_name(
    user: User, demo_client: ApiClient, harbor_client: ApiClient
) -> None:
    group = Group.objects.create(name="ops")
    user.groups.add(group)
    demo_client.groups.add(group)  # alice has it directly too
    zeta = make_client("northwind-credit", name="zeta")
    zeta.groups.add(group)
    alpha = make_client("quiet-bank", name="Alpha")
    alpha.users.add(user)
    names = [c.name for c in selectors.api_client_list(user=user)]
    assert names == ["Alpha", "Demo Lender", "Harbor Finance", "zeta"]


def test_api_client_list_leaves_out_disabled_and_others(
    user: User, other_user: User, harbor_client: ApiClient
) -> None:
    harbor_client.enabled = False
    harbor_client.save()
    assert [c.name for c in selectors.api_client_list(user=user)] == ["Demo Lender"]
    assert selectors.api_client_list(user=AnonymousUser()) == []


def test_saved_view_get_own_only(user: User, other_user: User, demo_client: ApiClient) -> None:
    mine = make_view(user, "Mine", demo_client)
    theirs = make_view(other_user, "Theirs", demo_client, shared=True)
    assert selectors.saved_view_get(user=user, view_id=mine.pk) == mine
    assert selectors.saved_view_get(user=user, view_id=str(mine.pk)) == mine
    assert selectors.saved_view_get(user=user, view_id=theirs.pk) is None
    assert selectors.saved_view_get(user=user, view_id=theirs.pk + 1000) is None


@pytest.mark.parametrize("raw", ["", None, "abc", "-1", "1.0", " 1", "١", "²", "9" * 40])  # noqa: RUF001
def test_saved_view_get_malformed_id_is_none(
    user: User, demo_client: ApiClient, raw: str | None
) -> None:
    make_view(user, "Mine", demo_client)
    assert selectors.saved_view_get(user=user, view_id=raw) is None


def test_saved_view_get_shared_is_another_users_shared_view_in_a_usable_context(
    user: User, other_user: User, carol: User, demo_client: ApiClient
) -> None:
    shared = make_view(other_user, "Team", demo_client, shared=True)
    private = make_view(other_user, "Private", demo_client)
    own = make_view(user, "Mine", demo_client, shared=True)
    elsewhere = make_view(carol, "Elsewhere", make_client("quiet-bank"), shared=True)
    assert selectors.saved_view_get_shared(user=user, view_id=shared.pk) == shared
    for view in (private, own, elsewhere):
        assert selectors.saved_view_get_shared(user=user, view_id=view.pk) is None, view.name


def test_saved_view_get_default(user: User, other_user: User, demo_client: ApiClient) -> None:
    assert selectors.saved_view_get_default(user=user) is None
    make_view(other_user, "Theirs", demo_client, is_default=True)
    make_view(user, "Plain", demo_client)
    default = make_view(user, "Default", demo_client, is_default=True)
    assert selectors.saved_view_get_default(user=user) == default


def test_saved_view_count_own_views(user: User, other_user: User, demo_client: ApiClient) -> None:
    make_view(user, "A", demo_client)
    make_view(user, "B", demo_client)
    make_view(other_user, "C", demo_client)
    assert selectors.saved_view_count(user=user) == 2


def test_saved_view_list_panel_one_query_by_name_ignoring_case(
    user: User, other_user: User, demo_client: ApiClient, harbor_client: ApiClient
) -> None:
    for name in ("beta", "Gamma", "Alpha"):
        make_view(user, name, demo_client)
    lost = make_view(user, "delta", make_client("quiet-bank"))  # no longer usable: still mine
    make_view(other_user, "Team Zeta", demo_client, shared=True)
    make_view(other_user, "team eta", demo_client, shared=True)
    make_view(other_user, "Unshared", demo_client)
    clients = selectors.api_client_list(user=user)
    with CaptureQueriesContext(connection) as queries:
        mine, shared = selectors.saved_view_list_panel(user=user, clients=clients)
        names = {v.api_client.name for v in mine if v.api_client_id != lost.api_client_id}
    assert len(queries.captured_queries) == 1  # clients given, not queried again
    assert names == {"Demo Lender"}
    assert [v.name for v in mine] == ["Alpha", "beta", "delta", "Gamma"]
    assert [v.name for v in shared] == ["team eta", "Team Zeta"]
    assert {v.owner_name for v in shared} == {"bob"}
