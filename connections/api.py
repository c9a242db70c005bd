"""The MyCreditApp API client: the only module that talks to the upstream.

One pooled ``httpx.Client`` per process; tokens cached in Django's cache per API client
(and kept by the process that fetched them) and fetched by one thread at a time (a lock
per process, then a lock in that cache, shared by every instance);
bounded, jittered retries for GETs; every failure becomes an ``ApiError`` whose message
is fit for a user and carries a correlation id that is also logged. Tokens and secrets
never appear in exceptions or logs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import random
import re
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, NotRequired, TypeVar

import httpx
from django.conf import settings
from django.core.cache import cache
from django.utils.http import parse_http_date
from django.views.decorators.debug import sensitive_variables
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, ValidationError
from typing_extensions import TypedDict  # pydantic's choice on Python 3.11

from connections.query import ListQuery
from hostadmin.observability import UpstreamMeter, current_request_id

log = logging.getLogger(__name__)

# --- response models -------------------------------------------------------------------


def _as_utc(value: datetime) -> datetime:
    """The upstream sends both `...Z` and naive timestamps; a naive one is UTC. A sentinel
    at the edge of time (``0001-01-01T00:00+01:00``) becomes the nearest instant Python
    has, not an OverflowError."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return (datetime.min if value.year == 1 else datetime.max).replace(tzinfo=UTC)


# RFC 3339 allows a 60th second (a leap second, ``2016-12-31T23:59:60Z``); Python's
# datetime has none, so it reads as the last microsecond of that minute.
_LEAP_SECOND = re.compile(r"^(\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d):60(?:[.,]\d+)?(?=[Zz+-]|$)")


def _leap_second(value: Any) -> Any:
    return _LEAP_SECOND.sub(r"\1:59.999999", value, count=1) if isinstance(value, str) else value


UtcDatetime = Annotated[datetime, BeforeValidator(_leap_second), AfterValidator(_as_utc)]


class HostConnection(BaseModel):
    host_organization_id: uuid.UUID
    guest_organization_id: uuid.UUID
    host_name: str
    host_email: str
    owner_email: str
    status: Literal["connected", "disconnected"]
    archived: bool
    created_at: UtcDatetime
    updated_at: UtcDatetime
    archived_at: UtcDatetime | None = None
    active_action_type: Literal["analytics_request"] | None = None
    active_action_updated_at: UtcDatetime | None = None


class HostConnectionPage(BaseModel):
    items: list[HostConnection]
    total_items: Annotated[int, Field(ge=0)]


class ErrorDetail(BaseModel):
    loc: list[str | int] = []
    msg: str = ""
    type: str = ""
    code: str = ""


class ErrorBody(BaseModel):
    detail: list[ErrorDetail]


class TokenResponse(BaseModel):
    access_token: Annotated[str, Field(min_length=1)]
    expires_in: Annotated[int, Field(gt=0)]


# --- who calls -------------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    client_id: str
    client_secret: str = field(repr=False)
    requester_org_id: str

    @property
    def cache_key(self) -> str:
        digest = hashlib.sha256(
            f"{self.client_id}\0{self.client_secret}\0{self.requester_org_id}".encode()
        ).hexdigest()[:24]
        return f"hostadmin:upstream-token:{digest}"

    @property
    def lock_key(self) -> str:
        """Held in the shared cache by the one process fetching this client's token."""
        return f"{self.cache_key}:lock"


@dataclass(frozen=True)
class Caller:
    """An API client acting on a target organization (itself for a "self" call)."""

    credentials: Credentials
    target_org_id: str


# --- errors ----------------------------------------------------------------------------


class ApiError(Exception):
    """An upstream call failed. ``str()`` is a short message fit for a user."""

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "",
        correlation_id: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.correlation_id = correlation_id

    def __str__(self) -> str:
        return (
            f"{self.message} (reference {self.correlation_id})"
            if self.correlation_id
            else self.message
        )


class ApiUnavailable(ApiError):
    """Network trouble, timeouts, 5xx, maintenance: retrying later may help."""

    retryable = True


class ApiBusy(ApiError):
    """429 with a wait longer than we are willing to sleep."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ApiForbidden(ApiError):
    """The requester may not act on the target organization."""


class ApiNotFound(ApiError):
    pass


class ApiAuthError(ApiError):
    """The API client's credentials were refused."""


class ApiContractError(ApiError):
    """The upstream answered something the contract does not allow."""


class ApiRejected(ApiError):
    """The upstream refused our request (422): a bug on our side, never a user's fault."""


# --- the pooled client -----------------------------------------------------------------

_client: httpx.Client | None = None
_client_lock = threading.Lock()
_POOL_TIMEOUT = 2.0  # seconds to wait for a free pooled connection
_TOKEN_LOCK_POLL = 0.02  # seconds between two looks at the cache while another fetches
_token_locks: dict[str, threading.Lock] = {}  # per API client (its token's cache key)
_kept: dict[str, tuple[str, float]] = {}  # cache key: (this process's last token, expiry)


def http_client() -> httpx.Client:
    """The process-wide pooled client (creating one costs ~24 ms)."""
    global _client
    if _client is None:
        with _client_lock:
            if _client is None:
                _client = _build_client(None)
    return _client


def use_transport(transport: httpx.BaseTransport | None) -> httpx.Client | None:
    """Replace the process-wide client, e.g. with the in-process sandbox's transport.
    ``None`` goes back to the network; that client is built lazily, on first use."""
    global _client
    with _client_lock:
        old, _client = _client, (None if transport is None else _build_client(transport))
        _kept.clear()  # tokens of the previous upstream
    if old is not None:
        old.close()
    return _client


def _build_client(transport: httpx.BaseTransport | None) -> httpx.Client:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
    return httpx.Client(
        base_url=settings.UPSTREAM_BASE_URL,
        # Every call timed for the request log and /metrics (hostadmin/observability.py).
        transport=UpstreamMeter(transport or httpx.HTTPTransport(limits=limits)),
        timeout=httpx.Timeout(
            settings.UPSTREAM_READ_TIMEOUT,
            connect=settings.UPSTREAM_CONNECT_TIMEOUT,
            pool=_POOL_TIMEOUT,
        ),
        follow_redirects=False,
        headers={"Accept": "application/json", "User-Agent": "hostadmin/0.1"},
    )


# --- public calls ----------------------------------------------------------------------


def list_host_connections(
    caller: Caller, query: ListQuery, *, limit: int | None = None, offset: int | None = None
) -> HostConnectionPage:
    params: list[tuple[str, str | int | float | bool | None]] = [
        *query.upstream_params(limit=limit, offset=offset)
    ]
    return _parse(HostConnectionPage, *_get(caller, "/host-connections", params))


def count_host_connections(caller: Caller, query: ListQuery) -> int:
    """How many rows match the query's filters: one ``limit=0`` call, the contract's own
    way to count (no items, only ``total_items``); retries and errors as for a page."""
    return list_host_connections(caller, query, limit=0, offset=0).total_items


def may_act_on(caller: Caller) -> bool:
    """Whether the requester may act on the caller's target: one ``limit=0`` call (the
    contract tells it by a 403 and by nothing else). Other failures raise ApiError."""
    params: list[tuple[str, str | int | float | bool | None]] = [
        *ListQuery().upstream_params(limit=0, offset=0)
    ]
    try:
        _parse(HostConnectionPage, *_get(caller, "/host-connections", params, expected=(403,)))
    except ApiForbidden:
        return False
    return True


def get_host_connection(caller: Caller, host_org_id: uuid.UUID) -> HostConnection:
    return _parse(HostConnection, *_get(caller, f"/host-connections/{host_org_id}", []))


def access_token(credentials: Credentials, *, correlation_id: str = "") -> str:
    """A cached token for these credentials, fetched once at a time per API client at two
    levels. In this process, a lock per API client: its threads wait for one fetch and
    take its token, which this process keeps until it expires, so a shared cache that is
    down costs one fetch per process, not one per call. Across every process that shares
    the cache, a lock in that cache (``cache.add`` is atomic): the others wait for the
    fetcher's token, at most as long as one fetch may take; a lock left by a process that
    died expires after that time."""
    token = cache.get(credentials.cache_key)
    if token:
        return str(token)
    correlation_id = correlation_id or _new_correlation_id()
    longest = _longest_token_fetch()
    lock = _process_token_lock(credentials.cache_key)
    if not lock.acquire(timeout=longest + 1):
        raise _token_wait_too_long(correlation_id)
    try:
        token = cache.get(credentials.cache_key) or _kept_token(credentials.cache_key)
        if token:
            return str(token)
        return _fetch_under_shared_lock(credentials, correlation_id, longest)
    finally:
        lock.release()


def _fetch_under_shared_lock(credentials: Credentials, correlation_id: str, longest: float) -> str:
    deadline = time.monotonic() + longest + 1
    owner = uuid.uuid4().hex
    while not cache.add(credentials.lock_key, owner, timeout=math.ceil(longest)):
        if time.monotonic() > deadline:
            raise _token_wait_too_long(correlation_id)
        time.sleep(_TOKEN_LOCK_POLL)
        token = cache.get(credentials.cache_key)
        if token:
            return str(token)
    try:
        token = cache.get(credentials.cache_key)  # stored by the fetch we waited for
        if token:
            return str(token)
        fresh = _fetch_token(credentials, correlation_id)
        # Stop using a token shortly before it expires.
        ttl = max(1, fresh.expires_in - min(60, fresh.expires_in // 10))
        cache.set(credentials.cache_key, fresh.access_token, ttl)
        with _client_lock:
            _kept[credentials.cache_key] = (fresh.access_token, time.monotonic() + ttl)
        return fresh.access_token
    finally:
        # Not atomic, but the lock only expires under us after a fetch past its timeouts.
        if cache.get(credentials.lock_key) == owner:
            cache.delete(credentials.lock_key)


def _process_token_lock(cache_key: str) -> threading.Lock:
    with _client_lock:
        return _token_locks.setdefault(cache_key, threading.Lock())


def _kept_token(cache_key: str) -> str | None:
    """The token this process fetched last for this API client, while it is valid."""
    with _client_lock:
        token, expires = _kept.get(cache_key, ("", 0.0))
    return token if token and time.monotonic() < expires else None


def _token_wait_too_long(correlation_id: str) -> ApiUnavailable:
    log.warning("gave up waiting for another token fetch ref=%s", correlation_id)
    return ApiUnavailable(
        "Signing in to the API takes too long; try again in a moment.",
        correlation_id=correlation_id,
    )


def _longest_token_fetch() -> float:
    """Seconds one token call may take by its timeouts: a pooled connection, connecting,
    writing the body and reading the answer."""
    return _POOL_TIMEOUT + settings.UPSTREAM_CONNECT_TIMEOUT + 2 * settings.UPSTREAM_READ_TIMEOUT


def forget_token(credentials: Credentials) -> None:
    cache.delete(credentials.cache_key)
    with _client_lock:
        _kept.pop(credentials.cache_key, None)


# --- internals -------------------------------------------------------------------------

_Model = TypeVar("_Model", bound=BaseModel)


def _new_correlation_id() -> str:
    """The request's id (one id finds the user's report, our log and the upstream's)."""
    return current_request_id() or uuid.uuid4().hex[:12]


# sensitive_variables: Django's error reports (DEBUG pages, admin mails) hide these locals.
@sensitive_variables("body")
def _fetch_token(credentials: Credentials, correlation_id: str) -> TokenResponse:
    body = {"client_id": credentials.client_id, "client_secret": credentials.client_secret}
    # A connection of its own, closed after the answer: a server that answers early (a
    # fault, a 503) may leave this body unread on a kept-alive connection, and the next
    # request on it would be parsed from the leftover bytes, the client secret among them.
    headers = {"X-Request-ID": correlation_id, "Connection": "close"}
    try:
        response = http_client().post("/oauth2/token", json=body, headers=headers)
    except httpx.HTTPError as exc:
        log.warning("upstream token call failed: %s ref=%s", type(exc).__name__, correlation_id)
        raise ApiUnavailable(
            "The API could not be reached to sign in; try again in a moment.",
            correlation_id=correlation_id,
        ) from None
    if response.status_code == 401:
        log.warning("upstream refused API client %s ref=%s", credentials.client_id, correlation_id)
        raise ApiAuthError(
            "The API refused this API client's credentials; ask an administrator to check it.",
            status=401,
            code=_error_code(response),
            correlation_id=correlation_id,
        )
    if not response.is_success:
        raise _error_for(response, correlation_id)
    return _parse(TokenResponse, response, correlation_id)


@sensitive_variables("token", "headers")
def _get(
    caller: Caller,
    path: str,
    params: list[tuple[str, str | int | float | bool | None]],
    *,
    expected: tuple[int, ...] = (),
) -> tuple[httpx.Response, str]:
    """GET with retries; an error status in ``expected`` (a probe's answer) is not logged."""
    correlation_id = _new_correlation_id()
    deadline = time.monotonic() + settings.UPSTREAM_DEADLINE
    attempt = 0
    refreshed = False
    while True:
        token = access_token(caller.credentials, correlation_id=correlation_id)
        headers = {
            "Authorization": f"Bearer {token}",
            "Requester-Organization-ID": caller.credentials.requester_org_id,
            "Target-Organization-ID": caller.target_org_id,
            "X-Request-ID": correlation_id,
        }
        remaining = deadline - time.monotonic()
        try:
            response = http_client().get(
                path,
                params=params,
                headers=headers,
                timeout=httpx.Timeout(
                    min(settings.UPSTREAM_READ_TIMEOUT, max(remaining, 0.1)),
                    connect=min(settings.UPSTREAM_CONNECT_TIMEOUT, max(remaining, 0.1)),
                    pool=_POOL_TIMEOUT,
                ),
                extensions={"hostadmin.retry": attempt > 0 or refreshed},  # for /metrics
            )
        except httpx.HTTPError as exc:
            if _may_retry(attempt, deadline):
                attempt += 1
                _backoff(attempt, deadline)
                continue
            log.warning(
                "upstream GET %s failed: %s ref=%s", path, type(exc).__name__, correlation_id
            )
            what = (
                "did not answer in time"
                if isinstance(exc, httpx.TimeoutException)
                else ("could not be reached")
            )
            raise ApiUnavailable(
                f"The API {what}; try again in a moment.", correlation_id=correlation_id
            ) from None

        status = response.status_code
        if status == 401 and not refreshed:
            forget_token(caller.credentials)  # the token is no longer good: one fresh try
            refreshed = True
            continue
        if status in (502, 503, 504) and _may_retry(attempt, deadline):
            attempt += 1
            _backoff(attempt, deadline)
            continue
        if status == 429:
            wait = _retry_after(response)
            cap = settings.UPSTREAM_RETRY_AFTER_CAP
            if wait <= cap and _may_retry(attempt, deadline, wait):
                attempt += 1
                time.sleep(wait)
                continue
        if response.is_success:
            return response, correlation_id
        raise _error_for(response, correlation_id, logged=status not in expected)


def _may_retry(attempt: int, deadline: float, wait: float = 0.0) -> bool:
    return attempt < settings.UPSTREAM_MAX_RETRIES and time.monotonic() + wait < deadline


def _backoff(attempt: int, deadline: float) -> None:
    """Full jitter: a random wait up to base * 2^(attempt-1), never past the deadline."""
    ceiling = settings.UPSTREAM_BACKOFF_BASE * (2 ** (attempt - 1))
    time.sleep(min(random.uniform(0, ceiling), max(0.0, deadline - time.monotonic())))


def _retry_after(response: httpx.Response) -> float:
    """Seconds to wait: ``Retry-After`` is delay-seconds or an HTTP date (RFC 9110 10.2.3),
    a date counted from the answer's own ``Date`` when it has one (the upstream's clock,
    whatever ours says). 1 s when unreadable; 0 to 3600 s."""
    raw = response.headers.get("Retry-After", "").strip()
    try:
        wait = float(raw)
    except ValueError:
        try:
            wait = parse_http_date(raw) - _sent_at(response)
        except ValueError:
            return 1.0
    return min(max(wait, 0.0), 3600.0) if math.isfinite(wait) else 1.0


def _sent_at(response: httpx.Response) -> float:
    try:
        return float(parse_http_date(response.headers.get("Date", "")))
    except ValueError:
        return time.time()


def _error_code(response: httpx.Response) -> str:
    try:
        body = ErrorBody.model_validate_json(response.content)
    except ValidationError:
        return ""
    return body.detail[0].code if body.detail else ""


def _error_for(response: httpx.Response, correlation_id: str, *, logged: bool = True) -> ApiError:
    status = response.status_code
    code = _error_code(response)
    (log.warning if logged else log.debug)(
        "upstream %s %s answered %s code=%s ref=%s",
        response.request.method,
        response.request.url.path,
        status,
        code or "-",
        correlation_id,
    )
    kwargs: dict[str, Any] = {"status": status, "code": code, "correlation_id": correlation_id}
    if status == 429:
        wait = _retry_after(response)
        return ApiBusy(
            f"The API is busy; try again in {max(1, round(wait))} s.", retry_after=wait, **kwargs
        )
    if status == 401:
        return ApiAuthError("The API no longer accepts this API client's sign-in.", **kwargs)
    if status == 403:
        return ApiForbidden(
            "This API client may not act on the chosen organization; pick another target.",
            **kwargs,
        )
    if status == 404:
        return ApiNotFound("The API has no such host connection for this organization.", **kwargs)
    if status == 422:
        return ApiRejected("The API rejected the request; this is a bug in hostadmin.", **kwargs)
    if code == "service_under_maintenance":
        return ApiUnavailable("The API is under maintenance; try again later.", **kwargs)
    if status >= 500:
        return ApiUnavailable(f"The API failed ({status}); try again in a moment.", **kwargs)
    return ApiContractError(f"The API answered an unexpected status {status}.", **kwargs)


def _json_number(text: str) -> Decimal:
    """A JSON number with a fraction or an exponent, read exactly: JSON has one number
    type, so an integer of the contract may come as ``1e20`` or ``3.0`` (a fraction is
    refused by the model). Python's own bound on integers read from text applies."""
    number = Decimal(text)
    if number and number.adjusted() >= sys.int_info.default_max_str_digits:
        raise ValueError("number out of range")
    return number


def _not_json(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _parse(model: type[_Model], response: httpx.Response, correlation_id: str) -> _Model:
    try:
        data = json.loads(response.content, parse_float=_json_number, parse_constant=_not_json)
        return model.model_validate(data)
    # ValidationError and JSONDecodeError are ValueErrors; RecursionError: absurd nesting.
    except (ValueError, RecursionError):
        log.warning(
            "upstream %s sent a body that breaks the contract ref=%s",
            response.request.url.path,
            correlation_id,
        )
        raise ApiContractError(
            "The API sent a response hostadmin cannot read.",
            status=response.status_code,
            code="contract_breach",
            correlation_id=correlation_id,
        ) from None


# --- the CSV export's rows -------------------------------------------------------------


# The export writes every field as text. Its pages are checked against the same contract
# in pydantic-core, but their rows stay plain dicts of the upstream's text: no model to
# build, no datetime to format back (bench/bench_export_steps.py: parse and cells of a page
# cost about a third of the models' way). A value in the usual shape is checked by a regex
# (in Rust) and stays text; any other shape (an offset, a leap day, a UUID in capitals, ...)
# falls through to the models' own types and rules.
_UUID_TEXT = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
_DAY = (  # a real calendar day, 29 February aside (left to UtcDatetime)
    r"(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})-"
    r"(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)"
    r"|(?:0[13578]|1[02])-31)"
)
_UTC_TEXT = rf"^{_DAY}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{{6}})?Z?$"

IdText = Annotated[
    Annotated[str, Field(pattern=_UUID_TEXT)] | uuid.UUID, Field(union_mode="left_to_right")
]
# Text: UTC, naive or with Z, seconds or microseconds; a datetime: any other valid shape.
UtcText = Annotated[
    Annotated[str, Field(pattern=_UTC_TEXT)] | UtcDatetime, Field(union_mode="left_to_right")
]


class HostConnectionRow(TypedDict):
    """One host connection as the export reads it: the HostConnection contract, as text."""

    host_organization_id: IdText
    guest_organization_id: IdText
    host_name: str
    host_email: str
    owner_email: str
    status: Literal["connected", "disconnected"]
    archived: bool
    created_at: UtcText
    updated_at: UtcText
    archived_at: NotRequired[UtcText | None]
    active_action_type: NotRequired[Literal["analytics_request"] | None]
    active_action_updated_at: NotRequired[UtcText | None]


def _no_float(value: Any) -> Any:
    """A count read as a float may have lost digits (``1.23456789012345678e17``): the
    page is read again the exact way, where such a number is a Decimal."""
    if isinstance(value, float):
        raise ValueError("a count with a fraction or an exponent is read exactly")
    return value


# cache_strings="keys": the values are mostly unique (ids, emails), so pydantic-core's
# cache of values is pure overhead (bench/bench_export_steps.py: parse 30 % faster).
class HostConnectionRowPage(BaseModel, cache_strings="keys"):
    items: list[HostConnectionRow]
    total_items: Annotated[int, BeforeValidator(_no_float), Field(ge=0)]


def list_host_connection_rows(
    caller: Caller, query: ListQuery, *, limit: int | None = None, offset: int | None = None
) -> HostConnectionRowPage:
    """``list_host_connections`` for the CSV export: the same call and contract checks (a
    page that breaks them raises ApiContractError), rows as ``HostConnectionRow`` dicts."""
    params: list[tuple[str, str | int | float | bool | None]] = [
        *query.upstream_params(limit=limit, offset=offset)
    ]
    return _parse_rows(*_get(caller, "/host-connections", params))


def _parse_rows(response: httpx.Response, correlation_id: str) -> HostConnectionRowPage:
    """The page read by pydantic-core straight from the bytes; a page it refuses, or one
    that holds NaN or Infinity (which it would read, and JSON does not allow), is read
    again by ``_parse``, which decides and words the refusal. The two readings differ on
    numbers only: a count in a float's shape is refused here (``_no_float``), so it is
    read exactly there; a number out of Python's range in a field the export ignores is
    read here, where ``_parse`` would refuse the page."""
    content = response.content
    # bench/bench_export_steps.py "read a page": 4.9 against 6.0 ms per 1,000 rows
    # (json.loads, then validating the Python objects it built).
    if b"NaN" not in content and b"Infinity" not in content:
        with contextlib.suppress(ValidationError):
            return HostConnectionRowPage.model_validate_json(content)
    return _parse(HostConnectionRowPage, response, correlation_id)
