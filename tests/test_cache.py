"""hostadmin.cache.RedisCache: a Redis that is down is a miss, logged once per interval;
counters refuse, and after a failure Redis is left alone for a while. Against a real Redis
client and a port nothing listens on, or one that never answers."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.core.cache import caches
from django.test import Client

from hostadmin.cache import CacheUnavailable, computed_once
from tests.test_health import closed_port, redis_down  # noqa: F401  (fixture)

OUTAGE = "hostadmin.outage"


@pytest.fixture
def fresh_outage_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts as if nothing had been logged yet."""
    from hostadmin import cache as module
    from hostadmin.outage import OutageLog

    monkeypatch.setattr(module, "outage", OutageLog("cache (Redis)"))
    monkeypatch.setattr(module, "pause", module.RetryPause())


def outage_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == OUTAGE]


@pytest.mark.usefixtures("redis_down", "fresh_outage_log")
def test_cache_redis_down_reads_miss_writes_drop_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger=OUTAGE)
    cache = caches["default"]
    assert type(cache).__module__ == "hostadmin.cache"
    assert cache.get("k", "fallback") == "fallback"
    assert cache.get_many(["a", "b"]) == {}
    assert cache.has_key("k") is False
    cache.set("k", 1)
    cache.set_many({"a": 1})
    assert cache.add("k", 1) is True  # nobody else can hold it: go ahead alone
    assert cache.touch("k") is False
    assert cache.delete("k") is False
    cache.delete_many(["a"])
    cache.clear()
    with pytest.raises(CacheUnavailable):
        cache.incr("counter")
    with pytest.raises(CacheUnavailable):
        cache.decr("counter")
    lines = outage_lines(caplog)
    assert lines == [
        "cache (Redis) unavailable (ConnectionError); 0 failures since the "
        "previous report were not logged"
    ]


@pytest.mark.usefixtures("redis_down", "fresh_outage_log")
def test_cache_redis_down_logged_again_after_the_interval(
    caplog: pytest.LogCaptureFixture, settings: Any
) -> None:
    caplog.set_level(logging.WARNING, logger=OUTAGE)
    settings.DEPENDENCY_LOG_INTERVAL = 0
    settings.CACHE_RETRY_SECONDS = 0  # tried again at once
    cache = caches["default"]
    cache.get("k")
    cache.get("k")
    assert len(outage_lines(caplog)) == 2


@pytest.mark.usefixtures("redis_down", "fresh_outage_log")
def test_cache_redis_down_list_loads_and_export_says_unavailable(alice: Client) -> None:
    listing = alice.get("/connections/")
    assert listing.status_code == 200
    assert "connections match" in listing.content.decode()
    export = alice.get("/connections/export.csv?scope=page")
    assert export.status_code == 503
    assert "Exports are unavailable for a moment" in export.content.decode()


@pytest.fixture
def hung_redis(settings: Any) -> Iterator[socket.socket]:
    """A port that takes connections (the kernel completes them) and never answers: a
    hung Redis. The test counts the connections made by accepting what is queued."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        server.setblocking(False)
        settings.CACHES = {
            "default": {
                "BACKEND": "hostadmin.cache.RedisCache",
                "LOCATION": f"redis://127.0.0.1:{server.getsockname()[1]}/0",
                "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
            }
        }
        yield server


def connections_made(server: socket.socket) -> int:
    made = 0
    while True:
        try:
            conn, _ = server.accept()
        except BlockingIOError:
            return made
        conn.close()
        made += 1


@pytest.mark.usefixtures("fresh_outage_log")
def test_cache_redis_hung_left_alone_after_a_failure(hung_redis: socket.socket) -> None:
    cache = caches["default"]
    assert cache.get("k", "fallback") == "fallback"  # waited for the socket timeout
    assert connections_made(hung_redis) >= 1
    assert cache.get("k", "fallback") == "fallback"
    assert cache.get_many(["a"]) == {}
    assert cache.has_key("k") is False
    cache.set("k", 1)
    cache.set_many({"a": 1})
    assert cache.add("k", 1) is True
    assert cache.touch("k") is False
    assert cache.delete("k") is False
    cache.delete_many(["a"])
    cache.clear()
    with pytest.raises(CacheUnavailable):
        cache.incr("counter")
    with pytest.raises(CacheUnavailable):
        cache.decr("counter")
    assert connections_made(hung_redis) == 0  # every call answered without Redis


@pytest.mark.usefixtures("fresh_outage_log")
def test_cache_redis_hung_tried_again_after_the_interval(
    hung_redis: socket.socket, settings: Any
) -> None:
    settings.CACHE_RETRY_SECONDS = 0
    cache = caches["default"]
    cache.get("k")
    assert connections_made(hung_redis) >= 1
    cache.get("k")
    assert connections_made(hung_redis) >= 1  # the interval is over: Redis is asked again


@pytest.mark.usefixtures("fresh_outage_log")
def test_cache_redis_down_left_alone_per_location(hung_redis: socket.socket) -> None:
    from hostadmin.cache import RedisCache, pause

    other = RedisCache(f"redis://127.0.0.1:{closed_port()}/0", {})
    other.get("k")  # another Redis failed: this one is still asked
    caches["default"].get("k")
    assert connections_made(hung_redis) >= 1
    assert pause.active(other._location)


def test_computed_once_concurrent_callers_compute_once() -> None:
    """Four threads ask at once: one computes (slowly), the other three get its value."""
    calls: list[int] = []
    started = threading.Event()

    def compute() -> list[str]:
        calls.append(1)
        started.set()
        time.sleep(0.3)
        return ["value"]

    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(computed_once, "t:once", compute, timeout=60, wait=5)
        started.wait(5)
        rest = [pool.submit(computed_once, "t:once", compute, timeout=60, wait=5) for _ in range(3)]
        results = [first.result(), *(f.result() for f in rest)]
    assert results == [["value"]] * 4
    assert len(calls) == 1


def test_computed_once_failure_stores_nothing_and_frees_the_lock() -> None:
    def broken() -> str:
        raise RuntimeError("upstream down")

    with pytest.raises(RuntimeError):
        computed_once("t:fails", broken, timeout=60, wait=5)
    started = time.monotonic()
    assert computed_once("t:fails", lambda: "fresh", timeout=60, wait=5) == "fresh"
    assert time.monotonic() - started < 1  # no wait for a lock left behind


def test_computed_once_past_the_wait_computes_alone() -> None:
    """A lock held by a caller that never finishes (it died) delays the others by the
    wait only."""
    caches["default"].add("t:stuck:computing", "someone else", timeout=60)
    started = time.monotonic()
    assert computed_once("t:stuck", lambda: "mine", timeout=60, wait=0.3) == "mine"
    assert 0.3 <= time.monotonic() - started < 2
