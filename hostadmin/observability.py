"""The request id, the one JSON log line per request, and the upstream calls' tally.

``RequestLogMiddleware`` (first in MIDDLEWARE) takes nginx's ``X-Request-ID`` when it is
well-formed, or makes one, and keeps it with the request's upstream tally in a context
variable for the code below it: ``connections/api.py`` sends it upstream as
``X-Request-ID`` and quotes it as the reference of its errors, the error pages show it,
and every log record carries it (``RequestIdFilter``). The response carries it back in
``X-Request-ID``. When the response is over (for a streamed one, when the stream ends),
one line goes to the ``hostadmin.request`` logger and the request metrics
(``hostadmin/metrics.py``) are counted.

The line holds ids, names of views and figures only: never a URL, a query value, a name,
an email, a secret or a token (logs carry no customer data).
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, cast

import httpx
import pythonjsonlogger.json
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponseBase,
    HttpResponseServerError,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.template import loader
from pythonjsonlogger.core import RESERVED_ATTRS

from hostadmin import metrics

log = logging.getLogger("hostadmin.request")

HEADER = "X-Request-ID"
# nginx's $request_id is 32 hex digits; a UUID with hyphens is accepted too. Anything
# else (too long, other characters) is replaced, so it can go into headers and logs as is.
_WELL_FORMED = re.compile(r"[0-9a-fA-F][0-9a-fA-F-]{7,63}")


@dataclass
class RequestState:
    """What the code serving one request adds to its log line."""

    request_id: str
    started: float = field(default_factory=time.perf_counter)
    upstream_calls: int = 0
    upstream_seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_upstream_call(self, seconds: float) -> None:
        with self._lock:  # an export's pages may be fetched by several threads
            self.upstream_calls += 1
            self.upstream_seconds += seconds


_current: ContextVar[RequestState | None] = ContextVar("hostadmin_request", default=None)


def current_request_id() -> str:
    """The id of the request being served ("" outside a request)."""
    state = _current.get()
    return state.request_id if state else ""


def request_id_from(header: str | None) -> str:
    """The proxy's id when well-formed, else a new one of the same shape."""
    if header and _WELL_FORMED.fullmatch(header):
        return header
    return uuid.uuid4().hex


class RequestLogMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        state = RequestState(request_id_from(request.headers.get(HEADER)))
        request.request_id = state.request_id  # type: ignore[attr-defined]
        token = _current.set(state)
        try:
            response = self.get_response(request)
        finally:
            _current.reset(token)
        response[HEADER] = state.request_id

        def finish(body: str = "") -> None:
            _log_request(request, response, state, body)

        if (
            isinstance(response, StreamingHttpResponse)
            and not response.is_async
            and not isinstance(response, FileResponse)
        ):
            chunks = cast(Iterable[bytes], response.streaming_content)  # not async: checked
            response.streaming_content = _StreamInRequest(chunks, state, finish)
        else:  # whole responses, and files (a wrapped file would lose the server's sendfile)
            finish()
        return response


class _StreamInRequest:
    """A streamed body read with its request's state current (the upstream calls it makes
    are counted and carry the request id); the log line is written when it is closed."""

    def __init__(
        self, chunks: Iterable[bytes], state: RequestState, finish: Callable[[str], None]
    ) -> None:
        self._chunks = iter(chunks)
        self._state = state
        self._finish = finish
        self._outcome = "unread"

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        token = _current.set(self._state)
        try:
            chunk = next(self._chunks)
        except StopIteration:
            self._outcome = "complete"
            raise
        except BaseException:
            self._outcome = "failed"
            raise
        finally:
            _current.reset(token)
        self._outcome = "partial"
        return chunk

    def close(self) -> None:  # Django calls it when the response ends, read or not
        self._finish(self._outcome)
        self._finish = lambda body: None


def _log_request(
    request: HttpRequest, response: HttpResponseBase, state: RequestState, body: str
) -> None:
    seconds = time.perf_counter() - state.started
    match = request.resolver_match
    view = match.view_name if match else ""
    ctx = getattr(request, "org_ctx", None)  # set by connections.views.access.with_org_context
    status = response.status_code
    fields: dict[str, Any] = {
        "request_id": state.request_id,
        "user_id": _user_id(request),
        "ctx": ctx.key if ctx is not None else None,
        "view": view or None,
        "method": request.method,
        "status": status,
        "duration_ms": round(seconds * 1000, 1),
        "upstream_calls": state.upstream_calls,
        "upstream_ms": round(state.upstream_seconds * 1000, 1),
    }
    if body:
        fields["body"] = body  # a stream: "complete", "failed", "partial" or "unread"
    log.log(logging.WARNING if status >= 500 else logging.INFO, "request", extra=fields)
    metrics.record_request(view=view, method=request.method or "", status=status, seconds=seconds)


def _user_id(request: HttpRequest) -> int | None:
    user = getattr(request, "user", None)
    try:
        return int(user.pk) if user is not None and user.is_authenticated else None
    except Exception:  # the database is down: the log line goes out without the user
        return None


class RequestIdFilter(logging.Filter):
    """Gives every log record written while serving a request that request's id, and
    Django's records about a response ("Not Found: ...", written once the middleware is
    done) the id of the request they name."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            named = getattr(getattr(record, "request", None), "request_id", None)
            record.request_id = current_request_id() or named
        return True


class JsonFormatter(pythonjsonlogger.json.JsonFormatter):
    """python-json-logger's formatter, less the ``request`` that Django's loggers attach
    to their records: its repr holds the query string (customer data)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("reserved_attrs", [*RESERVED_ATTRS, "request"])
        super().__init__(*args, **kwargs)


# --- the request id on error pages -----------------------------------------------------


def request_id_context(request: HttpRequest) -> dict[str, str]:
    """Context processor: ``request_id``, the reference a page of trouble shows."""
    return {"request_id": current_request_id()}


def server_error(request: HttpRequest) -> HttpResponseServerError:
    """handler500: the error page with the request id to quote (no context processors:
    the database may be what failed)."""
    template = loader.get_template("500.html")
    return HttpResponseServerError(template.render({"request_id": current_request_id()}))


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponseBase:
    """CSRF_FAILURE_VIEW: "the form expired", with the request id as its reference."""
    return render(request, "403_csrf.html", status=403)


# --- upstream calls --------------------------------------------------------------------


class UpstreamMeter(httpx.BaseTransport):
    """Wraps the upstream transport (connections/api.py): each call's time, from sending to
    the end of its body, goes to the request's tally and to the upstream metrics. A call
    that api.py marks ``extensions={"hostadmin.retry": True}`` counts as a retry."""

    def __init__(self, transport: httpx.BaseTransport) -> None:
        self.transport = transport

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        started = time.perf_counter()
        state = _current.get()
        retry = bool(request.extensions.get("hostadmin.retry"))

        def done(status: str) -> None:
            seconds = time.perf_counter() - started
            if state is not None:
                state.add_upstream_call(seconds)
            metrics.record_upstream(
                path=request.url.path, status=status, retry=retry, seconds=seconds
            )

        try:
            response = self.transport.handle_request(request)
        except httpx.TimeoutException:
            done("timeout")
            raise
        except httpx.HTTPError:
            done("network")
            raise
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_TimedBody(response.stream, lambda: done(str(response.status_code))),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self.transport.close()


class _TimedBody(httpx.SyncByteStream):
    def __init__(self, stream: httpx.SyncByteStream | Any, done: Callable[[], None]) -> None:
        self._stream = stream
        self._done: Callable[[], None] | None = done

    def __iter__(self) -> Iterator[bytes]:
        yield from self._stream

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            if self._done is not None:
                self._done()
                self._done = None
