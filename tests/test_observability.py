"""hostadmin/observability.py: the request id and the one JSON log line per request.

The log lines are read as an operator reads them: the JSON that the configured console
handler writes, one object per line (the ``console`` fixture gives that handler a buffer).
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import include, path

from connections import api
from connections.models import ApiClient
from connections.query import ListQuery
from hostadmin.urls import handler500  # the project's handler, used by the URLconf below
from sandbox import SandboxApp
from tests.conftest import FormClient, body_of

NGINX_ID = "0f6c2a9e41d84b3c9a7e5d1f2b3c4d5e"  # the shape of nginx's $request_id


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug in a view")


# The project's URLs and one view that fails, for the 500 page (@pytest.mark.urls).
urlpatterns = [path("boom/", boom), path("", include("hostadmin.urls"))]
__all__ = ["handler500"]


@pytest.fixture
def console() -> Iterator[io.StringIO]:
    """What the project's console log handler (settings.LOGGING) writes during the test."""
    (handler,) = [h for h in logging.getLogger().handlers if h.get_name() == "console"]
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield buffer
    handler.setStream(previous)


def log_lines(console: io.StringIO) -> list[dict[str, Any]]:
    """Every JSON object written since the last call."""
    text = console.getvalue()
    console.seek(0)
    console.truncate()
    return [json.loads(line) for line in text.splitlines()]


def request_lines(console: io.StringIO) -> list[dict[str, Any]]:
    return [line for line in log_lines(console) if line["logger"] == "hostadmin.request"]


# --- the request id --------------------------------------------------------------------


def test_request_id_from_nginx_is_returned_and_sent_upstream(
    alice: Client, upstream: SandboxApp
) -> None:
    response = alice.get("/connections/", HTTP_X_REQUEST_ID=NGINX_ID)
    assert response.status_code == 200
    assert response["X-Request-ID"] == NGINX_ID
    assert upstream.seen  # the token and the list calls
    assert {s.headers["x-request-id"] for s in upstream.seen} == {NGINX_ID}


def test_request_id_uuid_with_hyphens_is_kept(alice: Client) -> None:
    uuid_id = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
    response = alice.get("/healthz", HTTP_X_REQUEST_ID=uuid_id)
    assert response["X-Request-ID"] == uuid_id


@pytest.mark.parametrize(
    "header",
    ["", "abc", "not-hex-zzzzzzzz", "0f6c2a9e<script>", "a" * 65, "0f6c2a9e 41d84b3c", "é" * 12],
)
def test_request_id_malformed_is_replaced(client: Client, db, header: str) -> None:
    response = client.get("/healthz", HTTP_X_REQUEST_ID=header)
    assert response.status_code == 200
    assert response["X-Request-ID"] != header
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


def test_request_id_generated_per_request(client: Client, db) -> None:
    first = client.get("/healthz")["X-Request-ID"]
    second = client.get("/healthz")["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert first != second


def test_request_id_not_current_after_the_request(
    alice: Client, demo_client: ApiClient, upstream: SandboxApp
) -> None:
    stream = alice.get("/connections/export.csv?scope=page", HTTP_X_REQUEST_ID=NGINX_ID)
    assert stream.status_code == 200  # its body not read yet
    upstream.seen.clear()
    caller = api.Caller(
        api.Credentials(
            demo_client.client_id, demo_client.secret(), str(demo_client.organization_id)
        ),
        str(demo_client.organization_id),
    )
    api.list_host_connections(caller, ListQuery())  # outside any request
    assert upstream.seen
    assert NGINX_ID not in {s.headers["x-request-id"] for s in upstream.seen}
    stream.close()


def test_request_id_is_the_reference_of_an_upstream_error(
    alice: Client, upstream: SandboxApp, console: io.StringIO
) -> None:
    upstream.faults.add("status_503", path="/host-connections", times=None)
    response = alice.get("/connections/", HTTP_X_REQUEST_ID=NGINX_ID)
    assert response.status_code == 503
    assert f"reference {NGINX_ID}" in body_of(response)
    # The upstream saw it, and our warning about the failure carries it.
    assert {s.headers["x-request-id"] for s in upstream.seen} == {NGINX_ID}
    lines = log_lines(console)
    ours = [line for line in lines if line["logger"] in ("connections.api", "django.request")]
    assert {line["logger"] for line in ours} == {"connections.api", "django.request"}
    assert all(line["request_id"] == NGINX_ID for line in ours)


def test_request_id_on_the_404_page(alice: Client) -> None:
    response = alice.get("/no-such-page/", HTTP_X_REQUEST_ID=NGINX_ID)
    assert response.status_code == 404
    assert response["X-Request-ID"] == NGINX_ID
    assert f"quote the reference <code>{NGINX_ID}</code>" in body_of(response)


def test_request_id_on_the_csrf_page(user: User) -> None:
    browser = FormClient(enforce_csrf_checks=True)
    browser.force_login(user)
    response = browser.post("/views/", {"name": "x"}, HTTP_X_REQUEST_ID=NGINX_ID)
    assert response.status_code == 403
    body = body_of(response)
    assert "The form expired" in body
    assert f"quote the reference <code>{NGINX_ID}</code>" in body


@pytest.mark.urls("tests.test_observability")
def test_request_id_on_the_500_page(db, console: io.StringIO) -> None:
    browser = Client(raise_request_exception=False)
    response = browser.get("/boom/", HTTP_X_REQUEST_ID=NGINX_ID)
    assert response.status_code == 500
    assert response["X-Request-ID"] == NGINX_ID
    assert f"quote the reference <code>{NGINX_ID}</code>" in body_of(response)
    lines = log_lines(console)
    error = next(line for line in lines if line["logger"] == "django.request")
    assert error["request_id"] == NGINX_ID  # the traceback's record finds the same id
    (line,) = [line for line in lines if line["logger"] == "hostadmin.request"]
    assert (line["status"], line["level"]) == (500, "WARNING")


# --- the log line ----------------------------------------------------------------------


def test_request_log_one_json_line_with_the_fields(
    alice: Client,
    user: User,
    demo_client: ApiClient,
    upstream: SandboxApp,
    console: io.StringIO,
) -> None:
    response = alice.get(f"/connections/?ctx={demo_client.pk}", HTTP_X_REQUEST_ID=NGINX_ID)
    assert response.status_code == 200
    (line,) = request_lines(console)
    assert line["message"] == "request"
    assert line["level"] == "INFO"
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", line["time"])
    assert line["request_id"] == NGINX_ID
    assert line["user_id"] == user.pk
    assert line["ctx"] == str(demo_client.pk)
    assert line["view"] == "connections:list"
    assert (line["method"], line["status"]) == ("GET", 200)
    assert line["upstream_calls"] == len(upstream.seen) > 0
    assert 0 < line["upstream_ms"] <= line["duration_ms"]


def test_request_log_anonymous_and_unresolved(client: Client, db, console) -> None:
    assert client.get("/no-such-page/").status_code == 404
    (line,) = request_lines(console)
    assert (line["user_id"], line["ctx"], line["view"], line["status"]) == (None, None, None, 404)
    assert line["upstream_calls"] == 0


def test_request_log_has_no_query_values_emails_or_tokens(
    alice: Client, demo_client: ApiClient, upstream: SandboxApp, console
) -> None:
    email = "jane.doe@example.org"
    response = alice.get(
        "/connections/?search_field=owner_email&search_text=" + email.replace("@", "%40")
    )
    assert response.status_code == 200
    response = alice.get("/connections/?search_text=Northwind%20Secret%20Project")
    assert response.status_code == 200
    # A failure: Django's own record of it ("Service Unavailable: ...") is written too.
    upstream.faults.add("status_503", path="/host-connections", times=None)
    response = alice.get("/connections/?search_field=host_email&search_text=" + email)
    assert response.status_code == 503
    text = console.getvalue()
    assert text.count('"logger": "hostadmin.request"') == 3  # the lines are there
    assert text.count('"logger": "django.request"') == 1
    tokens = {
        s.headers["authorization"].removeprefix("Bearer ")
        for s in upstream.seen
        if "authorization" in s.headers
    }
    assert tokens
    secret = demo_client.secret()
    for leak in [email, "jane.doe", "example.org", "Northwind", "Secret Project", secret, *tokens]:
        assert leak not in text


def test_request_log_of_a_stream_is_written_when_it_ends(
    alice: Client, demo_client: ApiClient, upstream: SandboxApp, console
) -> None:
    response = alice.get("/connections/export.csv?scope=page", HTTP_X_REQUEST_ID=NGINX_ID)
    assert response.status_code == 200
    assert response["X-Request-ID"] == NGINX_ID
    assert request_lines(console) == []  # not before the body is sent
    csv = b"".join(response.streaming_content)
    assert csv.count(b"\n") > 1
    (line,) = request_lines(console)
    assert (line["view"], line["status"], line["body"]) == ("connections:export", 200, "complete")
    assert line["request_id"] == NGINX_ID
    assert line["upstream_calls"] == len(upstream.seen) > 0


def test_request_log_of_a_stream_closed_unread(
    alice: Client, demo_client: ApiClient, console
) -> None:
    response = alice.get("/connections/export.csv?scope=page")
    assert response.status_code == 200
    response.close()  # the browser went away before the first byte
    (line,) = request_lines(console)
    assert line["body"] == "unread"


def test_request_id_on_every_page_of_a_whole_view_export(
    alice: Client, demo_client: ApiClient, upstream: SandboxApp, console
) -> None:
    response = alice.get("/connections/export.csv", HTTP_X_REQUEST_ID=NGINX_ID)
    assert response.status_code == 200
    csv = b"".join(response.streaming_content)
    assert csv.count(b"\n") > 200  # pages 2..n fetched by the export's pool threads
    pages = [s for s in upstream.seen if s.path == "/v1-beta/host-connections"]
    assert len(pages) > 2
    assert {s.headers["x-request-id"] for s in upstream.seen} == {NGINX_ID}
    (line,) = request_lines(console)
    assert line["upstream_calls"] == len(upstream.seen)


def test_request_id_on_every_facet_count(
    alice: Client, demo_client: ApiClient, upstream: SandboxApp, console
) -> None:
    log_lines(console)  # what signing in wrote
    upstream.seen.clear()
    response = alice.get("/connections/facets/", HTTP_X_REQUEST_ID=NGINX_ID)
    assert response.status_code == 200
    assert 'id="count-' in response.content.decode()
    counts = [s for s in upstream.seen if s.path == "/v1-beta/host-connections"]
    assert len(counts) > 2  # one limit=0 call per choice, on the facets pool
    assert {s.headers["x-request-id"] for s in upstream.seen} == {NGINX_ID}
    (line,) = request_lines(console)
    assert line["upstream_calls"] == len(upstream.seen)
