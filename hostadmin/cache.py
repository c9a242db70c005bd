"""Django's Redis cache, but a Redis that is down is a cache miss, not a 500.

Everything hostadmin keeps in the cache can be lost: tokens are fetched again, progress
and cancel marks go missing. So reads answer the default and writes are dropped while
Redis is unreachable, and the failure is logged once per interval (``OutageLog``).
After a failure Redis is left alone for ``settings.CACHE_RETRY_SECONDS``: every call
answers at once, so a hung Redis costs one socket timeout per interval, not one per call.
Counters are the exception: a limit that cannot be counted must not be waved through,
so ``incr``/``decr`` raise ``CacheUnavailable`` and the caller refuses politely.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from redis.exceptions import RedisError

from hostadmin.outage import OutageLog

outage = OutageLog("cache (Redis)")
_T = TypeVar("_T")


class RetryPause:
    """When each Redis (by its location) may be tried again after a failure. Shared by
    every thread of the process (Django builds one cache object per thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until: dict[str, float] = {}

    def active(self, location: str) -> bool:
        with self._lock:
            return time.monotonic() < self._until.get(location, float("-inf"))

    def failed(self, location: str, exc: BaseException) -> None:
        outage.failed(exc)
        with self._lock:
            self._until[location] = time.monotonic() + settings.CACHE_RETRY_SECONDS


pause = RetryPause()


class CacheUnavailable(Exception):
    """The shared cache cannot be reached and a miss would be wrong (counters)."""


class RedisCache(DjangoRedisCache):
    """Set ``OPTIONS`` ``socket_connect_timeout``/``socket_timeout`` so a hung Redis
    costs a bounded wait, not a hung request."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._location = server

    def _try(self, default: _T, call: Callable[..., _T], *args: Any) -> _T:
        """``call(*args)``, or ``default`` when Redis fails or is paused after a failure."""
        if pause.active(self._location):
            return default
        try:
            return call(*args)
        except RedisError as exc:
            pause.failed(self._location, exc)
            return default

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        return self._try(default, super().get, key, default, version)

    def get_many(self, keys: Any, version: int | None = None) -> dict[Any, Any]:
        return self._try({}, super().get_many, keys, version)

    def has_key(self, key: Any, version: int | None = None) -> bool:
        return self._try(False, super().has_key, key, version)

    def set(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> None:
        self._try(None, super().set, key, value, timeout, version)

    def add(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        """True while Redis is down: nobody else can hold the key, so whoever asked goes
        ahead alone (as with no shared cache at all)."""
        return self._try(True, super().add, key, value, timeout, version)

    def set_many(
        self, data: dict[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> list[Any]:
        return self._try(list(data), super().set_many, data, timeout, version)

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return self._try(False, super().touch, key, timeout, version)

    def delete(self, key: Any, version: int | None = None) -> bool:
        return self._try(False, super().delete, key, version)

    def delete_many(self, keys: Any, version: int | None = None) -> None:
        self._try(None, super().delete_many, keys, version)

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        if pause.active(self._location):
            raise CacheUnavailable("the shared cache cannot be reached")
        try:
            return super().incr(key, delta, version)
        except RedisError as exc:
            pause.failed(self._location, exc)
            raise CacheUnavailable("the shared cache cannot be reached") from None

    def clear(self) -> None:
        self._try(None, super().clear)


def computed_once(key: str, compute: Callable[[], _T], *, timeout: float, wait: float) -> _T:
    """The cached value of ``key``, else ``compute()``'s, cached for ``timeout`` seconds.

    One caller at a time computes it, across every process that shares the cache (a lock
    taken with the atomic ``cache.add``); the others wait up to ``wait`` seconds for its
    value instead of computing it again. A computation that raises stores nothing and
    frees the lock, so the next caller tries afresh; past ``wait`` a caller computes on
    its own (the lock expires by itself if its owner died)."""
    value: _T | None = cache.get(key)
    if value is not None:
        return value
    lock_key, owner = f"{key}:computing", uuid.uuid4().hex
    deadline = time.monotonic() + wait
    while not cache.add(lock_key, owner, timeout=math.ceil(wait)):
        if time.monotonic() > deadline:
            break
        time.sleep(_WAIT_POLL)
        value = cache.get(key)
        if value is not None:
            return value
    try:
        value = cache.get(key)  # stored by the computation we waited for
        if value is None:
            value = compute()
            cache.set(key, value, timeout)
        return value
    finally:
        if cache.get(lock_key) == owner:
            cache.delete(lock_key)


_WAIT_POLL = 0.05  # seconds between two looks at the cache while another caller computes
