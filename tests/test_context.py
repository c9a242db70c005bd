"""connections/context.py: ctx keys, switching, tampering, access checks, revocation.

Every upstream call must carry the page's context's requester and target (the URL's
``ctx``, else the session's), whatever else the browser sends; a context the user may
not use is refused before any upstream call. Only the switcher's POST stores a context.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from connections import selectors
from connections.models import ApiClient, AuditEvent, SavedView
from sandbox import SandboxApp
from tests.conftest import make_client, org_id

DEMO = org_id("demo-lender")
HARBOR = org_id("harbor-finance")
NORTHWIND = org_id("northwind-credit")
QUIET = org_id("quiet-bank")
SECRET_DEMO = "sandbox-secret-demo-lender"


def api_calls(sandbox: SandboxApp) -> list:
    """The data calls the sandbox received (token calls excluded)."""
    return [s for s in sandbox.seen if "/host-connections" in s.path]


def session_ctx(client: Client) -> dict | None:
    return client.session.get("org_ctx")


def assert_calls_use(sandbox: SandboxApp, requester: str, target: str) -> None:
    """Every data call carried exactly this requester and target, and nothing else."""
    calls = api_calls(sandbox)
    assert calls, "expected at least one upstream call"
    for call in calls:
        assert call.headers["requester-organization-id"] == requester
        assert call.headers["target-organization-id"] == target
        assert "organization" not in call.query.lower()


def switch(client: Client, api_client: ApiClient, target: str = "") -> None:
    """The header's switcher: the one way to change the session's context."""
    response = client.post("/context/", {"client": api_client.pk, "target": target})
    assert response.status_code == 302


@pytest.fixture
def northwind_client(db) -> ApiClient:
    return make_client("northwind-credit")


# --- the default context and ctx keys --------------------------------------------------


def test_context_default_is_first_client_self(alice: Client, upstream: SandboxApp) -> None:
    response = alice.get("/connections/?limit=20")
    assert response.status_code == 200
    assert session_ctx(alice) is None  # worked out on each request, never stored by a GET
    assert_calls_use(upstream, DEMO, DEMO)


def test_context_key_is_the_pages_context_only(
    alice: Client, harbor_client: ApiClient, upstream: SandboxApp
) -> None:
    response = alice.get(f"/connections/?ctx={harbor_client.pk}")
    assert response.status_code == 200
    assert "Harbor Finance → self" in response.content.decode()
    assert_calls_use(upstream, HARBOR, HARBOR)
    assert session_ctx(alice) is None
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.CONTEXT_SWITCH).exists()
    upstream.seen.clear()
    assert alice.get("/connections/?order_dir=desc").status_code == 200  # another tab
    assert_calls_use(upstream, DEMO, DEMO)


def test_context_key_with_target_acts_on_target(
    alice: Client, demo_client: ApiClient, upstream: SandboxApp
) -> None:
    response = alice.get(f"/connections/?ctx={demo_client.pk}.{NORTHWIND}")
    assert response.status_code == 200
    naming = f"/host-connections/{NORTHWIND}"  # the target's name, asked in the own context
    kept = [s for s in upstream.seen if not s.path.endswith(naming)]
    upstream.seen.clear()
    upstream.seen.extend(kept)
    assert_calls_use(upstream, DEMO, NORTHWIND)


def test_context_switch_is_audited_once_and_links_never(
    alice: Client, demo_client: ApiClient, harbor_client: ApiClient, upstream: SandboxApp
) -> None:
    switch(alice, harbor_client)
    assert session_ctx(alice) == {"client": harbor_client.pk, "target": HARBOR}
    events = AuditEvent.objects.filter(action=AuditEvent.Action.CONTEXT_SWITCH)
    assert events.get().detail == {"client": harbor_client.pk, "target": HARBOR}
    alice.get(f"/connections/?ctx={harbor_client.pk}&order_dir=desc")
    alice.get(f"/connections/?ctx={demo_client.pk}.{NORTHWIND}")
    assert events.count() == 1
    assert session_ctx(alice)["client"] == harbor_client.pk
    upstream.seen.clear()
    alice.get("/connections/")  # the session's context, as the switcher left it
    assert_calls_use(upstream, HARBOR, HARBOR)


@pytest.mark.parametrize("path", ["/connections/", f"/connections/{NORTHWIND}/"])
def test_context_key_foreign_client_is_403_without_upstream_call(
    alice: Client, northwind_client: ApiClient, upstream: SandboxApp, path: str
) -> None:
    alice.get("/healthz")  # a session exists, but no upstream call yet
    response = alice.get(f"{path}?ctx={northwind_client.pk}")
    assert response.status_code == 403
    assert "You do not have access to this API client" in response.content.decode()
    assert list(upstream.seen) == []
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.CONTEXT_SWITCH).exists()


def test_context_key_foreign_client_on_export_is_403_without_upstream_call(
    alice: Client, northwind_client: ApiClient, upstream: SandboxApp
) -> None:
    response = alice.get(f"/connections/export.csv?ctx={northwind_client.pk}")
    assert response.status_code == 403
    assert "You do not have access to this API client" in response.content.decode()
    assert list(upstream.seen) == []


def test_context_key_foreign_client_keeps_session_context(
    alice: Client, harbor_client: ApiClient, northwind_client: ApiClient
) -> None:
    switch(alice, harbor_client)
    before = session_ctx(alice)
    assert alice.get(f"/connections/?ctx={northwind_client.pk}").status_code == 403
    assert session_ctx(alice) == before


@pytest.mark.parametrize(
    "key",
    [
        "",
        "abc",
        "1.not-a-uuid",
        "1;2",
        "-1",
        "1 OR 1=1",
        "99999999",
        "9999999999999",
        ".",
        "99999999.",
    ],
)
def test_context_key_malformed_or_unknown_is_403_without_upstream_call(
    alice: Client, upstream: SandboxApp, key: str
) -> None:
    response = alice.get("/connections/", {"ctx": key})
    assert response.status_code == 403
    body = response.content.decode()
    assert "does not exist" in body or "do not have access" in body
    assert list(upstream.seen) == []


def test_context_user_without_clients_gets_403_naming_missing_access(
    client: Client, db, upstream: SandboxApp
) -> None:
    client.force_login(User.objects.create_user("nobody", password="x"))
    response = client.get("/connections/")
    assert response.status_code == 403
    assert "no API client yet" in response.content.decode()
    assert list(upstream.seen) == []


# --- tampering -------------------------------------------------------------------------

SMUGGLED_PARAMS = {
    "Requester-Organization-ID": HARBOR,
    "Target-Organization-ID": NORTHWIND,
    "requester_organization_id": HARBOR,
    "target_organization_id": NORTHWIND,
    "requester_org_id": HARBOR,
    "target_org_id": NORTHWIND,
    "target": NORTHWIND,
    "client": "999",
}
SMUGGLED_HEADERS = {
    "HTTP_REQUESTER_ORGANIZATION_ID": HARBOR,
    "HTTP_TARGET_ORGANIZATION_ID": NORTHWIND,
    "HTTP_X_REQUESTER_ORGANIZATION_ID": HARBOR,
    "HTTP_X_TARGET_ORGANIZATION_ID": NORTHWIND,
}


@pytest.mark.parametrize("path", ["/connections/", "/connections/export.csv?scope=page"])
def test_tampering_query_string_never_reaches_upstream(
    alice: Client, upstream: SandboxApp, path: str
) -> None:
    response = alice.get(path, SMUGGLED_PARAMS)
    if hasattr(response, "streaming_content"):
        b"".join(response.streaming_content)
    assert response.status_code in (200, 400)
    alice.get("/connections/")  # the list always calls upstream
    assert_calls_use(upstream, DEMO, DEMO)
    assert session_ctx(alice) is None


def test_tampering_request_headers_never_reach_upstream(
    alice: Client, upstream: SandboxApp
) -> None:
    response = alice.get("/connections/", **SMUGGLED_HEADERS)
    assert response.status_code == 200
    host = HARBOR  # a row of demo's list: Harbor Finance is one of its hosts
    detail = alice.get(f"/connections/{host}/", **SMUGGLED_HEADERS)
    assert detail.status_code == 200
    assert_calls_use(upstream, DEMO, DEMO)
    assert session_ctx(alice) is None


def test_tampering_htmx_request_with_hx_vals_params_never_reaches_upstream(
    alice: Client, upstream: SandboxApp
) -> None:
    response = alice.get(
        "/connections/",
        {**SMUGGLED_PARAMS, "order_dir": "desc"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="results",
        **SMUGGLED_HEADERS,
    )
    assert response.status_code == 200
    assert_calls_use(upstream, DEMO, DEMO)


def test_tampering_duplicate_ctx_params_cannot_mix_contexts(
    alice: Client, demo_client: ApiClient, northwind_client: ApiClient, upstream: SandboxApp
) -> None:
    response = alice.get(f"/connections/?ctx={demo_client.pk}&ctx={northwind_client.pk}")
    assert response.status_code == 403
    assert list(upstream.seen) == []
    response = alice.get(f"/connections/?ctx={northwind_client.pk}&ctx={demo_client.pk}")
    assert response.status_code == 200  # the last one, as QueryDict.get reads it
    assert_calls_use(upstream, DEMO, DEMO)


def test_tampering_form_fields_on_view_create_use_session_context(
    alice: Client, user: User, other_user: User, demo_client: ApiClient, northwind_client: ApiClient
) -> None:
    response = alice.post(
        "/views/",
        {
            "name": "Smuggled",
            "query": "order_dir=desc",
            "api_client": northwind_client.pk,
            "target_org_id": NORTHWIND,
            "owner": other_user.pk,
            "shared": "1",
            "is_default": "1",
            **SMUGGLED_PARAMS,
        },
        **SMUGGLED_HEADERS,
    )
    assert response.status_code == 302
    view = SavedView.objects.get(name="Smuggled")
    assert view.owner == user
    assert view.api_client_id == demo_client.pk  # the session's context: the default
    assert str(view.target_org_id) == DEMO
    assert view.shared is False
    assert view.is_default is False


def test_tampering_form_fields_on_context_switch_are_ignored(
    alice: Client, harbor_client: ApiClient, upstream: SandboxApp
) -> None:
    response = alice.post(
        "/context/",
        {
            "client": harbor_client.pk,
            "target": "self",
            **{k: v for k, v in SMUGGLED_PARAMS.items() if k not in ("client", "target")},
        },
        **SMUGGLED_HEADERS,
    )
    assert response.status_code == 302
    assert session_ctx(alice)["target"] == HARBOR
    alice.get(response["Location"], **SMUGGLED_HEADERS)
    assert_calls_use(upstream, HARBOR, HARBOR)
    assert api_calls(upstream)[-1].headers["requester-organization-id"] == HARBOR


# --- revoking access -------------------------------------------------------------------


def test_revoke_user_removed_from_client_takes_effect_next_request(
    alice: Client, user: User, harbor_client: ApiClient, upstream: SandboxApp
) -> None:
    switch(alice, harbor_client)
    assert alice.get("/connections/").status_code == 200
    harbor_client.users.remove(user)
    upstream.seen.clear()
    # The session still names Harbor; the next request must not use it.
    response = alice.get("/connections/?order_dir=desc")
    assert response.status_code == 200
    calls = api_calls(upstream)
    assert calls
    for call in calls:
        assert call.headers["requester-organization-id"] == DEMO
    upstream.seen.clear()
    assert alice.get(f"/connections/?ctx={harbor_client.pk}").status_code == 403
    assert alice.get(f"/connections/{NORTHWIND}/?ctx={harbor_client.pk}").status_code == 403
    assert list(upstream.seen) == []


def test_revoke_client_disabled_takes_effect_next_request(
    alice: Client, harbor_client: ApiClient, upstream: SandboxApp
) -> None:
    assert alice.get(f"/connections/?ctx={harbor_client.pk}").status_code == 200
    harbor_client.enabled = False
    harbor_client.save()
    upstream.seen.clear()
    assert alice.get(f"/connections/?ctx={harbor_client.pk}").status_code == 403
    assert list(upstream.seen) == []
    response = alice.get("/connections/?order_dir=desc")
    assert response.status_code == 200
    assert {c.headers["requester-organization-id"] for c in api_calls(upstream)} == {DEMO}


def test_revoke_last_client_gives_403_and_no_upstream_call(
    client: Client, carol: User, harbor_client: ApiClient, upstream: SandboxApp
) -> None:
    client.force_login(carol)
    assert client.get("/connections/").status_code == 200
    harbor_client.users.remove(carol)
    upstream.seen.clear()
    response = client.get("/connections/")
    assert response.status_code == 403
    assert "no API client yet" in response.content.decode()
    assert client.get(f"/connections/{NORTHWIND}/").status_code == 403
    assert list(upstream.seen) == []


# --- group-based access ----------------------------------------------------------------


@pytest.fixture
def dave_in_group(client: Client, northwind_client: ApiClient) -> tuple[User, Group]:
    """dave, signed in, may use Northwind Credit's client through the group only."""
    group = Group.objects.create(name="northwind-ops")
    northwind_client.groups.add(group)
    dave = User.objects.create_user("dave", password="x")
    dave.groups.add(group)
    client.force_login(dave)
    return dave, group


def test_group_access_grants_client(
    client: Client,
    northwind_client: ApiClient,
    dave_in_group: tuple[User, Group],
    upstream: SandboxApp,
) -> None:
    response = client.get(f"/connections/?ctx={northwind_client.pk}")
    assert response.status_code == 200
    assert api_calls(upstream)[-1].headers["requester-organization-id"] == NORTHWIND


def test_group_access_revoked_by_leaving_group(
    client: Client,
    northwind_client: ApiClient,
    dave_in_group: tuple[User, Group],
    upstream: SandboxApp,
) -> None:
    dave, group = dave_in_group
    assert client.get(f"/connections/?ctx={northwind_client.pk}").status_code == 200
    dave.groups.remove(group)
    upstream.seen.clear()
    assert client.get(f"/connections/?ctx={northwind_client.pk}").status_code == 403
    assert client.get("/connections/").status_code == 403
    assert list(upstream.seen) == []


def test_group_access_revoked_by_removing_group_from_client(
    client: Client,
    northwind_client: ApiClient,
    dave_in_group: tuple[User, Group],
    upstream: SandboxApp,
) -> None:
    _, group = dave_in_group
    assert client.get("/connections/").status_code == 200
    northwind_client.groups.remove(group)
    upstream.seen.clear()
    assert client.get("/connections/").status_code == 403
    assert list(upstream.seen) == []


def test_group_access_and_direct_access_list_client_once(
    alice: Client, user: User, demo_client: ApiClient
) -> None:
    group = Group.objects.create(name="demo-ops")
    demo_client.groups.add(group)
    user.groups.add(group)
    body = alice.get("/connections/").content.decode()
    assert body.count(f'<option value="{demo_client.pk}"') == 1


# --- the access rule ------------------------------------------------------------------


def test_clients_listed_by_name_ignoring_case(
    db: None, client: Client, upstream: SandboxApp
) -> None:
    """The same order, and so the same default context, on SQLite and PostgreSQL."""
    person = User.objects.create_user("casey", password="x")
    for slug, name in (("harbor-finance", "Beta"), ("demo-lender", "alpha")):
        make_client(slug, name=name).users.add(person)
    assert [c.name for c in selectors.api_client_list(user=person)] == ["alpha", "Beta"]
    client.force_login(person)
    page = client.get("/connections/").content.decode()
    assert page.index(">alpha</option>") < page.index(">Beta</option>")
    assert "alpha → self" in page


# --- the upstream refuses a target -----------------------------------------------------


def test_upstream_403_on_list_offers_to_pick_another_target(
    alice: Client, harbor_client: ApiClient
) -> None:
    # Harbor Finance may not act on Demo Lender: the upstream answers 403.
    response = alice.get(f"/connections/?ctx={harbor_client.pk}.{DEMO}")
    assert response.status_code == 403
    body = response.content.decode()
    assert "may not act on the chosen organization; pick another target" in body
    assert 'href="#ctx-target"' in body
    assert 'id="ctx-target"' in body
    assert 'action="/context/"' in body


def test_upstream_403_on_detail_offers_to_pick_another_target(
    alice: Client, harbor_client: ApiClient
) -> None:
    response = alice.get(f"/connections/{NORTHWIND}/?ctx={harbor_client.pk}.{QUIET}")
    assert response.status_code == 403
    body = response.content.decode()
    assert "pick another target" in body
    assert 'id="ctx-target"' in body
    assert SECRET_DEMO not in body


def test_context_unreadable_secret_shows_message_not_500(
    alice: Client, demo_client: ApiClient, sandbox: SandboxApp
) -> None:
    ApiClient.objects.filter(pk=demo_client.pk).update(secret_ciphertext="not-a-fernet-token")
    seen_before = len(sandbox.seen)
    response = alice.get(f"/connections/?ctx={demo_client.pk}")
    assert response.status_code == 502
    assert "stored secret cannot be read" in response.content.decode()
    assert len(sandbox.seen) == seen_before  # nothing reached the upstream


def test_context_key_with_trailing_dot_is_refused(alice: Client, demo_client: ApiClient) -> None:
    response = alice.get(f"/connections/?ctx={demo_client.pk}.")
    assert response.status_code == 403


def test_tampering_ctx_field_on_view_create_is_checked(
    alice: Client, user: User, northwind_client: ApiClient
) -> None:
    # The form's ctx names the page's context; one the user may not use is refused.
    response = alice.post(
        "/views/", {"name": "Smuggled", "ctx": f"{northwind_client.pk}.{NORTHWIND}"}
    )
    assert response.status_code == 404
    assert not SavedView.objects.filter(name="Smuggled").exists()


@pytest.mark.parametrize("key", ["²", "¹.x", "١"])  # noqa: RUF001
def test_context_key_unicode_digits_is_403_not_500(alice: Client, key: str) -> None:
    assert alice.get(f"/connections/?ctx={key}").status_code == 403
    assert alice.get(f"/connections/export.csv?ctx={key}").status_code == 403
