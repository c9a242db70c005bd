"""The middleware, seen through requests: gzip (Django's own, as configured)."""

from __future__ import annotations

import csv
import gzip
import io

from django.test import Client

from connections.models import ApiClient

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
