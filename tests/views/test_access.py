"""connections/views/access.py: a GET never writes, the 403 page's way out, and the status
and Retry-After of upstream trouble."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from django.contrib.auth.models import User
from django.test import Client

from connections import api
from connections.middleware import SEEN_KEY
from connections.models import ApiClient, AuditEvent, SavedView
from sandbox import SandboxApp, SandboxTransport
from tests.conftest import body_of, org_id

DEMO = org_id("demo-lender")
HARBOR = org_id("harbor-finance")
HX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "results"}


def application_state(client: Client) -> dict[str, Any]:
    """What a GET must leave as it found it: the session (but for its once-a-minute
    activity stamp), the audit log and the saved views."""
    session = {k: v for k, v in client.session.items() if k != SEEN_KEY}
    return {
        "session": session,
        "audit": list(AuditEvent.objects.order_by("pk").values_list("pk", "action", "context")),
        "views": list(SavedView.objects.order_by("pk").values()),
    }


def test_get_of_any_page_with_another_context_changes_no_state(
    alice: Client,
    user: User,
    demo_client: ApiClient,
    harbor_client: ApiClient,
    upstream: SandboxApp,
) -> None:
    view = SavedView.objects.create(
        owner=user, name="Mine", query="limit=50", api_client=harbor_client, target_org_id=HARBOR
    )
    switch = alice.post("/context/", {"client": harbor_client.pk, "target": "self"})
    assert switch.status_code == 302  # the session's context: Harbor Finance
    assert alice.get("/healthz").status_code == 200  # the session's activity stamps, set
    before = application_state(alice)
    assert before["session"]["org_ctx"]["client"] == harbor_client.pk
    demo = f"ctx={demo_client.pk}"  # another context than the session's, in every URL
    pages = {
        f"/connections/?{demo}&order_dir=desc": ({}, 200),
        f"/connections/?{demo}&offset=20": (HX, 200),
        f"/connections/{HARBOR}/?{demo}&back=limit%3D50": ({}, 200),
        f"/connections/export/{'ab' * 16}/progress/?{demo}&polls=3": ({}, 200),
        f"/views/{view.pk}/confirm-delete/?{demo}": ({}, 200),
        f"/login/?{demo}": ({}, 302),  # signed in already: on to the list
        f"/healthz?{demo}": ({}, 200),
    }
    for url, (headers, status) in pages.items():
        upstream.seen.clear()
        response = alice.get(url, **headers)
        assert response.status_code == status, url
        for call in upstream.seen:  # the URL's context, re-checked, for this page only
            if "/host-connections" in call.path:
                assert call.headers["requester-organization-id"] == DEMO, url
        assert application_state(alice) == before, url


def test_denied_page_leads_to_a_context_that_works(
    client: Client, carol: User, demo_client: ApiClient, harbor_client: ApiClient
) -> None:
    client.force_login(carol)  # Harbor Finance only
    response = client.get(f"/connections/?ctx={demo_client.pk}")
    assert response.status_code == 403
    body = body_of(response)
    assert "You do not have access to this API client" in body
    assert (
        f'<a href="/connections/?ctx={harbor_client.pk}">Go to the connections you can see</a>'
        in body
    )
    assert f"ctx={demo_client.pk}" not in body.split("<main", 1)[1]  # never back to it


def test_denied_page_way_out_ignores_a_refused_session_context(
    alice: Client, user: User, demo_client: ApiClient, harbor_client: ApiClient
) -> None:
    alice.post("/context/", {"client": harbor_client.pk, "target": "self"})
    harbor_client.users.remove(user)  # the session's context is no longer allowed
    response = alice.get(f"/connections/?ctx={harbor_client.pk}")
    assert response.status_code == 403
    way_out = f'<a href="/connections/?ctx={demo_client.pk}">Go to the connections you can see</a>'
    assert way_out in body_of(response)
    assert alice.get(f"/connections/?ctx={demo_client.pk}").status_code == 200


def test_denied_page_without_any_client_offers_no_link(client: Client, db) -> None:
    client.force_login(User.objects.create_user("nobody", password="x"))
    response = client.get("/connections/")
    assert response.status_code == 403
    assert "no API client yet" in body_of(response)
    assert "Go to the connections you can see" not in body_of(response)


@pytest.mark.parametrize("headers", [{}, HX], ids=["full", "results"])
def test_busy_upstream_page_says_when_to_retry(
    alice: Client, demo_client: ApiClient, sandbox: SandboxApp, headers: dict[str, str]
) -> None:
    sandbox.faults.add("status_429", path="/host-connections", times=None, seconds=30)
    response = alice.get(f"/connections/?ctx={demo_client.pk}", **headers)
    assert response.status_code == 429
    assert response["Retry-After"] == "30"
    assert "The API is busy; try again in 30 s." in body_of(response)


@pytest.mark.parametrize(("upstream_says", "header"), [("2.5", "3"), ("0.2", "1")])
def test_busy_upstream_retry_after_in_whole_seconds_at_least_one(
    alice: Client, demo_client: ApiClient, sandbox: SandboxApp, upstream_says: str, header: str
) -> None:
    inner = SandboxTransport(sandbox)

    def busy(request: httpx.Request) -> httpx.Response:
        if "/host-connections" in request.url.path:
            body = {
                "detail": [{"loc": [], "msg": "Slow down.", "type": "rate", "code": "rate_limited"}]
            }
            return httpx.Response(429, json=body, headers={"Retry-After": upstream_says})
        return inner.handle_request(request)

    api.use_transport(httpx.MockTransport(busy))
    response = alice.get(f"/connections/?ctx={demo_client.pk}")
    assert response.status_code == 429
    assert response["Retry-After"] == header


def test_busy_upstream_detail_says_when_to_retry(
    alice: Client, demo_client: ApiClient, sandbox: SandboxApp
) -> None:
    sandbox.faults.add("status_429", path="/host-connections/", times=None, seconds=30)
    response = alice.get(f"/connections/{HARBOR}/?ctx={demo_client.pk}")
    assert response.status_code == 429
    assert response["Retry-After"] == "30"
    assert "Could not load this connection." in body_of(response)


def test_other_upstream_trouble_has_no_retry_after(
    alice: Client, demo_client: ApiClient, sandbox: SandboxApp
) -> None:
    sandbox.faults.add("status_503", path="/host-connections", times=None)
    response = alice.get(f"/connections/?ctx={demo_client.pk}")
    assert response.status_code == 503
    assert not response.has_header("Retry-After")
