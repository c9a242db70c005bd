"""hostadmin/metrics.py: what /metrics shows, to whom, and across processes.

Figures are read from /metrics itself, parsed as Prometheus parses them; each test looks
at how a figure moved, since the process's counters live as long as the test run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from hostadmin import metrics
from sandbox import SandboxApp
from tests.conftest import body_of, sandbox_rows

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: Client) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


# --- who may read it -------------------------------------------------------------------


def test_metrics_answer_loopback_without_sign_in(client: Client, db) -> None:
    for address in ("127.0.0.1", "::1"):
        response = client.get("/metrics", REMOTE_ADDR=address)
        assert response.status_code == 200, address
        assert "# TYPE hostadmin_requests_total counter" in response.content.decode()


def test_metrics_other_address_gets_the_404_page(client: Client, db) -> None:
    response = client.get("/metrics", REMOTE_ADDR="192.0.2.10")
    assert response.status_code == 404
    body = body_of(response)
    assert "Not found" in body
    assert "hostadmin_requests_total" not in body


def test_metrics_refuse_a_request_forwarded_by_the_proxy(client: Client, db) -> None:
    """Through nginx on the same machine, anyone's request comes from 127.0.0.1."""
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.7")
    assert response.status_code == 404
    assert "hostadmin_requests_total" not in body_of(response)


def test_metrics_allowed_addresses_come_from_settings(client: Client, db, settings) -> None:
    settings.METRICS_ALLOWED_IPS = ["192.0.2.10"]
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.10").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 404


def test_metrics_refuse_post(client: Client, db) -> None:
    assert client.post("/metrics").status_code == 405


# --- what it counts --------------------------------------------------------------------


def test_metrics_requests_by_view_and_status_with_latency(alice: Client) -> None:
    before = scrape(alice)
    assert alice.get("/connections/").status_code == 200
    assert alice.get("/connections/").status_code == 200
    assert alice.get("/no-such-page/").status_code == 404
    after = scrape(alice)
    labels = {"view": "connections:list", "method": "GET", "status": "200"}
    assert moved(before, after, "hostadmin_requests_total", **labels) == 2
    unresolved = {"view": "unresolved", "method": "GET", "status": "404"}
    assert moved(before, after, "hostadmin_requests_total", **unresolved) == 1
    histogram = "hostadmin_request_duration_seconds"
    assert moved(before, after, f"{histogram}_count", view="connections:list") == 2
    assert moved(before, after, f"{histogram}_sum", view="connections:list") > 0
    assert moved(before, after, f"{histogram}_bucket", view="connections:list", le="+Inf") == 2


def test_metrics_unknown_method_counted_as_other(client: Client, db) -> None:
    before = scrape(client)
    response = client.generic("QWERTY", "/healthz")
    assert response.status_code == 405
    after = scrape(client)
    other = {"view": "health", "method": "other", "status": "405"}
    assert moved(before, after, "hostadmin_requests_total", **other) == 1
    assert not any(labels and ("method", "QWERTY") in labels for _, labels in after)


def test_metrics_upstream_calls_by_endpoint_status_and_retry(
    alice: Client, upstream: SandboxApp
) -> None:
    upstream.faults.add("status_502", path="/host-connections", times=1)
    before = scrape(alice)
    assert alice.get("/connections/").status_code == 200  # the retry succeeded
    after = scrape(alice)
    calls = "hostadmin_upstream_calls_total"
    list_calls = {"endpoint": "host_connections"}
    assert moved(before, after, calls, **list_calls, status="502", retry="false") == 1
    assert moved(before, after, calls, **list_calls, status="200", retry="true") == 1
    assert moved(before, after, calls, endpoint="token", status="200", retry="false") == 1
    token_fetches = "hostadmin_upstream_token_fetches_total"
    assert moved(before, after, token_fetches, status="200") == 1
    seconds = "hostadmin_upstream_call_duration_seconds_count"
    assert moved(before, after, seconds, endpoint="host_connections") == 2
    assert sum(1 for s in upstream.seen if s.path.endswith("/host-connections")) == 2


def test_metrics_upstream_timeout_and_detail_endpoint(alice: Client, upstream: SandboxApp) -> None:
    upstream.faults.add("timeout", path="/host-connections", times=1)
    before = scrape(alice)
    page = alice.get("/connections/")
    assert page.status_code == 200
    host = sandbox_rows(upstream)[0]["host_organization_id"]
    assert alice.get(f"/connections/{host}/").status_code == 200
    after = scrape(alice)
    calls = "hostadmin_upstream_calls_total"
    timeout = {"endpoint": "host_connections", "status": "timeout", "retry": "false"}
    assert moved(before, after, calls, **timeout) == 1
    detail = {"endpoint": "host_connection", "status": "200", "retry": "false"}
    assert moved(before, after, calls, **detail) == 1


def test_metrics_export_and_cache_error_counters(client: Client, db) -> None:
    before = scrape(client)
    metrics.record_export(outcome="complete", rows=250, size_bytes=40_000)
    metrics.record_export(outcome="failed", rows=100, size_bytes=16_000)
    metrics.record_cache_error(operation="get")
    after = scrape(client)
    assert moved(before, after, "hostadmin_exports_total", outcome="complete") == 1
    assert moved(before, after, "hostadmin_exports_total", outcome="failed") == 1
    assert moved(before, after, "hostadmin_export_rows_total") == 350
    assert moved(before, after, "hostadmin_export_bytes_total") == 56_000
    assert moved(before, after, "hostadmin_cache_errors_total", operation="get") == 1


@pytest.mark.parametrize(
    ("path", "endpoint"),
    [
        ("/v1-beta/oauth2/token", "token"),
        ("/v1-beta/host-connections", "host_connections"),
        ("/v1-beta/host-connections/d52c9df1-6ab7-54c7-bdf1-00a8d0a1b950", "host_connection"),
        ("/v1-beta/host-connections/x/y", "other"),
        ("/elsewhere", "other"),
    ],
)
def test_metrics_upstream_endpoint_labels_are_a_fixed_set(path: str, endpoint: str) -> None:
    assert metrics.upstream_endpoint(path) == endpoint


# --- several processes (gunicorn workers) ----------------------------------------------

WORKER = (
    "from hostadmin import metrics; "
    "metrics.record_request(view='connections:list', method='GET', status=200, seconds=0.02)"
)


def test_metrics_multiprocess_adds_up_every_worker(
    client: Client, db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    root = Path(__file__).resolve().parent.parent
    for _ in range(2):  # two worker processes, each answers one request and exits
        subprocess.run([sys.executable, "-c", WORKER], env=env, cwd=root, check=True)
    assert len(list(tmp_path.glob("*.db"))) >= 2  # each wrote its own file
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    samples = scrape(client)  # this process reads the directory, not its own registry
    labels = {"view": "connections:list", "method": "GET", "status": "200"}
    assert value(samples, "hostadmin_requests_total", **labels) == 2
    assert value(samples, "hostadmin_request_duration_seconds_count", view="connections:list") == 2
