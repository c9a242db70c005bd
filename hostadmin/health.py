"""Operational endpoints for load balancers and monitors (no sign-in, no upstream call).

``/healthz`` is liveness: the process answers, whatever its dependencies do (restarting
it would not bring PostgreSQL back). ``/readyz`` is readiness: it reports the database
and the cache and answers 503 when either is down. Both answer GET and HEAD.
"""

from __future__ import annotations

import secrets

from django.core.cache import cache
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_safe


@require_safe
def health(request: HttpRequest) -> HttpResponse:
    return HttpResponse("" if request.method == "HEAD" else "ok", content_type="text/plain")


@require_safe
def ready(request: HttpRequest) -> HttpResponse:
    checks = {"database": _database_ok(), "cache": _cache_ok()}
    all_ok = all(checks.values())
    body = {name: "ok" if ok else "down" for name, ok in checks.items()}
    response = JsonResponse({"status": "ok" if all_ok else "down", **body})
    response.status_code = 200 if all_ok else 503
    if request.method == "HEAD":  # gunicorn drops a HEAD body with a warning per request
        response.content = b""
    response["Cache-Control"] = "no-store"
    return response


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except DatabaseError:
        return False


def _cache_ok() -> bool:
    """A value written and read back (the cache backend turns Redis errors into misses)."""
    key, value = f"hostadmin:readyz:{secrets.token_hex(8)}", secrets.token_hex(8)
    cache.set(key, value, 10)
    ok = cache.get(key) == value
    cache.delete(key)
    return ok
