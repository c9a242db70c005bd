"""The sandbox upstream: a WSGI application that follows the MyCreditApp contract.

Serves, under ``/v1-beta``:

* ``POST /oauth2/token``                 client credentials -> JWT
* ``GET  /host-connections``             the list, every parameter rule of the contract
* ``GET  /host-connections/{host_org_id}`` one connection

Faults can be injected per request (``FaultPlan.add``) or by configuration
(``latency_ms``); over HTTP, ``POST /_sandbox/faults`` takes the same rules as JSON, and
``GET /_sandbox/stats`` counts the tokens issued (for tests of processes it cannot see).
"""

from __future__ import annotations

import json
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import parse_qsl

import jwt
from pydantic import BaseModel, Field, StringConstraints

from sandbox.data import (
    ACTION_TYPES,
    MAY_ACT_ON,
    ORDER_FIELDS,
    ORGS,
    ORGS_BY_ID,
    SEARCH_FIELDS,
    STATUSES,
    Dataset,
)
from sandbox.parsing import boolean, integer, json_body, uuid_text

PREFIX = "/v1-beta"
_SIGNING_KEY = "sandbox-signing-key-not-a-secret"
FAULT_KINDS = r"^(latency|timeout|drop|expire_tokens|bad_json|bad_shape|status_429|status_5\d\d)$"

StartResponse = Callable[..., Any]
Environ = dict[str, Any]


class Fault(Exception):
    """Raised inside the app for faults the transport must act out (timeouts, drops)."""

    def __init__(self, kind: str, seconds: float = 0.0) -> None:
        super().__init__(kind)
        self.kind = kind
        self.seconds = seconds


@dataclass
class FaultRule:
    """One injected fault. ``kind`` is one of: latency, status_500, status_502, status_503,
    status_429, timeout, drop, expire_tokens, bad_json, bad_shape.
    It applies to requests whose path contains ``path`` (all when empty), skips the
    first ``after`` matching requests, then fires ``times`` times (forever when None)."""

    kind: Annotated[str, Field(pattern=FAULT_KINDS)]
    path: str = ""
    times: Annotated[int, Field(ge=0)] | None = 1
    after: Annotated[int, Field(ge=0)] = 0
    # latency/timeout length, or Retry-After for 429
    seconds: Annotated[float, Field(ge=0, le=3600, allow_inf_nan=False)] = 0.0
    seen: int = 0

    def take(self, path: str) -> bool:
        if self.path and self.path not in path:
            return False
        self.seen += 1
        if self.seen <= self.after:
            return False
        if self.times is None:
            return True
        if self.times <= 0:
            return False
        self.times -= 1
        return True


@dataclass
class FaultPlan:
    latency_ms: float = 0.0
    rules: list[FaultRule] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, **kwargs: Any) -> FaultRule:
        rule = FaultRule(kind=kind, **kwargs)
        with self._lock:
            self.rules.append(rule)
        return rule

    def extend(self, rules: list[FaultRule]) -> None:
        with self._lock:
            self.rules.extend(rules)

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
            self.latency_ms = 0.0

    def fired(self, path: str) -> list[FaultRule]:
        with self._lock:
            return [r for r in self.rules if r.take(path)]


@dataclass(frozen=True)
class Seen:
    """What the sandbox received: tests assert the headers that reached it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: list[tuple[str, str]] = field(default_factory=list)


def _error(
    status: int,
    code: str,
    msg: str,
    loc: list[Any] | None = None,
    typ: str = "",
    headers: list[tuple[str, str]] | None = None,
) -> Answer:
    entry = {"loc": loc or [], "msg": msg, "type": typ or code, "code": code}
    return Answer(status, {"detail": [entry]}, headers or [])


def _invalid(details: list[dict[str, Any]]) -> Answer:
    return Answer(422, {"detail": details})


def _unauthorized(code: str, msg: str, *, token_given: bool = True) -> Answer:
    """RFC 6750: every 401 names the scheme, and says why when a token was refused."""
    challenge = "Bearer"
    if token_given:
        challenge = f'Bearer error="invalid_token", error_description="{msg}"'
    return _error(401, code, msg, headers=[("WWW-Authenticate", challenge)])


def _not_allowed(allowed: str) -> Answer:
    return _error(405, "method_not_allowed", "Method not allowed.", headers=[("Allow", allowed)])


class TokenRequest(BaseModel):
    client_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    client_secret: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class FaultsRequest(BaseModel):
    """The body of ``POST /_sandbox/faults``."""

    rules: list[FaultRule] = []
    latency_ms: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None


class SandboxApp:
    def __init__(
        self,
        dataset: Dataset | None = None,
        *,
        token_ttl: int = 3600,
        latency_ms: float = 0.0,
    ) -> None:
        self.dataset = dataset or Dataset()
        self.token_ttl = token_ttl
        self.faults = FaultPlan(latency_ms=latency_ms)
        self.seen: deque[Seen] = deque(maxlen=1000)
        self.tokens_issued = 0
        self._token_generation = 0
        self._clients = {o.client_id: o for o in ORGS}

    # --- WSGI entry ------------------------------------------------------------------

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        try:
            answer = self._answer(environ)
        except Fault:
            raise  # the server or the transport acts it out (a timeout, a drop)
        except Exception:
            # A real server answers its own bugs in the contract's error shape, too.
            environ["wsgi.errors"].write(traceback.format_exc())
            answer = _error(500, "internal_error", "Internal server error.")
        if isinstance(answer.body, bytes):
            return self._send(start_response, answer.status, answer.body, answer.headers)
        return self._json(start_response, answer.status, answer.body, answer.headers)

    def _answer(self, environ: Environ) -> Answer:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        headers = {
            k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")
        }
        if path.startswith("/_sandbox/"):
            return self._control(environ, method, path)
        self.seen.append(Seen(method, path, environ.get("QUERY_STRING", ""), headers))

        if self.faults.latency_ms:
            time.sleep(self.faults.latency_ms / 1000)
        for rule in self.faults.fired(path):
            if rule.kind == "latency":
                time.sleep(rule.seconds)
            elif rule.kind in ("timeout", "drop"):
                raise Fault(rule.kind, rule.seconds)
            elif rule.kind == "expire_tokens":
                self._token_generation += 1
            elif rule.kind == "bad_json":
                return Answer(200, b"{not json")
            elif rule.kind == "bad_shape":
                return Answer(200, {"items": "nope"})
            elif rule.kind == "status_429":
                retry_after = [("Retry-After", str(int(rule.seconds or 1)))]
                return _error(429, "rate_limited", "Too many requests.", headers=retry_after)
            elif rule.kind == "status_503":
                return _error(503, "service_under_maintenance", "The service is under maintenance.")
            elif rule.kind.startswith("status_"):
                status = int(rule.kind.removeprefix("status_"))  # 5xx, by FAULT_KINDS
                return _error(status, "internal_error", "Internal server error.")
        return self._route(environ, method, path, headers)

    def _route(self, environ: Environ, method: str, path: str, headers: dict[str, str]) -> Answer:
        if not path.startswith(PREFIX):
            return _error(404, "not_found", "Not found.")
        path = path[len(PREFIX) :]
        if path == "/oauth2/token":
            if method != "POST":
                return _not_allowed("POST")
            return self._token(environ)
        if path == "/host-connections" or path.startswith("/host-connections/"):
            if method != "GET":
                return _not_allowed("GET")
            denied, org_id = self._authorize(headers)
            if denied is not None:
                return denied
            if path == "/host-connections":
                return self._list(org_id, environ.get("QUERY_STRING", ""))
            return self._detail(org_id, path.removeprefix("/host-connections/"))
        return _error(404, "not_found", "Not found.")

    # --- endpoints -------------------------------------------------------------------

    def _token(self, environ: Environ) -> Answer:
        body = json_body(TokenRequest, _read(environ))
        if isinstance(body, list):
            return _invalid(body)
        org = self._clients.get(body.client_id)
        if org is None or org.client_secret != body.client_secret:
            # RFC 9110: a 401 always carries a challenge (the API's one scheme).
            return _error(
                401,
                "oauth_invalid_client_credentials",
                "The client authentication failed!",
                typ="oauth",
                headers=[("WWW-Authenticate", "Bearer")],
            )
        now = int(time.time())
        token = jwt.encode(
            {
                "sub": org.client_id,
                "org": org.id,
                "iat": now,
                "exp": now + self.token_ttl,
                "gen": self._token_generation,
                "jti": uuid.uuid4().hex,
            },
            _SIGNING_KEY,
            algorithm="HS256",
        )
        self.tokens_issued += 1
        return Answer(200, {"access_token": token, "expires_in": self.token_ttl})

    def _authorize(self, headers: dict[str, str]) -> tuple[Answer | None, str]:
        # RFC 9110 11.1: the scheme is case-insensitive; RFC 6750: "Bearer" 1*SP token.
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        credentials = credentials.lstrip(" ")
        if scheme.lower() != "bearer" or not credentials:
            return _unauthorized("not_authenticated", "Not authenticated.", token_given=False), ""
        try:
            claims = jwt.decode(credentials, _SIGNING_KEY, algorithms=["HS256"])
        except jwt.ExpiredSignatureError:
            return _unauthorized("token_expired", "The access token has expired."), ""
        except jwt.PyJWTError:
            return _unauthorized("invalid_token", "The access token is invalid."), ""
        if claims.get("gen") != self._token_generation:
            return _unauthorized("token_expired", "The access token has expired."), ""
        details = []
        ids = {}
        for name in ("requester-organization-id", "target-organization-id"):
            try:
                ids[name] = uuid_text(headers.get(name, ""))
            except ValueError:
                details.append(
                    {
                        "loc": ["header", name],
                        "msg": "Input should be a valid UUID",
                        "type": "uuid_parsing",
                        "code": "validation_error",
                    }
                )
        if details:
            return _invalid(details), ""
        requester = ids["requester-organization-id"]
        target = ids["target-organization-id"]
        if requester != claims.get("org"):
            return _error(
                403, "requester_mismatch", "The token does not belong to the requester."
            ), ""
        requester_org = ORGS_BY_ID[requester]
        target_org = ORGS_BY_ID.get(target)
        if target != requester and (
            target_org is None or target_org.slug not in MAY_ACT_ON[requester_org.slug]
        ):
            return _error(
                403,
                "target_not_allowed",
                "The requester is not allowed to act on the target organization.",
            ), ""
        return None, target

    def _list(self, org_id: str, query_string: str) -> Answer:
        params: dict[str, list[str]] = {}
        for key, value in parse_qsl(query_string, keep_blank_values=True):
            params.setdefault(key, []).append(value)
        details: list[dict[str, Any]] = []

        def bad(name: str, msg: str, typ: str) -> None:
            details.append({"loc": ["query", name], "msg": msg, "type": typ, "code": typ})

        def last(name: str) -> str | None:
            values = params.get(name)
            return values[-1] if values else None

        def enum_list(name: str, allowed: tuple[str, ...], required: bool) -> list[str] | None:
            values = params.get(name)
            if not values:
                if required:
                    bad(name, "Field required", "missing")
                return None
            if any(v not in allowed for v in values):
                bad(name, f"Input should be {' or '.join(map(repr, allowed))}", "enum")
            return values

        def enum_one(name: str, allowed: tuple[str, ...], default: str) -> str:
            value = last(name)
            if value is None:
                return default
            if value not in allowed:
                bad(name, f"Input should be {' or '.join(map(repr, allowed))}", "enum")
            return value

        def whole(name: str) -> int:
            value = last(name)
            if value is None:
                bad(name, "Field required", "missing")
                return 0
            try:
                return integer(value)
            except ValueError:
                bad(name, "Input should be a valid integer", "int_parsing")
                return 0

        statuses = enum_list("statuses", STATUSES, required=True)
        search_field = enum_one("search_field", SEARCH_FIELDS, "host_name")
        search_text = last("search_text")
        if search_text is not None and not 1 <= len(search_text) <= 255:
            bad("search_text", "String should have 1 to 255 characters", "string_length")
        order_by = enum_one("order_by", ORDER_FIELDS, "host_name")
        order_dir = enum_one("order_dir", ("asc", "desc"), "asc")
        archived_raw = last("archived")
        archived: bool | None = None
        if archived_raw is not None:
            try:
                archived = boolean(archived_raw)
            except ValueError:
                bad("archived", "Input should be a valid boolean", "bool_parsing")
        actions = enum_list("active_action_types", ACTION_TYPES, required=False)
        limit = whole("limit")
        if limit > 100:
            bad("limit", "Input should be less than or equal to 100", "less_than_equal")
        offset = whole("offset")
        if offset < 0:
            bad("offset", "Input should be greater than or equal to 0", "greater_than_equal")
        if details:
            return _invalid(details)
        rows = self.dataset.query(
            org_id,
            statuses=tuple(sorted(set(statuses or ()))),
            search_field=search_field,
            search_text=search_text,
            order_by=order_by,
            order_dir=order_dir,
            archived=archived,
            action_types=tuple(sorted(set(actions))) if actions is not None else None,
        )
        page = rows[offset : offset + max(limit, 0)]
        return Answer(200, {"items": page, "total_items": len(rows)})

    def _detail(self, org_id: str, raw_id: str) -> Answer:
        try:
            host_id = uuid_text(raw_id)
        except ValueError:
            return _error(
                422, "uuid_parsing", "Input should be a valid UUID", ["path", "host_org_id"]
            )
        row = self.dataset.rows_for(org_id).by_id.get(host_id)
        if row is None:
            return _error(404, "host_connection_not_found", "Host connection not found.")
        return Answer(200, row)

    # --- control endpoint (HTTP server only) ----------------------------------------

    def _control(self, environ: Environ, method: str, path: str) -> Answer:
        if path == "/_sandbox/faults":
            if method == "DELETE":
                self.faults.clear()
                return Answer(200, {"ok": True})
            if method != "POST":
                return _not_allowed("POST, DELETE")
            body = json_body(FaultsRequest, _read(environ) or b"{}")
            if isinstance(body, list):
                return _invalid(body)  # nothing half-applied
            if body.latency_ms is not None:
                self.faults.latency_ms = body.latency_ms
            self.faults.extend(body.rules)
            return Answer(200, {"ok": True})
        if path == "/_sandbox/health":
            return Answer(200, {"ok": True}) if method == "GET" else _not_allowed("GET")
        if path == "/_sandbox/stats":
            if method != "GET":
                return _not_allowed("GET")
            return Answer(200, {"tokens_issued": self.tokens_issued})
        return _error(404, "not_found", "Not found.")

    # --- plumbing --------------------------------------------------------------------

    def _json(
        self,
        start_response: StartResponse,
        status: int,
        body: Any,
        headers: list[tuple[str, str]],
    ) -> Iterable[bytes]:
        data = json.dumps(body, separators=(",", ":")).encode()
        return self._send(start_response, status, data, headers)

    @staticmethod
    def _send(
        start_response: StartResponse, status: int, data: bytes, headers: list[tuple[str, str]]
    ) -> Iterable[bytes]:
        reasons = {
            200: "OK",
            401: "Unauthorized",
            403: "Forbidden",
            404: "Not Found",
            405: "Method Not Allowed",
            411: "Length Required",
            413: "Content Too Large",
            422: "Unprocessable Entity",
            429: "Too Many Requests",
            500: "Internal Server Error",
            502: "Bad Gateway",
            503: "Service Unavailable",
            504: "Gateway Timeout",
        }
        start_response(
            f"{status} {reasons.get(status, 'Error')}",
            [("Content-Type", "application/json"), ("Content-Length", str(len(data))), *headers],
        )
        return [data]


def _read(environ: Environ) -> bytes:
    """The request body: the HTTP server hands it over whole (read before the app runs,
    within its size limit), and so does the in-process transport."""
    stream = environ.get("wsgi.input")
    return stream.read() if stream is not None else b""
