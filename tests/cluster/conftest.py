"""The cluster under test: deploy/'s nginx, gunicorn and systemd files run by the same
code as ``make cluster`` (deploy/cluster.py), on its own PostgreSQL database
(``hostadmin_cluster_test``, recreated) and Redis database 12 (flushed), on free ports.

The fixtures of tests/conftest.py that route the upstream in-process do not apply here:
every request goes over loopback to real processes.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from deploy.cluster import Cluster, Config, free_port

PG_URL = os.environ.get(
    "CLUSTER_PG_URL", "postgres://postgres@127.0.0.1:5432/hostadmin_cluster_test"
)
REDIS_DB_URL = os.environ.get("CLUSTER_REDIS_URL", "redis://127.0.0.1:6379/12")
BENCH_ROWS = 20_000  # an export of them takes seconds at 100 ms upstream latency
GRACEFUL_TIMEOUT = 2  # seconds, so a cut export is cut quickly
EXPORT_SLOT_SECONDS = 3  # a killed export stops holding its user's slot this soon


@pytest.fixture(autouse=True)
def upstream() -> None:
    """(tests/conftest.py's in-process upstream is not used by cluster tests.)"""


@pytest.fixture(autouse=True)
def fast_password_hasher() -> None:
    """(The instances use the real password hasher.)"""


def cluster_config(workdir: Path, *, database_url: str, redis_url: str, **env: str) -> Config:
    return Config(
        database_url=database_url,
        redis_url=redis_url,
        port=free_port(),
        workdir=workdir,
        sandbox_args=["--bench-rows", str(BENCH_ROWS)],
        env={
            "GUNICORN_GRACEFUL_TIMEOUT": str(GRACEFUL_TIMEOUT),
            "EXPORT_SLOT_SECONDS": str(EXPORT_SLOT_SECONDS),
            **env,
        },
        logs_to_files=True,
        fresh_database=True,
    )


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    if not REDIS_DB_URL.endswith("/12"):
        pytest.exit(f"refusing to flush Redis at {REDIS_DB_URL}: cluster tests use database 12", 2)
    redis.Redis.from_url(REDIS_DB_URL).flushdb()
    with tempfile.TemporaryDirectory(prefix="hostadmin-cluster-") as tmp:
        config = cluster_config(Path(tmp), database_url=PG_URL, redis_url=REDIS_DB_URL)
        with Cluster(config) as running:
            yield running


@pytest.fixture(autouse=True)
def no_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test starts and ends with a sandbox without faults or latency."""
    yield
    for name in ("cluster", "outage_cluster"):
        if name in request.fixturenames:
            request.getfixturevalue(name).faults(None)


def grant_bench(cluster: Cluster) -> str:
    """Give the demo user the sandbox's 'bench' org (BENCH_ROWS rows); its ctx key."""
    out = cluster.manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import User\n"
        "from connections.models import ApiClient\n"
        "from sandbox.data import ORGS_BY_SLUG\n"
        "c = ApiClient.objects.get(client_id=ORGS_BY_SLUG['bench'].client_id)\n"
        "c.users.add(User.objects.get(username='demo'))\n"
        "print('CTX', c.pk)\n",
    )
    found = re.search(r"CTX (\d+)", out)
    assert found, out
    return found.group(1)


def open_exports(
    stack: contextlib.ExitStack, client: httpx.Client, urls: list[str], ctx: str
) -> tuple[list[str], list[Iterator[bytes]]]:
    """Start one whole-view export of the bench org at each of ``urls`` (kept open on
    ``stack``, their first chunk read); their export ids and the rest of their bodies."""
    ids, bodies = [], []
    for url in urls:
        export_id = uuid.uuid4().hex
        link = f"{url}/connections/export.csv?ctx={ctx}&export_id={export_id}"
        response = stack.enter_context(client.stream("GET", link))
        assert response.status_code == 200, response.read()[:300]
        assert response.headers["X-Export-Rows"] == str(BENCH_ROWS)
        chunks = response.iter_bytes()
        assert next(chunks).startswith(b"Host organization ID,")
        ids.append(export_id)
        bodies.append(chunks)
    return ids, bodies


def csrf_of(client: httpx.Client) -> str:
    return str(client.cookies["csrftoken"])


def sign_in(
    base_url: str,
    client: httpx.Client | None = None,
    *,
    username: str,
    password: str,
) -> tuple[httpx.Client, httpx.Response]:
    """A client (cookies for 127.0.0.1, whatever the port) after posting the sign-in form
    to ``base_url``; and that POST's response."""
    client = client or httpx.Client(timeout=30.0)
    page = client.get(f"{base_url}/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, page.text[:500]
    done = client.post(
        f"{base_url}/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token.group(1)},
    )
    return client, done


def signed_in(base_url: str) -> httpx.Client:
    client, done = sign_in(base_url, username="demo", password="demo")
    assert done.status_code == 302, done.text[:500]
    return client


def log_text(cluster: Cluster, name: str) -> str:
    path = cluster.log_of(name)
    return path.read_text(errors="replace") if path.exists() else ""


def instance_logs(cluster: Cluster) -> str:
    return "".join(log_text(cluster, f"instance-{port}") for port in cluster.instance_ports)


def every_url(cluster: Cluster) -> list[str]:
    """Both instances directly, and nginx."""
    return [cluster.instance_url(0), cluster.instance_url(1), cluster.url]


def body(response: Any) -> str:
    return str(response.text)
