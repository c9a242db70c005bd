import os

from django.core.cache import cache, caches
from django.test import Client


def test_list_first_page_shows_sandbox_rows(alice: Client) -> None:
    response = alice.get("/connections/")
    assert response.status_code == 200
    assert response["Vary"].startswith("HX-Request")
    body = response.content.decode()
    assert "connections match" in body
    assert body.count('<td title="') == 60  # each row: its name and two emails


def test_cache_is_redis_when_redis_url_is_set() -> None:
    """`make test-postgres` runs everything on Redis, as several workers would share it."""
    backend = type(caches["default"]).__name__
    assert backend == ("RedisCache" if os.environ.get("REDIS_URL") else "LocMemCache")
    cache.set("hostadmin:smoke", {"n": 1}, 5)
    assert cache.get("hostadmin:smoke") == {"n": 1}
    cache.add("hostadmin:smoke-count", 0, 5)
    assert cache.incr("hostadmin:smoke-count") == 1  # the export limit counts this way
