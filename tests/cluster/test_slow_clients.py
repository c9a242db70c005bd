"""Slow clients wait on nginx, not on a gunicorn thread: 64 connections that send half a
header and wait do not delay a normal request through nginx by more than 1 s."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator

from deploy.cluster import Cluster
from tests.cluster.conftest import signed_in

SLOW_CLIENTS = 64


@contextlib.contextmanager
def half_headers(port: int, count: int) -> Iterator[list[socket.socket]]:
    """``count`` connections, each with half a request header sent, then silence."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /connections/ HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: sl")
            sockets.append(s)
        yield sockets
    finally:
        for s in sockets:
            s.close()


def still_waiting(s: socket.socket) -> bool:
    """Open, and nothing answered yet."""
    s.setblocking(False)
    try:
        return s.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    finally:
        s.setblocking(True)


def timed_page(client, url: str) -> float:
    started = time.monotonic()
    page = client.get(url)
    elapsed = time.monotonic() - started
    assert page.status_code == 200
    assert "connections match" in page.text
    return elapsed


def test_cluster_slow_clients_do_not_delay_a_normal_request(cluster: Cluster) -> None:
    client = signed_in(cluster.url)
    url = f"{cluster.url}/connections/"
    baseline = min(timed_page(client, url) for _ in range(3))
    with half_headers(cluster.config.port, SLOW_CLIENTS) as slow:
        time.sleep(0.5)  # they have all arrived and been read by nginx
        during = max(timed_page(client, url) for _ in range(3))
        assert all(still_waiting(s) for s in slow)  # none was answered or dropped
    assert during < baseline + 1.0, (baseline, during)
