"""The export endpoints through HTTP: what the download answers (headers, file name,
refusals and their statuses, the audit row), the progress and cancel endpoints and their
URLs. The rows of the file are the export package's tests (tests/test_export.py)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client

from connections import export
from connections.export import ExportCancelled
from connections.models import ApiClient, AuditEvent
from sandbox import SandboxApp
from tests.conftest import FormClient, make_client, org_id

EXPORT = "/connections/export.csv"
HEADER = b"Host organization ID,Host name,"
NORTHWIND = org_id("northwind-credit")
QUIET = org_id("quiet-bank")


def export_url(ctx: Any, query: str = "", **extra: str) -> str:
    params = f"ctx={ctx}" + (f"&{query}" if query else "")
    for key, value in extra.items():
        params += f"&{key}={value}"
    return f"{EXPORT}?{params}"


def streamed(response: Any) -> bytes:
    assert response.status_code == 200, response.content[:500]
    return b"".join(response.streaming_content)


def new_export_id() -> str:
    return uuid.uuid4().hex


# --- the download ----------------------------------------------------------------------


def test_export_headers(alice: Client, demo_client: ApiClient) -> None:
    response = alice.get(export_url(demo_client.pk))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["X-Export-Rows"] == "302"
    assert "no-store" in response["Cache-Control"]
    assert streamed(response).startswith(HEADER)


def test_export_filename_pattern(alice: Client, demo_client: ApiClient) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    response = alice.get(export_url(demo_client.pk))
    match = re.fullmatch(
        r'attachment; filename="host-connections_demo-lender_(\d{8}T\d{6}Z)\.csv"',
        response["Content-Disposition"],
    )
    assert match, response["Content-Disposition"]
    stamp = datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert before <= stamp <= datetime.now(UTC) + timedelta(seconds=1)
    streamed(response)


def test_export_filename_pattern_other_target(alice: Client, demo_client: ApiClient) -> None:
    response = alice.get(export_url(f"{demo_client.pk}.{NORTHWIND}", "search_text=zzzz"))
    assert re.fullmatch(
        rf'attachment; filename="host-connections_{NORTHWIND}_\d{{8}}T\d{{6}}Z\.csv"',
        response["Content-Disposition"],
    )
    assert streamed(response).startswith(HEADER)


def test_export_audit_complete(alice: Client, user: User, demo_client: ApiClient) -> None:
    # Parameters in a non-canonical order: the audit keeps the canonical query.
    response = alice.get(
        export_url(demo_client.pk, "order_dir=desc&statuses=connected&order_by=created_at")
    )
    rows = streamed(response).count(b"\r\n") - 1
    event = AuditEvent.objects.get(action=AuditEvent.Action.EXPORT)
    assert event.user == user
    assert event.context == "Demo Lender → self"
    assert event.detail["query"] == "statuses=connected&order_by=created_at&order_dir=desc"
    assert event.detail["scope"] == "all"
    assert event.detail["rows"] == event.detail["total"] == rows
    assert event.detail["outcome"] == "complete"
    assert isinstance(event.detail["duration_ms"], int) and event.detail["duration_ms"] >= 0


def test_export_id_of_another_user_is_not_reused(
    alice: Client, user: User, other_user: User, demo_client: ApiClient
) -> None:
    bob = FormClient()
    bob.force_login(other_user)
    export_id = "b" * 32
    streamed(bob.get(export_url(demo_client.pk, export_id=export_id)))
    streamed(alice.get(export_url(demo_client.pk, export_id=export_id)))
    assert export.progress_of(export_id, int(other_user.pk))["state"] == "complete"
    assert export.progress_of(export_id, int(user.pk)) is None


# --- refusals: a page that says why, with the way back ---------------------------------


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("limit=1000", "Rows per page must be 20, 50 or 100"),
        ("offset=-5", "is not a valid position in the list"),
        ("order_by=password", "is not a valid column to sort by"),
        ("statuses=bogus", "is not a valid choice"),
        ("password=x", "Ignored unknown parameter"),
    ],
)
def test_export_bad_url_400(
    alice: Client, sandbox: SandboxApp, demo_client: ApiClient, query: str, message: str
) -> None:
    response = alice.get(export_url(demo_client.pk, query))
    assert response.status_code == 400
    text = response.content.decode()
    assert "This export link is not valid" in text
    assert message in text
    assert not [s for s in sandbox.seen if "/host-connections" in s.path]


def test_export_refused_links_back_to_the_list_it_came_from(
    alice: Client, demo_client: ApiClient
) -> None:
    response = alice.get(export_url(demo_client.pk, "order_dir=desc&limit=1000"))
    assert response.status_code == 400
    back = f"/connections/?ctx={demo_client.pk}&amp;order_dir=desc&amp;limit=100"
    assert f'<a href="{back}">Back to the list</a>' in response.content.decode()


def test_export_cap_refused_with_message(alice: Client, demo_client: ApiClient, settings) -> None:
    settings.EXPORT_MAX_ROWS = 301
    response = alice.get(export_url(demo_client.pk))
    assert response.status_code == 400
    assert not response.streaming
    text = response.content.decode()
    assert "This view matches 302 rows; exports are limited to 301." in text
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT).exists()


def test_export_post_not_allowed(alice: Client, demo_client: ApiClient) -> None:
    assert alice.post(export_url(demo_client.pk)).status_code == 405


def test_export_context_without_access_403(alice: Client, sandbox: SandboxApp) -> None:
    not_mine = make_client("quiet-bank")
    response = alice.get(export_url(not_mine.pk))
    assert response.status_code == 403
    assert not response.streaming
    assert not [s for s in sandbox.seen if "/host-connections" in s.path]


def test_export_target_not_allowed_upstream_is_refused(
    alice: Client, demo_client: ApiClient
) -> None:
    response = alice.get(export_url(f"{demo_client.pk}.{QUIET}"))
    assert response.status_code == 403  # as on the list page, not a 503
    assert not response.streaming
    assert "may not act on" in response.content.decode()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", EXPORT),
        ("get", "/connections/export/0123456789abcdef0123456789abcdef/progress/"),
        ("post", "/connections/export/0123456789abcdef0123456789abcdef/cancel/"),
    ],
)
def test_export_anonymous_redirects_to_login(
    client: Client, sandbox: SandboxApp, method: str, path: str
) -> None:
    response = getattr(client, method)(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")
    assert not sandbox.seen


# --- progress and cancel ---------------------------------------------------------------


def test_export_progress_shows_written_and_total(alice: Client, demo_client: ApiClient) -> None:
    export_id = new_export_id()
    progress_url = f"/connections/export/{export_id}/progress/"
    assert "Starting the export" in alice.get(progress_url).content.decode()
    response = alice.get(export_url(demo_client.pk, export_id=export_id))
    chunks = iter(response.streaming_content)
    next(chunks)
    running = alice.get(progress_url)
    assert running.status_code == 200
    assert "Exporting: 100 of 302 rows" in running.content.decode()
    assert 'value="100"' in running.content.decode()
    for _ in chunks:
        pass
    assert "Export complete: 302 rows." in alice.get(progress_url).content.decode()


def test_export_progress_numbers_stay_machine_readable(alice: Client, user: User) -> None:
    """Thousands are grouped for people ("5,700"), never inside attributes or URLs."""
    export_id = new_export_id()
    cache.set(
        f"hostadmin:export:{export_id}",
        {"user": user.pk, "written": 5700, "total": 20000, "state": "running"},
    )
    body = alice.get(f"/connections/export/{export_id}/progress/?polls=1001").content.decode()
    assert "Exporting: 5,700 of 20,000 rows" in body
    assert 'max="20000" value="5700"' in body
    assert "?polls=1002" in body


def test_export_progress_owner_scoped(
    alice: Client, demo_client: ApiClient, other_user: User
) -> None:
    export_id = new_export_id()
    response = alice.get(export_url(demo_client.pk, export_id=export_id))
    chunks = iter(response.streaming_content)
    next(chunks)
    bob = FormClient()
    bob.force_login(other_user)
    seen_by_bob = bob.get(f"/connections/export/{export_id}/progress/").content.decode()
    assert "100 of 302" not in seen_by_bob
    assert "Starting the export" in seen_by_bob
    assert bob.post(f"/connections/export/{export_id}/cancel/").status_code == 404
    for _ in chunks:  # bob's cancel did not stop alice's export
        pass
    assert AuditEvent.objects.get(action=AuditEvent.Action.EXPORT).detail["outcome"] == "complete"


@pytest.mark.parametrize(
    "bad_id",
    ["not-an-id", "A" * 32, "a" * 31, "a" * 33, "a" * 32 + "%0A", "g" * 32, "a" * 31 + "%C2%B2"],
)
def test_export_progress_and_cancel_malformed_id_404(alice: Client, bad_id: str) -> None:
    assert alice.get(f"/connections/export/{bad_id}/progress/").status_code == 404
    assert alice.post(f"/connections/export/{bad_id}/cancel/").status_code == 404


def test_export_progress_gives_up_after_polls(alice: Client) -> None:
    url = f"/connections/export/{new_export_id()}/progress/?polls=20"
    assert "The export did not start" in alice.get(url).content.decode()


@pytest.mark.parametrize("polls", ["²", "-1", "abc", "9" * 10])
def test_export_progress_odd_polls_count_from_zero(alice: Client, polls: str) -> None:
    response = alice.get(f"/connections/export/{'a' * 32}/progress/", {"polls": polls})
    assert response.status_code == 200
    body = response.content.decode()
    assert "Starting the export" in body
    assert "?polls=1" in body


def test_export_cancel_unknown_export_404(alice: Client) -> None:
    assert alice.post(f"/connections/export/{new_export_id()}/cancel/").status_code == 404


def test_export_cancel_csrf_required(user: User, demo_client: ApiClient) -> None:
    browser = FormClient(enforce_csrf_checks=True)
    browser.force_login(user)
    browser.get(f"/connections/?ctx={demo_client.pk}")  # sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    export_id = new_export_id()
    response = browser.get(export_url(demo_client.pk, export_id=export_id))
    chunks = iter(response.streaming_content)
    next(chunks)
    cancel_url = f"/connections/export/{export_id}/cancel/"
    assert browser.post(cancel_url).status_code == 403
    assert browser.post(cancel_url, HTTP_X_CSRFTOKEN=token).status_code == 200
    with pytest.raises(ExportCancelled):
        for _ in chunks:
            pass


def test_export_cancel_get_not_allowed(alice: Client) -> None:
    assert alice.get(f"/connections/export/{new_export_id()}/cancel/").status_code == 405
