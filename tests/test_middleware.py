"""hostadmin's middleware, seen through requests: gzip (Django's own, as configured), the
session's idle and absolute lifetimes, request bodies, the user's time zone."""

from __future__ import annotations

import csv
import gzip
import io
import time

from django.conf import settings as django_settings
from django.test import Client
from django.test.client import MULTIPART_CONTENT, encode_multipart

from connections.models import ApiClient, AuditEvent, SavedView
from sandbox import SandboxApp
from tests.test_security import ALL_URLS
from tests.test_settings import SETUP, run

HX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "results"}


def split_gzip(body: bytes) -> tuple[bytes, bytes]:
    """(file name, deflate stream and trailer) of a gzip member with the FNAME flag."""
    assert body[:2] == b"\x1f\x8b"
    assert body[3] & gzip.FNAME, "no random-length file name (Heal the Breach)"
    end = body.index(b"\x00", 10)
    return body[10:end], body[end + 1 :]


def test_gzip_page_with_random_padding(alice: Client, demo_client: ApiClient) -> None:
    url = f"/connections/?ctx={demo_client.pk}&limit=100"
    response = alice.get(url, HTTP_ACCEPT_ENCODING="gzip, deflate, br", **HX)
    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    assert int(response["Content-Length"]) == len(response.content)
    vary = {v.strip() for v in response["Vary"].split(",")}
    assert {"Accept-Encoding", "HX-Request"} <= vary
    plain = gzip.decompress(response.content)
    assert plain.count(b'<td title="') == 300  # a name and two emails a row
    name, _ = split_gzip(response.content)
    assert set(name) <= {ord("a")}


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


# --- request bodies: no multipart, a bounded size, refused unread ----------------------


class CountingBody:
    """A request body of ``size`` bytes (``head``, filler, ``tail``), made as it is read:
    ``read_bytes`` tells how much of it the server took."""

    def __init__(self, size: int, head: bytes = b"", tail: bytes = b"") -> None:
        self.size, self.head, self.tail = size, head, tail
        self.read_bytes = 0

    def read(self, n: int | None = -1) -> bytes:
        start = self.read_bytes
        end = self.size if n is None or n < 0 else min(self.size, start + n)
        self.read_bytes = end
        filler_end = self.size - len(self.tail)
        filler = max(0, min(end, filler_end) - max(start, len(self.head)))
        tail = self.tail[max(0, start - filler_end) : max(0, end - filler_end)]
        return self.head[start:end] + b"x" * filler + tail

    readline = read  # WSGI asks for both; a line is as good as a chunk here


BOUNDARY = "hostadmin-test-boundary"
FILE_PART = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="upload"; filename="big.bin"\r\n'
    "Content-Type: application/octet-stream\r\n\r\n"
).encode()


def post_body(client: Client, path: str, body: CountingBody, content_type: str, **extra):
    return client.generic(
        "POST",
        path,
        **{"wsgi.input": body, "CONTENT_LENGTH": str(body.size), "CONTENT_TYPE": content_type},
        **extra,
    )


def test_request_body_multipart_50_mb_refused_unread(client: Client, db, settings, tmp_path):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)  # where Django would spool the upload
    body = CountingBody(50 * 2**20, FILE_PART, f"\r\n--{BOUNDARY}--\r\n".encode())
    response = post_body(client, "/login/", body, f"multipart/form-data; boundary={BOUNDARY}")
    assert response.status_code == 415
    assert response["Accept-Post"] == "application/x-www-form-urlencoded"
    assert response.content == b"hostadmin takes no file uploads: send forms URL-encoded.\n"
    assert body.read_bytes == 0
    assert list(tmp_path.iterdir()) == []


def test_request_body_multipart_refused_on_every_url(alice: Client, upstream) -> None:
    audit_rows = AuditEvent.objects.count()  # the sign-in's
    form = encode_multipart("BoUnDaRyStRiNg", {"name": "multipart", "target": "self"})
    for name, path in ALL_URLS:
        response = alice.generic("POST", path, form, MULTIPART_CONTENT)
        assert response.status_code == 415, f"{name} {path}: {response.status_code}"
    assert not SavedView.objects.exists()
    assert AuditEvent.objects.count() == audit_rows
    assert list(upstream.seen) == []


def test_request_body_over_the_limit_refused_unread(client: Client, db, settings) -> None:
    body = CountingBody(settings.REQUEST_BODY_MAX_BYTES + 1)
    response = post_body(client, "/login/", body, "application/x-www-form-urlencoded")
    assert response.status_code == 413
    assert response.content.decode() == (
        f"The request body is larger than the {settings.REQUEST_BODY_MAX_BYTES} bytes allowed.\n"
    )
    assert body.read_bytes == 0


def test_request_body_at_the_limit_is_a_form(client: Client, user, settings) -> None:
    form = b"username=alice&password=correct+horse+battery+staple&pad="
    padded = form + b"x" * (settings.REQUEST_BODY_MAX_BYTES - len(form))
    response = client.generic("POST", "/login/", padded, "application/x-www-form-urlencoded")
    assert response.status_code == 302
    assert "_auth_user_id" in client.session


def test_request_body_limit_is_read_from_the_environment() -> None:
    result = run(
        SETUP + "print(s.REQUEST_BODY_MAX_BYTES, s.DATA_UPLOAD_MAX_MEMORY_SIZE)",
        REQUEST_BODY_MAX_BYTES="4096",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "4096 4096"


def test_request_body_bad_content_length_is_400(client: Client, db) -> None:
    response = client.generic(
        "POST", "/login/", b"username=a", "application/x-www-form-urlencoded", CONTENT_LENGTH="-5"
    )
    assert response.status_code == 400
    assert b"Content-Length is not a number of bytes" in response.content


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
