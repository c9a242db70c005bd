"""Restarts: SIGTERM to one instance under load fails no GET through nginx (in-flight
requests finish within the graceful timeout, nginx moves on to the other instance), and
an export cut by a stop fails visibly, never as a complete-looking file."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections import Counter

import httpx
import pytest

from deploy.cluster import Cluster
from tests.cluster.conftest import (
    BENCH_ROWS,
    EXPORT_SLOT_SECONDS,
    GRACEFUL_TIMEOUT,
    csrf_of,
    grant_bench,
    log_text,
    open_exports,
    signed_in,
)

LOAD_THREADS = 6


def test_cluster_sigterm_under_load_fails_no_get(cluster: Cluster) -> None:
    client = signed_in(cluster.url)
    cluster.faults({"latency_ms": 20})
    statuses: Counter[int | str] = Counter()
    stop = threading.Event()

    def browse() -> None:
        with httpx.Client(cookies=client.cookies, timeout=30.0) as mine:
            while not stop.is_set():
                try:
                    statuses[mine.get(f"{cluster.url}/connections/?limit=20").status_code] += 1
                except httpx.HTTPError as exc:
                    statuses[type(exc).__name__] += 1

    threads = [threading.Thread(target=browse) for _ in range(LOAD_THREADS)]
    for t in threads:
        t.start()
    try:
        time.sleep(2)
        stopped_at = time.monotonic()
        cluster.stop_instance(0)
        stopped_in = time.monotonic() - stopped_at
        time.sleep(2)  # the survivor serves alone
    finally:
        stop.set()
        for t in threads:
            t.join()
        cluster.start_instance(0)
    assert set(statuses) == {200}, statuses
    assert statuses[200] > 20
    assert stopped_in < GRACEFUL_TIMEOUT + 2
    stopped_log = log_text(cluster, f"instance-{cluster.instance_ports[0]}")
    assert '"GET /connections/" 200' in stopped_log  # it did serve before it stopped


def test_cluster_export_cut_by_a_stop_fails_visibly(cluster: Cluster) -> None:
    """Through nginx, with instance 1 stopped so the export lands on instance 0; that one
    then stops mid-export (longer than its graceful timeout)."""
    ctx = grant_bench(cluster)
    client = signed_in(cluster.url)
    cluster.stop_instance(1)
    try:
        cluster.faults({"latency_ms": 100})  # 200 pages: longer than the graceful timeout
        url = f"{cluster.url}/connections/export.csv?ctx={ctx}&export_id={uuid.uuid4().hex}"
        received = b""
        with client.stream("GET", url) as response:
            assert response.status_code == 200
            chunks = response.iter_bytes()
            received += next(chunks)
            cluster.stop_instance(0, wait=False)
            with pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"):
                for chunk in chunks:
                    received += chunk
        rows = received.count(b"\r\n") - 1
        assert 0 < rows < BENCH_ROWS  # cut: some rows, not all, and the client knows it
    finally:
        cluster.stop_instance(0)
        cluster.start_instance(0)
        cluster.start_instance(1)
    # The cut export could not give its slot back; it stops holding it by itself.
    time.sleep(EXPORT_SLOT_SECONDS + 1)
    with contextlib.ExitStack() as open_streams:
        ids, _ = open_exports(open_streams, client, [cluster.url] * 2, ctx)  # EXPORTS_PER_USER
        for export_id in ids:
            client.post(
                f"{cluster.url}/connections/export/{export_id}/cancel/",
                headers={"HX-Request": "true", "X-CSRFToken": csrf_of(client)},
            )
    cluster.faults(None)
