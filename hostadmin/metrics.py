"""Prometheus metrics (prometheus-client) and the ``/metrics`` endpoint.

Other modules count through the small ``record_*`` functions below; the label values are
bounded sets (view names, statuses, three upstream endpoints), never ids or user input.

Several gunicorn workers: set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory the
workers may write (emptied before each start of gunicorn). prometheus-client then keeps
every process's values in files there and ``/metrics`` adds them up, whichever worker
answers; gunicorn's ``child_exit`` hook should call
``prometheus_client.multiprocess.mark_process_dead(worker.pid)``. Without the variable,
``/metrics`` shows the answering process's own values (right for one process).

``/metrics`` answers only the addresses in ``settings.METRICS_ALLOWED_IPS`` (default the
loopback), and only requests that no proxy forwarded: behind nginx on the same machine
every request comes from 127.0.0.1, so one that carries ``X-Forwarded-For`` is refused
too (Prometheus scrapes each instance directly). Refused requests get the 404 page, as
for a page that does not exist.
"""

from __future__ import annotations

import os
import re

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from hostadmin.client_ip import client_ip

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

REQUESTS = Counter(
    "hostadmin_requests_total",
    "Requests answered, by view (Django's view name) and status.",
    ["view", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "hostadmin_request_duration_seconds",
    "Time to answer a request (a streamed one: until its stream ended), by view.",
    ["view"],
    buckets=_SECONDS,
)
UPSTREAM_CALLS = Counter(
    "hostadmin_upstream_calls_total",
    "HTTP calls to the MyCreditApp API, by endpoint, status ('timeout' or 'network' when "
    "no answer came) and whether the call was a retry.",
    ["endpoint", "status", "retry"],
)
UPSTREAM_SECONDS = Histogram(
    "hostadmin_upstream_call_duration_seconds",
    "Time of one upstream call, from sending to the end of its body, by endpoint.",
    ["endpoint"],
    buckets=_SECONDS,
)
TOKEN_FETCHES = Counter(
    "hostadmin_upstream_token_fetches_total",
    "Access tokens fetched from the upstream (calls of its token endpoint), by status.",
    ["status"],
)
EXPORTS = Counter(
    "hostadmin_exports_total",
    "CSV exports ended, by outcome: complete, or aborted ('cancelled', 'failed').",
    ["outcome"],
)
EXPORT_ROWS = Counter("hostadmin_export_rows_total", "Rows written by CSV exports.")
EXPORT_BYTES = Counter("hostadmin_export_bytes_total", "Bytes of CSV written by exports.")
CACHE_ERRORS = Counter(
    "hostadmin_cache_errors_total",
    "Calls to the shared cache (Redis) that failed, by operation.",
    ["operation"],
)

_ENDPOINTS = (
    (re.compile(r"/oauth2/token$"), "token"),
    (re.compile(r"/host-connections$"), "host_connections"),
    (re.compile(r"/host-connections/[^/]+$"), "host_connection"),
)


def upstream_endpoint(path: str) -> str:
    """The endpoint of an upstream URL path, as a label ("other" for any other path)."""
    for pattern, name in _ENDPOINTS:
        if pattern.search(path):
            return name
    return "other"


# The method label is one of these or "other": a client may send any word as a method,
# and each new label value is a new series kept for the life of the process.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def record_request(*, view: str, method: str, status: int, seconds: float) -> None:
    view = view or "unresolved"
    method = method if method in _METHODS else "other"
    REQUESTS.labels(view=view, method=method, status=str(status)).inc()
    REQUEST_SECONDS.labels(view=view).observe(seconds)


def record_upstream(*, path: str, status: str, retry: bool, seconds: float) -> None:
    endpoint = upstream_endpoint(path)
    UPSTREAM_CALLS.labels(endpoint=endpoint, status=status, retry=str(retry).lower()).inc()
    UPSTREAM_SECONDS.labels(endpoint=endpoint).observe(seconds)
    if endpoint == "token":
        TOKEN_FETCHES.labels(status=status).inc()


def record_export(*, outcome: str, rows: int, size_bytes: int) -> None:
    """One export ended: ``outcome`` is "complete", "cancelled" or "failed"."""
    EXPORTS.labels(outcome=outcome).inc()
    EXPORT_ROWS.inc(rows)
    EXPORT_BYTES.inc(size_bytes)


def record_cache_error(*, operation: str) -> None:
    """A cache call failed (``operation``: a short fixed name such as "get" or "lock")."""
    CACHE_ERRORS.labels(operation=operation).inc()


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    forwarded = "X-Forwarded-For" in request.headers
    if forwarded or client_ip(request) not in settings.METRICS_ALLOWED_IPS:
        raise Http404("No such page.")
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
