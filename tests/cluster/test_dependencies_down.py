"""Dependencies down, on a cluster of its own whose Redis and PostgreSQL are throwaway
servers (free ports, temp folders) that these tests stop and start again.

Redis down: list and detail pages still load (the cache is empty), the failure is logged
once per interval, exports say they are unavailable. PostgreSQL down: a clear 503 page,
no traceback, and the site recovers by itself. /readyz names what is down."""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deploy.cluster import Cluster
from tests.cluster.conftest import cluster_config, every_url, instance_logs, sign_in, signed_in
from tests.cluster.services import ThrowawayPostgres, ThrowawayRedis

LOG_INTERVAL = 3  # seconds between two log lines about the same outage
REDIS_DOWN = "cache (Redis) unavailable"
CACHE_RETRY = 1  # seconds each process leaves Redis alone after a failure
DATABASE_DOWN = "database unavailable"


@pytest.fixture(scope="module")
def deps() -> Iterator[tuple[ThrowawayRedis, ThrowawayPostgres]]:
    with tempfile.TemporaryDirectory(prefix="hostadmin-deps-") as tmp:
        Path(tmp).chmod(0o755)  # the postgres user works in a folder inside it
        redis_server = ThrowawayRedis(Path(tmp))
        postgres = ThrowawayPostgres(Path(tmp) / "pg")
        redis_server.start()
        postgres.init()
        postgres.start()
        try:
            yield redis_server, postgres
        finally:
            redis_server.stop()
            postgres.stop()


@pytest.fixture(scope="module")
def outage_cluster(deps: tuple[ThrowawayRedis, ThrowawayPostgres]) -> Iterator[Cluster]:
    redis_server, postgres = deps
    with tempfile.TemporaryDirectory(prefix="hostadmin-outage-") as tmp:
        config = cluster_config(
            Path(tmp),
            database_url=postgres.url,
            redis_url=redis_server.url,
            DEPENDENCY_LOG_INTERVAL=str(LOG_INTERVAL),
            CACHE_RETRY_SECONDS=str(CACHE_RETRY),
        )
        with Cluster(config) as running:
            yield running


def readiness(url: str) -> tuple[int, dict[str, str]]:
    response = httpx.get(f"{url}/readyz", timeout=10)
    return response.status_code, json.loads(response.text)


def first_detail_link(page: str) -> str:
    found = re.search(r'<tr><td[^>]*><a href="(/connections/[0-9a-f-]{36}/[^"]*)"', page)
    assert found, page[:1000]
    return found.group(1).replace("&amp;", "&")


def test_outage_redis_down_pages_load_exports_unavailable(
    outage_cluster: Cluster, deps: tuple[ThrowawayRedis, ThrowawayPostgres]
) -> None:
    redis_server, _ = deps
    cluster = outage_cluster
    client = signed_in(cluster.url)
    assert readiness(cluster.url) == (200, {"status": "ok", "database": "ok", "cache": "ok"})
    redis_server.stop()
    try:
        started = time.monotonic()
        for url in every_url(cluster) * 4:  # every call of each page misses the cache
            page = client.get(f"{url}/connections/")
            assert page.status_code == 200
            assert "connections match" in page.text
            detail = client.get(f"{url}{first_detail_link(page.text)}")
            assert detail.status_code == 200
            assert "Host organization ID" in detail.text
        burst = time.monotonic() - started
        export = client.get(f"{cluster.url}/connections/export.csv?scope=page")
        assert export.status_code == 503
        assert "Exports are unavailable for a moment" in export.text
        for url in every_url(cluster):
            assert readiness(url) == (503, {"status": "down", "database": "ok", "cache": "down"})
        # One line per instance process per interval, not one per call.
        allowed = len(cluster.instances) * (int(burst // LOG_INTERVAL) + 2)
        assert 1 <= instance_logs(cluster).count(REDIS_DOWN) <= allowed
    finally:
        redis_server.start()
    time.sleep(CACHE_RETRY + 0.2)  # every process has left Redis alone long enough
    assert readiness(cluster.url)[0] == 200
    again = client.get(f"{cluster.url}/connections/export.csv?scope=page")
    assert again.status_code == 200
    assert again.text.startswith("Host organization ID,")


def test_outage_postgres_down_503_page_then_recovers(
    outage_cluster: Cluster, deps: tuple[ThrowawayRedis, ThrowawayPostgres]
) -> None:
    _, postgres = deps
    cluster = outage_cluster
    client = signed_in(cluster.url)
    postgres.stop()
    try:
        for url in every_url(cluster):
            for path in ("/connections/", "/login/"):
                page = client.get(f"{url}{path}")
                assert page.status_code == 503, (url, path)
                assert page.headers["Retry-After"] == "5"
                assert "Its database cannot be reached" in page.text
                assert "Traceback" not in page.text
            swap = client.get(f"{url}/connections/", headers={"HX-Request": "true"})
            assert swap.status_code == 503
            assert swap.headers["HX-Retarget"] == "body"
            assert httpx.get(f"{url}/healthz").status_code == 200  # alive all the same
            assert readiness(url) == (503, {"status": "down", "database": "down", "cache": "ok"})
        _, failed = sign_in(cluster.url, username="demo", password="demo")
        assert failed.status_code == 503  # the sign-in form's POST: caught in the view
        assert "Its database cannot be reached" in failed.text
        assert DATABASE_DOWN in instance_logs(cluster)
        assert "Traceback" not in instance_logs(cluster)
    finally:
        postgres.start()
    deadline = time.monotonic() + 15
    while client.get(f"{cluster.url}/connections/").status_code != 200:  # no restart
        assert time.monotonic() < deadline, "the site did not recover"
        time.sleep(0.2)
    for url in every_url(cluster):
        page = client.get(f"{url}/connections/")
        assert page.status_code == 200  # the session survived the outage
        assert "connections match" in page.text
        assert readiness(url)[0] == 200
