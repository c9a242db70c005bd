"""State is shared: whichever instance serves a request, directly or through nginx, sees
the same session, saved views, export limits and progress, and sign-in lockout."""

from __future__ import annotations

import contextlib
import re
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import redis

from deploy.cluster import Cluster
from tests.cluster.conftest import (
    REDIS_DB_URL,
    csrf_of,
    every_url,
    grant_bench,
    open_exports,
    sign_in,
    signed_in,
)


def test_cluster_session_works_on_every_instance(cluster: Cluster) -> None:
    client = signed_in(cluster.instance_url(0))
    for url in every_url(cluster):
        page = client.get(f"{url}/connections/")
        assert page.status_code == 200, url
        assert "connections match" in page.text
        assert '<span class="muted">demo</span>' in page.text
    out = client.post(
        f"{cluster.instance_url(1)}/logout/", headers={"X-CSRFToken": csrf_of(client)}
    )
    assert out.status_code == 302
    for url in every_url(cluster):  # signed out everywhere, not only where it happened
        page = client.get(f"{url}/connections/")
        assert page.status_code == 302
        assert page.headers["Location"].startswith("/login/")


def test_cluster_saved_view_seen_by_every_instance(cluster: Cluster) -> None:
    client = signed_in(cluster.url)
    name = f"cluster view {uuid.uuid4().hex[:8]}"
    saved = client.post(
        f"{cluster.instance_url(0)}/views/",
        data={"name": name, "query": "statuses=connected"},
        headers={"X-CSRFToken": csrf_of(client)},
    )
    assert saved.status_code == 302
    for url in every_url(cluster):
        page = client.get(f"{url}/connections/?statuses=connected")
        assert page.status_code == 200
        assert name in page.text, url


def test_cluster_export_limit_progress_and_cancel_shared(cluster: Cluster) -> None:
    """Two exports run (one per instance); a third through nginx is refused by the
    per-user limit; progress and cancel work from the other instance and nginx."""
    ctx = grant_bench(cluster)
    client = signed_in(cluster.url)
    cluster.faults({"latency_ms": 100})  # 200 pages: several seconds an export
    with contextlib.ExitStack() as open_streams:
        urls = [cluster.instance_url(0), cluster.instance_url(1)]
        ids, bodies = open_exports(open_streams, client, urls, ctx)

        third = client.get(f"{cluster.url}/connections/export.csv?ctx={ctx}")
        assert third.status_code == 429
        assert "You already have 2 exports running" in third.text

        progress = client.get(
            f"{cluster.instance_url(1)}/connections/export/{ids[0]}/progress/",
            headers={"HX-Request": "true"},
        )
        assert progress.status_code == 200
        assert re.search(r"Exporting: [\d,]+ of 20,000 rows", progress.text), progress.text

        for export_id in ids:
            cancelled = client.post(
                f"{cluster.url}/connections/export/{export_id}/cancel/",
                headers={"HX-Request": "true", "X-CSRFToken": csrf_of(client)},
            )
            assert cancelled.status_code == 200
        for chunks in bodies:  # a cancelled download fails; it never looks complete
            with pytest.raises(httpx.RemoteProtocolError):
                for _ in chunks:
                    pass
    cluster.faults(None)
    done = client.get(
        f"{cluster.instance_url(0)}/connections/export/{ids[1]}/progress/",
        headers={"HX-Request": "true"},
    )
    assert "Export cancelled after" in done.text
    again = client.get(f"{cluster.url}/connections/export.csv?ctx={ctx}&scope=page")
    assert again.status_code == 200  # the slots were given back


def test_cluster_sign_in_lockout_shared(cluster: Cluster) -> None:
    """Five failures (AXES_FAILURE_LIMIT) spread over both instances and nginx lock the
    username everywhere; the fifth is already refused."""
    username = f"probe-{uuid.uuid4().hex[:8]}"
    client = httpx.Client(timeout=30.0)
    for url in [*every_url(cluster), cluster.instance_url(0)]:
        _, failed = sign_in(url, client, username=username, password="wrong")
        assert failed.status_code == 200
        assert "Please enter a correct username and password" in failed.text
    for url in [cluster.instance_url(1), *every_url(cluster)]:
        _, locked = sign_in(url, client, username=username, password="wrong")
        assert locked.status_code == 429, url
        assert "Too many failed sign-ins" in locked.text


def test_cluster_lockout_is_per_client_address_behind_nginx(cluster: Cluster) -> None:
    """nginx passes the client's address (X-Forwarded-For): failures from one address
    lock the username for that address only, not for everyone behind the proxy."""

    def client_from(address: str) -> httpx.Client:
        return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=30.0)

    attacker = client_from("127.0.0.2")
    for _ in range(5):
        _, last = sign_in(cluster.url, attacker, username="demo", password="wrong")
    assert last.status_code == 429
    _, still_locked = sign_in(cluster.url, attacker, username="demo", password="demo")
    assert still_locked.status_code == 429
    _, done = sign_in(cluster.url, client_from("127.0.0.3"), username="demo", password="demo")
    assert done.status_code == 302
    assert done.headers["Location"] == "/connections/"


def test_cluster_first_requests_fetch_one_token(cluster: Cluster) -> None:
    """With no token anywhere (fresh instances, none in Redis), eight first requests at
    once, spread over both instances and nginx, make the upstream issue exactly one: the
    lock is in the shared cache, not only in each process."""
    client = signed_in(cluster.url)  # sign in first: signing in calls no upstream
    for i in (0, 1):  # fresh processes keep no token of their own
        cluster.stop_instance(i)
        cluster.start_instance(i)
    tokens = redis.Redis.from_url(REDIS_DB_URL)
    for key in tokens.scan_iter(match="*hostadmin:upstream-token:*"):
        tokens.delete(key)
    before = httpx.get(f"{cluster.sandbox_control}/stats").json()["tokens_issued"]
    urls = [*every_url(cluster), *every_url(cluster)]
    with ThreadPoolExecutor(len(urls)) as pool:
        pages = list(pool.map(lambda url: client.get(f"{url}/connections/"), urls))
    assert [p.status_code for p in pages] == [200] * len(urls)
    assert all("connections match" in p.text for p in pages)
    after = httpx.get(f"{cluster.sandbox_control}/stats").json()["tokens_issued"]
    assert after - before == 1
