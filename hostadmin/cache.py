"""Django's Redis cache, but a Redis that is down is a cache miss, not a 500.

Everything hostadmin keeps in the cache can be lost: tokens are fetched again, progress
and cancel marks go missing. So reads answer the default and writes are dropped while
Redis is unreachable, and the failure is logged once per interval (``OutageLog``).
Counters are the exception: a limit that cannot be counted must not be waved through,
so ``incr``/``decr`` raise ``CacheUnavailable`` and the caller refuses politely.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from redis.exceptions import RedisError

from hostadmin.outage import OutageLog

outage = OutageLog("cache (Redis)")


class CacheUnavailable(Exception):
    """The shared cache cannot be reached and a miss would be wrong (counters)."""


class RedisCache(DjangoRedisCache):
    """Set ``OPTIONS`` ``socket_connect_timeout``/``socket_timeout`` so a hung Redis
    costs a bounded wait, not a hung request."""

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        try:
            return super().get(key, default, version)
        except RedisError as exc:
            outage.failed(exc)
            return default

    def get_many(self, keys: Any, version: int | None = None) -> dict[Any, Any]:
        try:
            return super().get_many(keys, version)
        except RedisError as exc:
            outage.failed(exc)
            return {}

    def has_key(self, key: Any, version: int | None = None) -> bool:
        try:
            return super().has_key(key, version)
        except RedisError as exc:
            outage.failed(exc)
            return False

    def set(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> None:
        try:
            super().set(key, value, timeout, version)
        except RedisError as exc:
            outage.failed(exc)

    def add(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        """True while Redis is down: nobody else can hold the key, so whoever asked goes
        ahead alone (as with no shared cache at all)."""
        try:
            return super().add(key, value, timeout, version)
        except RedisError as exc:
            outage.failed(exc)
            return True

    def set_many(
        self, data: dict[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> list[Any]:
        try:
            return super().set_many(data, timeout, version)
        except RedisError as exc:
            outage.failed(exc)
            return list(data)

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        try:
            return super().touch(key, timeout, version)
        except RedisError as exc:
            outage.failed(exc)
            return False

    def delete(self, key: Any, version: int | None = None) -> bool:
        try:
            return super().delete(key, version)
        except RedisError as exc:
            outage.failed(exc)
            return False

    def delete_many(self, keys: Any, version: int | None = None) -> None:
        try:
            super().delete_many(keys, version)
        except RedisError as exc:
            outage.failed(exc)

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        try:
            return super().incr(key, delta, version)
        except RedisError as exc:
            outage.failed(exc)
            raise CacheUnavailable("the shared cache cannot be reached") from None

    def clear(self) -> None:
        try:
            super().clear()
        except RedisError as exc:
            outage.failed(exc)
