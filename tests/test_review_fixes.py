"""Regression tests for inputs and paths found in review: each one was a 500 or a leak."""

from __future__ import annotations

import httpx
import pytest
from django.test import Client

from connections import api, export
from connections.context import OrgContext
from connections.models import ApiClient, SavedView
from connections.query import ListQuery
from sandbox import SandboxApp


@pytest.mark.parametrize("key", ["²", "¹.x", "١"])  # noqa: RUF001
def test_ctx_key_unicode_digits_is_403_not_500(alice: Client, key: str) -> None:
    assert alice.get(f"/connections/?ctx={key}").status_code == 403
    assert alice.get(f"/connections/export.csv?ctx={key}").status_code == 403


def test_export_progress_unicode_polls_is_not_500(alice: Client) -> None:
    response = alice.get(f"/connections/export/{'a' * 32}/progress/?polls=²")
    assert response.status_code == 200
    assert "Starting the export" in response.content.decode()


def test_saved_view_htmx_post_with_newline_next_is_not_500(
    alice: Client, demo_client: ApiClient
) -> None:
    response = alice.post(
        "/views/", {"name": "", "next": "/connections/\r\nX: y"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 204
    assert response["HX-Location"].startswith("/connections/?ctx=")
    assert "\n" not in response["HX-Location"]


def test_timezone_cookie_with_slash_is_applied(alice: Client) -> None:
    alice.cookies["tz"] = "America/New_York"
    body = alice.get("/connections/?limit=20").content.decode()
    assert ' EST"' in body or ' EDT"' in body
    alice.cookies["tz"] = "America%2FNew_York"  # as older pages wrote it
    body = alice.get("/connections/?limit=20").content.decode()
    assert ' EST"' in body or ' EDT"' in body


def test_save_view_uses_the_pages_context_not_the_session(
    alice: Client, demo_client: ApiClient, harbor_client: ApiClient
) -> None:
    alice.post("/context/", {"client": harbor_client.pk})  # another tab switched the session
    alice.post("/views/", {"name": "Demo view", "ctx": str(demo_client.pk), "query": ""})
    view = SavedView.objects.get(name="Demo view")
    assert view.api_client == demo_client


def test_infinite_retry_after_is_busy_not_500(demo_client: ApiClient) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth2/token"):
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
        return httpx.Response(429, headers={"Retry-After": "inf"}, json={"detail": []})

    api.use_transport(httpx.MockTransport(handler))
    ctx = OrgContext(demo_client, str(demo_client.organization_id))
    with pytest.raises(api.ApiBusy) as caught:
        api.list_host_connections(ctx.caller, ListQuery())
    assert caught.value.retry_after == 1.0


def test_token_call_429_is_busy(demo_client: ApiClient) -> None:
    api.use_transport(
        httpx.MockTransport(lambda r: httpx.Response(429, headers={"Retry-After": "30"}))
    )
    ctx = OrgContext(demo_client, str(demo_client.organization_id))
    with pytest.raises(api.ApiBusy):
        api.list_host_connections(ctx.caller, ListQuery())


def test_export_id_of_another_user_is_not_reused(
    alice: Client, other_user, demo_client: ApiClient, sandbox: SandboxApp
) -> None:
    bob = Client()
    bob.force_login(other_user)
    export_id = "b" * 32
    first = bob.get(f"/connections/export.csv?ctx={demo_client.pk}&export_id={export_id}")
    b"".join(first.streaming_content)
    mine = alice.get(f"/connections/export.csv?ctx={demo_client.pk}&export_id={export_id}")
    b"".join(mine.streaming_content)
    assert export.progress_of(export_id, int(other_user.pk))["state"] == "complete"
    assert export.progress_of(export_id, int(alice.session["_auth_user_id"])) is None
