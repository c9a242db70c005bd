"""hostadmin.cache.RedisCache: a Redis that is down is a miss, logged once per interval;
counters refuse. Against a real Redis client and a port nothing listens on."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.core.cache import caches
from django.test import Client

from hostadmin.cache import CacheUnavailable
from tests.test_health import redis_down  # noqa: F401  (fixture)

OUTAGE = "hostadmin.outage"


@pytest.fixture
def fresh_outage_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts as if nothing had been logged yet."""
    from hostadmin import cache as module
    from hostadmin.outage import OutageLog

    monkeypatch.setattr(module, "outage", OutageLog("cache (Redis)"))


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
