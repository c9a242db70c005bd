"""Facet counts: how many rows each filter choice would give, the other filters as they are
(Datasette's facets, Django admin's since 5.0).

One ``limit=0`` upstream call per choice (``api.count_host_connections``), run concurrently
on a small pool of threads, each count cached briefly in the shared cache per org context
and query. A call that fails leaves its count ``None``: the page shows no number there and
nothing else changes. ``FACET_COUNTS`` switches the counts off (no calls at all).
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from connections import api
from connections.query import ACTION_TYPES, STATUSES, ListQuery

log = logging.getLogger(__name__)

# Parameters that change the order or the page, never a count: their defaults are used, so
# a count is shared by every sort and page of the same filters.
_NOT_COUNTED = ("order_by", "order_dir", "limit", "offset")


def choice_queries(query: ListQuery) -> dict[str, ListQuery]:
    """Each filter choice's query: the current filters with that one choice applied. Keys
    are the choices' names; the page shows each count in ``<span id="count-<name>">``."""
    base = query.changed(**{name: ListQuery.model_fields[name].default for name in _NOT_COUNTED})
    return {
        **{status: base.changed(statuses=(status,)) for status in STATUSES},
        "archived-true": base.changed(archived=True),
        "archived-false": base.changed(archived=False),
        **{f"action-{a}": base.changed(active_action_types=(a,)) for a in ACTION_TYPES},
    }


CHOICES: tuple[str, ...] = tuple(choice_queries(ListQuery()))


@dataclass(frozen=True)
class FacetCounts:
    """Rows per filter choice (``CHOICES``); ``None`` where the count could not be had."""

    counts: dict[str, int | None]
    enabled: bool = True

    @classmethod
    def absent(cls, *, enabled: bool = True) -> FacetCounts:
        return cls({choice: None for choice in CHOICES}, enabled)

    @property
    def spans(self) -> list[tuple[str, str]]:
        """``(element id, text)`` per choice, the text as people read it: ``(1,204)``, or
        empty when the count is absent."""
        return [
            (f"count-{choice}", "" if count is None else f"({count:,})")
            for choice, count in self.counts.items()
        ]


def facet_counts_get(*, caller: api.Caller, ctx_key: str, query: ListQuery) -> FacetCounts:
    """The count of every filter choice for this org context and query. Never raises an
    ``ApiError``: a failed count is ``None``. Cached counts make no upstream call."""
    if not settings.FACET_COUNTS:
        return FacetCounts.absent(enabled=False)
    choices = choice_queries(query)
    keys = {choice: _cache_key(ctx_key, q) for choice, q in choices.items()}
    queries = {keys[choice]: q for choice, q in choices.items()}  # a query is counted once
    found: dict[str, int | None] = cache.get_many(list(queries))
    missing = [key for key in queries if key not in found]
    if missing:
        # Each count in a copy of this thread's context (the request's id and upstream
        # tally): a pool thread does not inherit it.
        pool = _executor()
        futures = [
            pool.submit(contextvars.copy_context().run, _count, caller, queries[key])
            for key in missing
        ]
        counted = [future.result() for future in futures]
        fresh = dict(zip(missing, counted, strict=True))
        cache.set_many(
            {key: n for key, n in fresh.items() if n is not None}, settings.FACET_CACHE_SECONDS
        )
        found.update(fresh)
    return FacetCounts({choice: found[key] for choice, key in keys.items()})


def _count(caller: api.Caller, query: ListQuery) -> int | None:
    try:
        return api.count_host_connections(caller, query)
    except api.ApiError as exc:  # api.py has logged the upstream's answer
        log.info("facet count left out: %s ref=%s", type(exc).__name__, exc.correlation_id)
        return None


def _cache_key(ctx_key: str, query: ListQuery) -> str:
    """The org context and the choice's canonical querystring, hashed: no search text or
    organization id in a key (keys show up in cache tools and logs)."""
    canonical = f"{ctx_key}\0{query.querystring(include_offset=False)}"
    return f"hostadmin:facet:{hashlib.sha256(canonical.encode()).hexdigest()[:32]}"


# One pool per process, kept between requests: its threads keep their cache connections
# (Django's cache clients are per thread) and bound the count calls in flight.
_pool: tuple[int, ThreadPoolExecutor] | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    size = settings.FACET_CONCURRENCY
    with _pool_lock:
        if _pool is None or _pool[0] != size:  # built anew when the setting changes
            if _pool is not None:
                _pool[1].shutdown(wait=False)
            _pool = (size, ThreadPoolExecutor(max_workers=size, thread_name_prefix="facets"))
        return _pool[1]
