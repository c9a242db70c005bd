"""The sandbox upstream: a WSGI application that follows the MyCreditApp contract.

Serves, under ``/v1-beta``:

* ``POST /oauth2/token``                 client credentials -> JWT
* ``GET  /host-connections``             the list, every parameter rule of the contract
* ``GET  /host-connections/{host_org_id}`` one connection

Faults can be injected per request (``FaultPlan.add``) or by configuration
(``latency_ms``); over HTTP, ``POST /_sandbox/faults`` takes the same rules as JSON.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import jwt

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

PREFIX = "/v1-beta"
_SIGNING_KEY = "sandbox-signing-key-not-a-secret"
_TRUE = {"true", "1", "yes", "on", "t", "y"}
_FALSE = {"false", "0", "no", "off", "f", "n"}

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

    kind: str
    path: str = ""
    times: int | None = 1
    after: int = 0
    seconds: float = 0.0  # latency/timeout length, or Retry-After for 429
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


def _error(status: int, code: str, msg: str, loc: list[Any] | None = None, typ: str = "") -> Any:
    return status, {"detail": [{"loc": loc or [], "msg": msg, "type": typ or code, "code": code}]}


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
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        headers = {
            k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")
        }
        if path.startswith("/_sandbox/"):
            return self._control(environ, method, path, start_response)
        self.seen.append(Seen(method, path, environ.get("QUERY_STRING", ""), headers))

        if self.faults.latency_ms:
            time.sleep(self.faults.latency_ms / 1000)
        extra_headers: list[tuple[str, str]] = []
        for rule in self.faults.fired(path):
            if rule.kind == "latency":
                time.sleep(rule.seconds)
            elif rule.kind in ("timeout", "drop"):
                raise Fault(rule.kind, rule.seconds)
            elif rule.kind == "expire_tokens":
                self._token_generation += 1
            elif rule.kind == "bad_json":
                return self._send(start_response, 200, b"{not json", [])
            elif rule.kind == "bad_shape":
                return self._json(start_response, 200, {"items": "nope"})
            elif rule.kind == "status_429":
                extra_headers.append(("Retry-After", str(int(rule.seconds or 1))))
                status, body = _error(429, "rate_limited", "Too many requests.")
                return self._json(start_response, status, body, extra_headers)
            elif rule.kind == "status_503":
                status, body = _error(
                    503, "service_under_maintenance", "The service is under maintenance."
                )
                return self._json(start_response, status, body)
            elif rule.kind.startswith("status_"):
                code = int(rule.kind.removeprefix("status_"))
                status, body = _error(code, "internal_error", "Internal server error.")
                return self._json(start_response, status, body)

        status, body = self._route(environ, method, path, headers)
        return self._json(start_response, status, body)

    def _route(
        self, environ: Environ, method: str, path: str, headers: dict[str, str]
    ) -> tuple[int, Any]:
        if not path.startswith(PREFIX):
            return _error(404, "not_found", "Not found.")
        path = path[len(PREFIX) :]
        if path == "/oauth2/token":
            if method != "POST":
                return _error(405, "method_not_allowed", "Method not allowed.")
            return self._token(environ)
        if path == "/host-connections" or path.startswith("/host-connections/"):
            if method != "GET":
                return _error(405, "method_not_allowed", "Method not allowed.")
            denied, org_id = self._authorize(headers)
            if denied is not None:
                return denied
            if path == "/host-connections":
                return self._list(org_id, environ.get("QUERY_STRING", ""))
            return self._detail(org_id, path.removeprefix("/host-connections/"))
        return _error(404, "not_found", "Not found.")

    # --- endpoints -------------------------------------------------------------------

    def _token(self, environ: Environ) -> tuple[int, Any]:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(length) if length else b""
            body = json.loads(raw or b"null")
        except (ValueError, KeyError):
            return _error(422, "json_invalid", "Body is not valid JSON.", ["body"])
        if not isinstance(body, dict):
            return _error(422, "model_attributes_type", "Body must be an object.", ["body"])
        details = []
        for name, limit in (("client_id", 128), ("client_secret", 64)):
            value = body.get(name)
            if not isinstance(value, str) or not 1 <= len(value) <= limit:
                details.append(
                    {
                        "loc": ["body", name],
                        "msg": f"{name} must be a string of 1 to {limit} characters",
                        "type": "string_type",
                        "code": "validation_error",
                    }
                )
        if details:
            return 422, {"detail": details}
        org = self._clients.get(body["client_id"])
        if org is None or org.client_secret != body["client_secret"]:
            return _error(
                401,
                "oauth_invalid_client_credentials",
                "The client authentication failed!",
                typ="oauth",
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
        return 200, {"access_token": token, "expires_in": self.token_ttl}

    def _authorize(self, headers: dict[str, str]) -> tuple[Any, str]:
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            return _error(401, "not_authenticated", "Not authenticated."), ""
        try:
            claims = jwt.decode(auth[7:], _SIGNING_KEY, algorithms=["HS256"])
        except jwt.ExpiredSignatureError:
            return _error(401, "token_expired", "The access token has expired."), ""
        except jwt.PyJWTError:
            return _error(401, "invalid_token", "The access token is invalid."), ""
        if claims.get("gen") != self._token_generation:
            return _error(401, "token_expired", "The access token has expired."), ""
        details = []
        ids = {}
        for name in ("requester-organization-id", "target-organization-id"):
            value = headers.get(name)
            try:
                ids[name] = str(uuid.UUID(value or ""))
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
            return (422, {"detail": details}), ""
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

    def _list(self, org_id: str, query_string: str) -> tuple[int, Any]:
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

        def integer(name: str) -> int:
            value = last(name)
            if value is None:
                bad(name, "Field required", "missing")
                return 0
            try:
                return int(value)
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
            if archived_raw.lower() in _TRUE:
                archived = True
            elif archived_raw.lower() in _FALSE:
                archived = False
            else:
                bad("archived", "Input should be a valid boolean", "bool_parsing")
        actions = enum_list("active_action_types", ACTION_TYPES, required=False)
        limit = integer("limit")
        if limit > 100:
            bad("limit", "Input should be less than or equal to 100", "less_than_equal")
        offset = integer("offset")
        if offset < 0:
            bad("offset", "Input should be greater than or equal to 0", "greater_than_equal")
        if details:
            return 422, {"detail": details}
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
        return 200, {"items": page, "total_items": len(rows)}

    def _detail(self, org_id: str, raw_id: str) -> tuple[int, Any]:
        try:
            host_id = str(uuid.UUID(raw_id))
        except ValueError:
            return _error(
                422, "uuid_parsing", "Input should be a valid UUID", ["path", "host_org_id"]
            )
        row = self.dataset.rows_for(org_id).by_id.get(host_id)
        if row is None:
            return _error(404, "host_connection_not_found", "Host connection not found.")
        return 200, row

    # --- control endpoint (HTTP server only) ----------------------------------------

    def _control(
        self, environ: Environ, method: str, path: str, start_response: StartResponse
    ) -> Iterable[bytes]:
        if path == "/_sandbox/faults" and method == "DELETE":
            self.faults.clear()
            return self._json(start_response, 200, {"ok": True})
        if path == "/_sandbox/faults" and method == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            try:
                body = json.loads(environ["wsgi.input"].read(length) or b"{}")
                rules = [FaultRule(**rule) for rule in body.get("rules", [])]
                latency = float(body.get("latency_ms", self.faults.latency_ms))
            except (ValueError, TypeError, AttributeError) as exc:
                return self._json(start_response, 422, {"detail": [{"msg": str(exc)}]})
            self.faults.latency_ms = latency
            self.faults.extend(rules)
            return self._json(start_response, 200, {"ok": True})
        if path == "/_sandbox/health":
            return self._json(start_response, 200, {"ok": True})
        return self._json(start_response, 404, {"detail": []})

    # --- plumbing --------------------------------------------------------------------

    def _json(
        self,
        start_response: StartResponse,
        status: int,
        body: Any,
        headers: list[tuple[str, str]] | None = None,
    ) -> Iterable[bytes]:
        data = json.dumps(body, separators=(",", ":")).encode()
        return self._send(start_response, status, data, headers or [])

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
