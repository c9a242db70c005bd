"""hostadmin's own middleware, seen through requests: gzip at level 9 for pages, the
session's idle and absolute lifetimes, the user's time zone."""

from __future__ import annotations

import csv
import gzip
import io
import time

from django.conf import settings as django_settings
from django.test import Client

from connections.models import ApiClient, AuditEvent
from sandbox import SandboxApp

HX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "results"}


def split_gzip(body: bytes) -> tuple[bytes, bytes]:
    """(file name, deflate stream and trailer) of a gzip member with the FNAME flag."""
    assert body[:2] == b"\x1f\x8b"
    assert body[3] & gzip.FNAME, "no random-length file name (Heal the Breach)"
    end = body.index(b"\x00", 10)
    return body[10:end], body[end + 1 :]


def test_gzip_page_at_level_9_with_padding(alice: Client, demo_client: ApiClient) -> None:
    url = f"/connections/?ctx={demo_client.pk}&limit=100"
    response = alice.get(url, HTTP_ACCEPT_ENCODING="gzip, deflate, br", **HX)
    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    assert int(response["Content-Length"]) == len(response.content)
    vary = {v.strip() for v in response["Vary"].split(",")}
    assert {"Accept-Encoding", "HX-Request"} <= vary
    plain = gzip.decompress(response.content)
    assert plain.count(b'<tr><td><a href="/connections/') == 100
    name, stream = split_gzip(response.content)
    assert set(name) <= {ord("a")}
    level_6 = gzip.compress(plain, compresslevel=6, mtime=0)[10:]
    assert len(stream) < len(level_6)  # Django's own middleware sends level 6


def test_gzip_not_asked_for_is_plain(alice: Client, demo_client: ApiClient) -> None:
    response = alice.get(f"/connections/?ctx={demo_client.pk}", **HX)
    assert response.status_code == 200
    assert not response.has_header("Content-Encoding")
    assert "Accept-Encoding" in response["Vary"]
    assert b'<div id="results"' in response.content


def test_gzip_streamed_export_is_still_compressed(alice: Client, demo_client: ApiClient) -> None:
    response = alice.get(
        f"/connections/export.csv?ctx={demo_client.pk}", HTTP_ACCEPT_ENCODING="gzip"
    )
    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    assert not response.has_header("Content-Length")
    csv_text = gzip.decompress(b"".join(response.streaming_content)).decode()
    assert csv_text.startswith("Host organization ID,Host name,")
    rows = list(csv.reader(io.StringIO(csv_text, newline="")))
    assert len(rows) == int(response["X-Export-Rows"]) + 1


# --- the session's lifetime ------------------------------------------------------------


def _age_session(client: Client, seconds: float) -> None:
    session = client.session
    session["session_started"] = time.time() - seconds
    session.save()


def test_session_absolute_lifetime_logs_out(alice: Client, upstream: SandboxApp) -> None:
    assert alice.get("/connections/").status_code == 200
    _age_session(alice, django_settings.SESSION_ABSOLUTE_SECONDS + 60)
    upstream.seen.clear()
    response = alice.get("/connections/?order_dir=desc")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert "_auth_user_id" not in alice.session
    assert list(upstream.seen) == []
    assert AuditEvent.objects.filter(action=AuditEvent.Action.LOGOUT).count() == 1


def test_session_within_absolute_lifetime_stays(alice: Client) -> None:
    alice.get("/connections/")
    _age_session(alice, django_settings.SESSION_ABSOLUTE_SECONDS - 600)
    assert alice.get("/connections/?order_dir=desc").status_code == 200


def test_session_absolute_lifetime_htmx_gets_hx_redirect(alice: Client) -> None:
    alice.get("/connections/")
    _age_session(alice, django_settings.SESSION_ABSOLUTE_SECONDS + 60)
    response = alice.get("/connections/?order_dir=desc", HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert response["HX-Redirect"].startswith("/login/")


def test_session_idle_timeout_logs_out(alice: Client, upstream: SandboxApp) -> None:
    alice.get("/connections/")
    session = alice.session
    session["session_seen"] = time.time() - django_settings.SESSION_IDLE_SECONDS - 60
    session.save()
    upstream.seen.clear()
    response = alice.get("/connections/?order_dir=desc")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert list(upstream.seen) == []


# --- the time zone ---------------------------------------------------------------------


def test_timezone_cookie_with_slash_is_applied(alice: Client) -> None:
    alice.cookies["tz"] = "America/New_York"
    body = alice.get("/connections/?limit=20").content.decode()
    assert ' EST"' in body or ' EDT"' in body
    alice.cookies["tz"] = "America%2FNew_York"  # as older pages wrote it
    body = alice.get("/connections/?limit=20").content.decode()
    assert ' EST"' in body or ' EDT"' in body
