"""Tests of connections/api.py, the typed upstream client, against the in-process sandbox.

Faults are injected in the sandbox (``sandbox.faults.add``); the few cases the sandbox cannot
produce use ``httpx.MockTransport``. Nothing of ours is patched.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from django.core.cache import cache
from django.utils.http import http_date

from connections import api
from connections.query import ListQuery
from sandbox import ORGS_BY_SLUG, Dataset, SandboxApp, SandboxTransport
from sandbox.server import make_server
from tests.test_cache import fresh_outage_log  # noqa: F401  (fixture)
from tests.test_health import redis_down  # noqa: F401  (fixture)

DEMO = ORGS_BY_SLUG["demo-lender"]
DATA_PATH = "/v1-beta/host-connections"
TOKEN_PATH = "/v1-beta/oauth2/token"


def creds(slug: str = "demo-lender", secret: str | None = None) -> api.Credentials:
    org = ORGS_BY_SLUG[slug]
    return api.Credentials(
        client_id=org.client_id,
        client_secret=org.client_secret if secret is None else secret,
        requester_org_id=org.id,
    )


def caller(slug: str = "demo-lender", target: str | None = None) -> api.Caller:
    return api.Caller(credentials=creds(slug), target_org_id=ORGS_BY_SLUG[target or slug].id)


def data_requests(sandbox: SandboxApp) -> int:
    return sum(1 for s in sandbox.seen if s.path.startswith(DATA_PATH))


def token_requests(sandbox: SandboxApp) -> int:
    return sum(1 for s in sandbox.seen if s.path == TOKEN_PATH)


def list_page(query: ListQuery | None = None, who: api.Caller | None = None) -> Any:
    return api.list_host_connections(who or caller(), query or ListQuery())


# --- parsing ---------------------------------------------------------------------------


def test_list_parses_into_models(sandbox: SandboxApp) -> None:
    page = list_page(ListQuery(limit=100))
    assert isinstance(page, api.HostConnectionPage)
    assert len(page.items) == 100
    assert page.total_items == 302
    assert all(isinstance(item, api.HostConnection) for item in page.items)
    assert all(isinstance(item.host_organization_id, uuid.UUID) for item in page.items)
    assert {str(item.guest_organization_id) for item in page.items} == {DEMO.id}


def test_list_naive_timestamps_become_utc_aware(sandbox: SandboxApp) -> None:
    page = list_page(ListQuery(limit=100, archived=True))
    raw_rows = sandbox.dataset.rows_for(DEMO.id).by_id
    assert page.items
    for item in page.items:
        raw = raw_rows[str(item.host_organization_id)]
        assert item.archived_at is not None
        assert not raw["archived_at"].endswith("Z")  # the naive shape
        assert item.archived_at.utcoffset() == timedelta(0)
        assert item.archived_at == datetime.fromisoformat(raw["archived_at"]).replace(tzinfo=UTC)
        assert raw["created_at"].endswith("Z")
        assert item.created_at.utcoffset() == timedelta(0)
        assert item.created_at == datetime.fromisoformat(raw["created_at"])


def test_list_accepts_nulls(sandbox: SandboxApp) -> None:
    page = list_page(ListQuery(limit=100))
    assert any(item.archived_at is None for item in page.items)
    no_action = [item for item in page.items if item.active_action_type is None]
    assert no_action
    assert all(item.active_action_updated_at is None for item in no_action)


def test_list_passes_filters_and_sort(sandbox: SandboxApp) -> None:
    query = ListQuery(
        statuses=("disconnected",),
        archived=False,
        order_by="created_at",
        order_dir="desc",
        limit=50,
    )
    page = list_page(query)
    assert page.items
    assert {item.status for item in page.items} == {"disconnected"}
    assert not any(item.archived for item in page.items)
    created = [item.created_at for item in page.items]
    assert created == sorted(created, reverse=True)


def test_detail_parses_into_model(sandbox: SandboxApp) -> None:
    first = list_page(ListQuery(limit=20)).items[0]
    item = api.get_host_connection(caller(), first.host_organization_id)
    assert isinstance(item, api.HostConnection)
    assert item == first


def test_detail_of_a_connected_org_through_another_target(sandbox: SandboxApp) -> None:
    item = api.get_host_connection(caller("demo-lender", "northwind-credit"), uuid.UUID(DEMO.id))
    assert item.host_name == "Demo Lender"
    assert item.guest_organization_id == uuid.UUID(ORGS_BY_SLUG["northwind-credit"].id)


def _detail_transport(row: dict[str, Any]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth2/token"):
            return httpx.Response(200, json={"access_token": "tok", "expires_in": 3600})
        return httpx.Response(200, json=row)

    return httpx.MockTransport(handler)


def detail_row(**fields: Any) -> dict[str, Any]:
    """A detail answer with only the required fields, and ``fields`` on top."""
    return {
        "host_organization_id": str(uuid.uuid4()),
        "guest_organization_id": DEMO.id,
        "host_name": "Some Ltd",
        "host_email": "a@example.com",
        "owner_email": "b@example.com",
        "status": "connected",
        "archived": False,
        "created_at": "2023-11-07T05:31:56Z",
        "updated_at": "2023-11-07T05:31:56Z",
        **fields,
    }


def test_detail_accepts_absent_optional_fields() -> None:
    row = detail_row(host_name="Absent Fields Ltd", updated_at="2025-12-12T12:00:00.123456")
    api.use_transport(_detail_transport(row))
    item = api.get_host_connection(caller(), uuid.UUID(row["host_organization_id"]))
    assert item.archived_at is None
    assert item.active_action_type is None
    assert item.active_action_updated_at is None
    assert item.updated_at == datetime(2025, 12, 12, 12, 0, 0, 123456, tzinfo=UTC)


def test_detail_sentinel_timestamps_at_the_edge_of_time() -> None:
    """0001-01-01 at +01:00 is before the first instant Python has: clamped, no 500."""
    row = detail_row(
        archived=True,
        created_at="0001-01-01T00:00:00+01:00",
        updated_at="9999-12-31T23:59:59-01:00",
        archived_at="0001-01-01T00:00:00",
    )
    api.use_transport(_detail_transport(row))
    item = api.get_host_connection(caller(), uuid.UUID(row["host_organization_id"]))
    assert item.created_at == datetime.min.replace(tzinfo=UTC)
    assert item.updated_at == datetime.max.replace(tzinfo=UTC)
    assert item.archived_at == datetime(1, 1, 1, tzinfo=UTC)


def test_detail_converts_offset_timestamps_to_utc() -> None:
    row = detail_row(
        status="disconnected",
        archived=True,
        created_at="2023-11-07T07:31:56+02:00",
        archived_at=None,
        active_action_type=None,
        active_action_updated_at=None,
    )
    api.use_transport(_detail_transport(row))
    item = api.get_host_connection(caller(), uuid.UUID(row["host_organization_id"]))
    assert item.created_at.tzinfo is UTC
    assert item.created_at == datetime(2023, 11, 7, 5, 31, 56, tzinfo=UTC)


def _page_transport(
    total_items: str, created_at: str = "2023-11-07T05:31:56Z"
) -> httpx.MockTransport:
    """A list answer whose ``total_items`` is the given JSON text, verbatim."""
    row = json.dumps(detail_row(host_name="Raw Numbers Ltd", created_at=created_at))
    return _body_transport(f'{{"items": [{row}], "total_items": {total_items}}}'.encode())


def _body_transport(body: bytes) -> httpx.MockTransport:
    """A token, then ``body`` verbatim as every list answer."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth2/token"):
            return httpx.Response(200, json={"access_token": "tok", "expires_in": 3600})
        return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})

    return httpx.MockTransport(handler)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1e20", 10**20),
        ("1E+3", 1000),
        ("3.0", 3),
        ("1.2345678901234567890123e22", 12345678901234567890123),  # exact, not a float
        ("9223372036854775808", 2**63),
        ("1" + "0" * 40, 10**40),
    ],
)
def test_list_total_items_any_integral_json_number(raw: str, expected: int) -> None:
    api.use_transport(_page_transport(raw))
    page = list_page()
    assert page.total_items == expected
    assert type(page.total_items) is int
    assert page.items[0].host_name == "Raw Numbers Ltd"


@pytest.mark.parametrize("raw", ["1.5", "-1", "1e-2", "NaN", "Infinity", "-Infinity", "1e5000"])
def test_list_total_items_not_a_count_is_contract_breach(raw: str) -> None:
    api.use_transport(_page_transport(raw))
    with pytest.raises(api.ApiContractError) as info:
        list_page()
    assert info.value.code == "contract_breach"


def test_list_deeply_nested_body_is_contract_breach() -> None:
    api.use_transport(_page_transport("[" * 100_000))
    with pytest.raises(api.ApiContractError) as info:
        list_page()
    assert info.value.code == "contract_breach"


def test_token_expires_in_with_an_exponent_is_read() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth2/token"):
            body = b'{"access_token": "tok-exp", "expires_in": 3.6e3}'
            return httpx.Response(200, content=body)
        return httpx.Response(200, json={"items": [], "total_items": 0})

    api.use_transport(httpx.MockTransport(handler))
    assert list_page().total_items == 0
    assert cache.get(creds().cache_key) == "tok-exp"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2016-12-31T23:59:60Z", datetime(2016, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
        ("2016-12-31T23:59:60.5", datetime(2016, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
        ("2017-01-01T08:59:60+09:00", datetime(2016, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    ],
)
def test_list_leap_second_is_read(raw: str, expected: datetime) -> None:
    api.use_transport(_page_transport("1", created_at=raw))
    item = list_page().items[0]
    assert item.created_at == expected
    assert item.created_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize("raw", ["2016-12-31T23:59:61Z", "2016-12-31T23:60:00Z"])
def test_list_impossible_second_is_contract_breach(raw: str) -> None:
    api.use_transport(_page_transport("1", created_at=raw))
    with pytest.raises(api.ApiContractError):
        list_page()


# --- what goes upstream ----------------------------------------------------------------


def test_params_arrays_are_repeated_keys(sandbox: SandboxApp) -> None:
    query = ListQuery(
        statuses=("disconnected", "connected"),
        search_field="owner_email",
        search_text="anna",
        order_by="archived_at",
        order_dir="desc",
        archived=False,
        active_action_types=("analytics_request",),
        limit=50,
        offset=100,
    )
    list_page(query)
    sent = parse_qsl(sandbox.seen[-1].query, keep_blank_values=True)
    assert sent == [
        ("statuses", "connected"),
        ("statuses", "disconnected"),
        ("search_field", "owner_email"),
        ("search_text", "anna"),
        ("order_by", "archived_at"),
        ("order_dir", "desc"),
        ("archived", "false"),
        ("active_action_types", "analytics_request"),
        ("limit", "50"),
        ("offset", "100"),
    ]


def test_params_limit_and_offset_override(sandbox: SandboxApp) -> None:
    page = api.list_host_connections(caller(), ListQuery(), limit=100, offset=300)
    sent = dict(parse_qsl(sandbox.seen[-1].query))
    assert (sent["limit"], sent["offset"]) == ("100", "300")
    assert len(page.items) == 2


def test_count_is_a_limit_zero_call_of_the_filters(sandbox: SandboxApp) -> None:
    query = ListQuery(statuses=("connected",), archived=False, limit=50, offset=100)
    count = api.count_host_connections(caller(), query)
    sent = parse_qsl(sandbox.seen[-1].query)
    assert ("limit", "0") in sent and ("offset", "0") in sent
    assert ("statuses", "connected") in sent and ("archived", "false") in sent
    rows = sandbox.dataset.rows_for(DEMO.id).by_id.values()
    assert count == sum(1 for r in rows if r["status"] == "connected" and not r["archived"])
    assert data_requests(sandbox) == 1


def test_count_is_retried_and_fails_as_a_page_does(sandbox: SandboxApp) -> None:
    sandbox.faults.add("status_503", path="/host-connections", times=1)
    assert api.count_host_connections(caller(), ListQuery()) == 302
    assert data_requests(sandbox) == 2
    sandbox.faults.add("status_500", path="/host-connections", times=1)
    with pytest.raises(api.ApiUnavailable):
        api.count_host_connections(caller(), ListQuery())


def test_params_defaults_send_every_required_parameter(sandbox: SandboxApp) -> None:
    list_page()
    sent = parse_qsl(sandbox.seen[-1].query)
    names = [name for name, _ in sent]
    assert names.count("statuses") == 2
    assert {"limit", "offset"} <= set(names)
    assert "search_text" not in names and "archived" not in names


def test_headers_carry_both_orgs_and_request_id(sandbox: SandboxApp) -> None:
    target = ORGS_BY_SLUG["northwind-credit"]
    list_page(who=caller("demo-lender", "northwind-credit"))
    token_call, data_call = sandbox.seen[-2], sandbox.seen[-1]
    assert token_call.path == TOKEN_PATH
    assert data_call.headers["requester-organization-id"] == DEMO.id
    assert data_call.headers["target-organization-id"] == target.id
    assert data_call.headers["authorization"].startswith("Bearer ")
    request_id = data_call.headers["x-request-id"]
    assert request_id
    assert token_call.headers["x-request-id"] == request_id


def test_headers_request_id_differs_per_call(sandbox: SandboxApp) -> None:
    list_page()
    list_page()
    ids = [s.headers["x-request-id"] for s in sandbox.seen if s.path == DATA_PATH]
    assert len(ids) == 2 and ids[0] != ids[1]


# --- tokens ----------------------------------------------------------------------------


def test_token_cached_across_calls(sandbox: SandboxApp) -> None:
    for _ in range(5):
        list_page()
    api.get_host_connection(caller("demo-lender", "northwind-credit"), uuid.UUID(DEMO.id))
    assert sandbox.tokens_issued == 1
    assert token_requests(sandbox) == 1
    assert data_requests(sandbox) == 6


def test_token_cached_per_api_client(sandbox: SandboxApp) -> None:
    list_page()
    list_page(who=caller("harbor-finance"))
    list_page()
    list_page(who=caller("harbor-finance"))
    assert sandbox.tokens_issued == 2


def test_token_kept_in_django_cache(sandbox: SandboxApp) -> None:
    list_page()
    token = cache.get(creds().cache_key)
    assert token
    assert sandbox.seen[-1].headers["authorization"] == f"Bearer {token}"
    cache.clear()  # this process keeps the token it fetched until it expires
    list_page()
    assert sandbox.tokens_issued == 1
    api.forget_token(creds())  # in the cache and in the process
    list_page()
    assert sandbox.tokens_issued == 2


def test_token_no_stampede_from_concurrent_calls(sandbox: SandboxApp) -> None:
    # A slow token endpoint: without the token lock every thread would fetch one.
    sandbox.faults.add("latency", path="/oauth2/token", seconds=0.05, times=None)
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []
    pages: list[Any] = []

    def work() -> None:
        try:
            barrier.wait(timeout=10)
            pages.append(list_page())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert len(pages) == 8
    assert sandbox.tokens_issued == 1
    assert token_requests(sandbox) == 1


def _concurrent_list_pages(n: int) -> list[Any]:
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []
    pages: list[Any] = []

    def work() -> None:
        try:
            barrier.wait(timeout=10)
            pages.append(list_page())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    return pages


@pytest.mark.usefixtures("redis_down", "fresh_outage_log")
def test_token_one_fetch_per_process_with_the_shared_cache_down(sandbox: SandboxApp) -> None:
    # Redis down: its lock is granted to everyone (cache.add answers True) and no token is
    # stored, so only the lock and the token kept in this process prevent a fetch per call.
    sandbox.faults.add("latency", path="/oauth2/token", seconds=0.05, times=None)
    assert len(_concurrent_list_pages(8)) == 8
    assert list_page().items  # a later call too
    assert token_requests(sandbox) == 1
    assert data_requests(sandbox) == 9


@pytest.mark.usefixtures("redis_down", "fresh_outage_log")
def test_token_kept_in_the_process_is_forgotten_on_401(sandbox: SandboxApp) -> None:
    list_page()
    sandbox.faults.add("expire_tokens", path="/host-connections")
    assert list_page().items
    assert token_requests(sandbox) == 2  # the refused token was not used again


def _token_of_another_instance(sandbox: SandboxApp) -> str:
    """A token fetched by someone else (another hostadmin instance), not through api."""
    with httpx.Client(transport=SandboxTransport(sandbox), base_url="http://s/v1-beta") as c:
        body = {"client_id": DEMO.client_id, "client_secret": DEMO.client_secret}
        return str(c.post("/oauth2/token", json=body).json()["access_token"])


def test_token_waits_for_the_fetch_of_another_instance(sandbox: SandboxApp) -> None:
    theirs = _token_of_another_instance(sandbox)
    assert cache.add(creds().lock_key, "another-instance", 30)  # it is fetching
    store = threading.Timer(0.2, lambda: cache.set(creds().cache_key, theirs, 3600))
    store.start()
    page = list_page()
    store.join()
    assert page.total_items == 302
    assert sandbox.tokens_issued == 1  # theirs: this process fetched none
    assert sandbox.seen[-1].headers["authorization"] == f"Bearer {theirs}"


def test_token_lock_of_a_dead_instance_expires(sandbox: SandboxApp) -> None:
    # Whole seconds: Redis keeps a timeout in seconds (0.3 would expire at once there).
    cache.add(creds().lock_key, "dead-instance", 1)  # it never stores a token
    started = time.monotonic()
    assert list_page().items
    assert time.monotonic() - started >= 0.5  # waited for the lock to expire, then fetched
    assert token_requests(sandbox) == 1
    assert cache.get(creds().lock_key) is None  # and released its own


def test_token_wait_for_another_instance_is_bounded(sandbox: SandboxApp, settings: Any) -> None:
    settings.UPSTREAM_CONNECT_TIMEOUT = 0.1
    settings.UPSTREAM_READ_TIMEOUT = 0.1
    cache.add(creds().lock_key, "stuck-instance", 60)
    with pytest.raises(api.ApiUnavailable) as info:
        list_page()
    assert "takes too long" in info.value.message
    assert info.value.retryable
    assert token_requests(sandbox) == 0 and data_requests(sandbox) == 0


def test_token_lock_released_after_a_failed_fetch(sandbox: SandboxApp) -> None:
    sandbox.faults.add("status_503", path="/oauth2/token")
    with pytest.raises(api.ApiUnavailable):
        list_page()
    assert cache.get(creds().lock_key) is None
    assert list_page().items  # fetched at once, not after the lock's expiry
    assert token_requests(sandbox) == 2


REDIS_13 = "redis://127.0.0.1:6379/13"
_INSTANCE = """
import hashlib, sys, threading
import django
django.setup()
from connections import api
credentials = api.Credentials(
    client_id=sys.argv[1], client_secret=sys.argv[2], requester_org_id=sys.argv[3]
)
tokens = []
threads = [
    threading.Thread(target=lambda: tokens.append(api.access_token(credentials)))
    for _ in range(4)
]
print("ready", flush=True)
sys.stdin.readline()
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(" ".join(hashlib.sha256(token.encode()).hexdigest() for token in tokens), flush=True)
"""


@pytest.fixture
def redis_13() -> Iterator[str]:
    """Redis database 13 (flushed before and after), the cache two processes share."""
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_13, socket_connect_timeout=0.5)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("Redis is not reachable at 127.0.0.1:6379: two processes need it to share")
    client.flushdb()
    yield REDIS_13
    client.flushdb()
    client.close()


def test_token_one_fetch_across_two_processes(
    live_sandbox: SandboxApp, redis_13: str, settings: Any
) -> None:
    """Two hostadmin processes sharing Redis, 4 threads each, all asking at once."""
    live_sandbox.faults.add("latency", path="/oauth2/token", seconds=0.3, times=None)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "hostadmin.settings",
        "REDIS_URL": redis_13,
        "UPSTREAM_BASE_URL": settings.UPSTREAM_BASE_URL,  # the loopback sandbox
    }
    args = [sys.executable, "-c", _INSTANCE, DEMO.client_id, DEMO.client_secret, DEMO.id]
    root = Path(__file__).resolve().parent.parent
    procs = [
        subprocess.Popen(
            args,
            cwd=root,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready", proc.stderr
        for proc in procs:  # both go at once
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outputs = [proc.communicate(timeout=60) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    digests = [digest for out, _ in outputs for digest in out.split()]
    assert all(proc.returncode == 0 for proc in procs), [err for _, err in outputs]
    assert len(digests) == 8
    assert len(set(digests)) == 1  # every thread of both processes got the same token
    assert live_sandbox.tokens_issued == 1


def test_token_refreshed_once_on_401(sandbox: SandboxApp) -> None:
    list_page()
    sandbox.faults.add("expire_tokens", path="/host-connections")
    page = list_page()
    assert page.items
    assert sandbox.tokens_issued == 2
    assert data_requests(sandbox) == 3  # the first call, the refused one, the retry


def test_token_refreshed_on_401_with_an_empty_cache(sandbox: SandboxApp) -> None:
    sandbox.faults.add("expire_tokens", path="/host-connections")
    assert list_page().items
    assert sandbox.tokens_issued == 2
    assert data_requests(sandbox) == 2


def test_token_persistent_401_is_auth_error(sandbox: SandboxApp) -> None:
    sandbox.faults.add("expire_tokens", path="/host-connections", times=None)
    with pytest.raises(api.ApiAuthError) as info:
        list_page()
    assert info.value.status == 401
    assert not info.value.retryable
    assert sandbox.tokens_issued == 2  # one refresh, no more
    assert data_requests(sandbox) == 2


def test_token_bad_credentials_is_auth_error(sandbox: SandboxApp) -> None:
    bad = api.Caller(creds(secret="definitely-not-the-secret"), DEMO.id)
    with pytest.raises(api.ApiAuthError) as info:
        api.list_host_connections(bad, ListQuery())
    assert info.value.status == 401
    assert info.value.code == "oauth_invalid_client_credentials"
    assert "credentials" in info.value.message
    assert data_requests(sandbox) == 0
    assert sandbox.tokens_issued == 0


@pytest.mark.parametrize("kind", ["status_503", "status_502", "status_500", "timeout", "drop"])
def test_token_post_never_retried(sandbox: SandboxApp, kind: str) -> None:
    sandbox.faults.add(kind, path="/oauth2/token", times=None)
    with pytest.raises(api.ApiUnavailable) as info:
        list_page()
    assert info.value.retryable
    assert token_requests(sandbox) == 1
    assert data_requests(sandbox) == 0


@pytest.mark.parametrize("kind", ["bad_json", "bad_shape"])
def test_token_contract_breach(sandbox: SandboxApp, kind: str) -> None:
    sandbox.faults.add(kind, path="/oauth2/token")
    with pytest.raises(api.ApiContractError):
        list_page()
    assert cache.get(creds().cache_key) is None


def test_token_with_zero_expiry_is_contract_breach() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"access_token": "tok", "expires_in": 0})

    api.use_transport(httpx.MockTransport(handler))
    with pytest.raises(api.ApiContractError):
        list_page()


# --- retries ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["status_503", "status_502", "status_504", "timeout", "drop"])
def test_retry_then_success(sandbox: SandboxApp, settings: Any, kind: str) -> None:
    settings.UPSTREAM_MAX_RETRIES = 2
    sandbox.faults.add(kind, path="/host-connections", times=2)
    assert list_page().items
    assert data_requests(sandbox) == 3
    assert sandbox.tokens_issued == 1


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("status_502", "failed (502)"),
        ("status_504", "failed (504)"),
        ("timeout", "did not answer in time"),
        ("drop", "could not be reached"),
    ],
)
def test_retry_exhausted_is_unavailable(
    sandbox: SandboxApp, settings: Any, kind: str, words: str
) -> None:
    settings.UPSTREAM_MAX_RETRIES = 2
    sandbox.faults.add(kind, path="/host-connections", times=None)
    with pytest.raises(api.ApiUnavailable) as info:
        list_page()
    assert info.value.retryable is True
    assert words in info.value.message
    assert "try again" in info.value.message
    assert data_requests(sandbox) == 3


def test_retry_count_follows_setting(sandbox: SandboxApp, settings: Any) -> None:
    settings.UPSTREAM_MAX_RETRIES = 0
    sandbox.faults.add("status_502", path="/host-connections", times=1)
    with pytest.raises(api.ApiUnavailable):
        list_page()
    assert data_requests(sandbox) == 1


def test_retry_maintenance_message(sandbox: SandboxApp) -> None:
    sandbox.faults.add("status_503", path="/host-connections", times=None)
    with pytest.raises(api.ApiUnavailable) as info:
        list_page()
    assert info.value.status == 503
    assert info.value.code == "service_under_maintenance"
    assert "under maintenance" in info.value.message
    assert info.value.retryable


def test_retry_500_is_unavailable(sandbox: SandboxApp) -> None:
    sandbox.faults.add("status_500", path="/host-connections", times=None)
    with pytest.raises(api.ApiUnavailable) as info:
        list_page()
    assert info.value.status == 500
    assert "failed (500)" in info.value.message


def test_retry_429_with_small_retry_after(sandbox: SandboxApp) -> None:
    # seconds < 1 makes the sandbox send "Retry-After: 0", under the cap set in conftest.
    sandbox.faults.add("status_429", path="/host-connections", seconds=0.01)
    assert list_page().items
    assert data_requests(sandbox) == 2


def test_retry_429_with_large_retry_after_is_busy_fast(sandbox: SandboxApp) -> None:
    sandbox.faults.add("status_429", path="/host-connections", seconds=120, times=None)
    with pytest.raises(api.ApiBusy) as info:
        list_page()
    assert info.value.retry_after == 120
    assert info.value.retryable
    assert info.value.status == 429
    assert "try again in 120 s" in info.value.message
    assert data_requests(sandbox) == 1  # no sleep, no retry


def test_retry_429_retry_after_over_the_deadline_is_busy(
    sandbox: SandboxApp, settings: Any
) -> None:
    settings.UPSTREAM_RETRY_AFTER_CAP = 5
    settings.UPSTREAM_DEADLINE = 0.5
    sandbox.faults.add("status_429", path="/host-connections", seconds=2, times=None)
    with pytest.raises(api.ApiBusy) as info:
        list_page()
    assert "try again in 2 s" in info.value.message
    assert data_requests(sandbox) == 1


def _busy_once(retry_after: str, date: str | None = None) -> httpx.MockTransport:
    """A 429 with the given ``Retry-After`` (and ``Date``) on the first list call, then 200."""
    answered: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth2/token"):
            return httpx.Response(200, json={"access_token": "tok", "expires_in": 3600})
        answered.append(1)
        if len(answered) == 1:
            headers = {"Retry-After": retry_after, **({"Date": date} if date else {})}
            body = {"detail": [{"loc": [], "msg": "Slow down", "type": "t", "code": "rate"}]}
            return httpx.Response(429, json=body, headers=headers)
        return httpx.Response(200, json={"items": [], "total_items": 7})

    return httpx.MockTransport(handler)


def test_retry_429_http_date_in_the_past_retries_at_once() -> None:
    api.use_transport(_busy_once(http_date(time.time() - 30)))
    assert list_page().total_items == 7  # waited 0 s, under the cap: one retry


def test_retry_429_http_date_ahead_is_busy_for_that_long() -> None:
    api.use_transport(_busy_once(http_date(time.time() + 120)))
    with pytest.raises(api.ApiBusy) as info:
        list_page()
    assert 118 <= info.value.retry_after <= 120  # an HTTP date has whole seconds
    assert info.value.status == 429


@pytest.mark.parametrize(
    "retry_after",
    [
        "Sun, 06 Nov 1994 08:50:17 GMT",  # IMF-fixdate
        "Sunday, 06-Nov-94 08:50:17 GMT",  # obsolete RFC 850 form
        "Sun Nov  6 08:50:17 1994",  # obsolete asctime form
    ],
)
def test_retry_429_http_date_counts_from_the_upstreams_clock(retry_after: str) -> None:
    # The upstream's clock says 08:49:37: 40 s to wait, whatever this machine's clock says.
    api.use_transport(_busy_once(retry_after, date="Sun, 06 Nov 1994 08:49:37 GMT"))
    with pytest.raises(api.ApiBusy) as info:
        list_page()
    assert info.value.retry_after == 40
    assert "try again in 40 s" in info.value.message


@pytest.mark.parametrize(("retry_after", "expected"), [("7200", 3600), ("soon", 1), ("", 1)])
def test_retry_429_retry_after_is_capped_or_defaults(retry_after: str, expected: float) -> None:
    api.use_transport(_busy_once(retry_after))
    with pytest.raises(api.ApiBusy) as info:
        list_page()
    assert info.value.retry_after == expected


# --- other errors ----------------------------------------------------------------------


def test_error_403_is_forbidden(sandbox: SandboxApp) -> None:
    with pytest.raises(api.ApiForbidden) as info:
        list_page(who=caller("demo-lender", "quiet-bank"))
    assert info.value.status == 403
    assert info.value.code == "target_not_allowed"
    assert not info.value.retryable
    assert data_requests(sandbox) == 1


def test_error_404_is_not_found(sandbox: SandboxApp) -> None:
    with pytest.raises(api.ApiNotFound) as info:
        api.get_host_connection(caller(), uuid.uuid4())
    assert info.value.status == 404
    assert data_requests(sandbox) == 1


@pytest.mark.parametrize("kind", ["bad_json", "bad_shape"])
def test_error_bad_body_is_contract_error(sandbox: SandboxApp, kind: str) -> None:
    sandbox.faults.add(kind, path="/host-connections")
    with pytest.raises(api.ApiContractError) as info:
        list_page()
    assert info.value.code == "contract_breach"
    assert data_requests(sandbox) == 1


def test_error_bad_shape_on_detail_is_contract_error(sandbox: SandboxApp) -> None:
    sandbox.faults.add("bad_shape", path="/host-connections/")
    with pytest.raises(api.ApiContractError):
        api.get_host_connection(caller(), uuid.UUID(ORGS_BY_SLUG["northwind-credit"].id))


def test_error_redirect_is_not_followed() -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if request.url.path.endswith("/oauth2/token"):
            return httpx.Response(200, json={"access_token": "tok", "expires_in": 3600})
        return httpx.Response(302, headers={"Location": "http://evil.example/steal"})

    api.use_transport(httpx.MockTransport(handler))
    with pytest.raises(api.ApiError) as info:
        list_page()
    assert info.value.status == 302
    assert not any(r.url.host == "evil.example" for r in requests)
    assert len(requests) == 2  # the token and the one GET


def test_error_422_is_rejected(sandbox: SandboxApp) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth2/token"):
            return httpx.Response(200, json={"access_token": "tok", "expires_in": 3600})
        body = {"detail": [{"loc": ["query", "limit"], "msg": "x", "type": "t", "code": "t"}]}
        return httpx.Response(422, json=body)

    api.use_transport(httpx.MockTransport(handler))
    with pytest.raises(api.ApiRejected) as info:
        list_page()
    assert info.value.status == 422
    assert "bug" in info.value.message


# --- correlation ids and secrets in errors and logs ------------------------------------

SECRET = "do-not-leak-this-secret-42"


def _scenario_bad_credentials(sandbox: SandboxApp) -> api.Caller:
    return api.Caller(creds(secret=SECRET), DEMO.id)


def _fault(kind: str, **kwargs: Any) -> Callable[[SandboxApp], api.Caller]:
    def setup(sandbox: SandboxApp) -> api.Caller:
        sandbox.faults.add(kind, **kwargs)
        return caller()

    return setup


def _forbidden(sandbox: SandboxApp) -> api.Caller:
    return caller("demo-lender", "quiet-bank")


SCENARIOS: dict[str, Callable[[SandboxApp], api.Caller]] = {
    "bad_credentials": _scenario_bad_credentials,
    "persistent_401": _fault("expire_tokens", path="/host-connections", times=None),
    "exhausted_502": _fault("status_502", path="/host-connections", times=None),
    "exhausted_timeout": _fault("timeout", path="/host-connections", times=None),
    "exhausted_drop": _fault("drop", path="/host-connections", times=None),
    "maintenance": _fault("status_503", path="/host-connections", times=None),
    "busy": _fault("status_429", path="/host-connections", seconds=120, times=None),
    "forbidden": _forbidden,
    "bad_json": _fault("bad_json", path="/host-connections"),
    "bad_shape": _fault("bad_shape", path="/host-connections"),
    "token_503": _fault("status_503", path="/oauth2/token"),
    "token_drop": _fault("drop", path="/oauth2/token"),
    "token_bad_json": _fault("bad_json", path="/oauth2/token"),
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_errors_carry_a_logged_correlation_id_and_no_secrets(
    sandbox: SandboxApp, caplog: pytest.LogCaptureFixture, scenario: str
) -> None:
    caplog.set_level(logging.DEBUG)
    who = SCENARIOS[scenario](sandbox)
    with pytest.raises(api.ApiError) as info:
        api.list_host_connections(who, ListQuery())
    exc = info.value
    ref = exc.correlation_id
    assert ref
    assert ref in str(exc)
    assert exc.message and exc.message in str(exc)
    ours = [r for r in caplog.records if r.name == "connections.api"]
    assert any(ref in r.getMessage() for r in ours)
    # The same reference reached the upstream, so support can match the two logs.
    assert any(s.headers.get("x-request-id") == ref for s in sandbox.seen)

    tokens = {
        s.headers["authorization"].removeprefix("Bearer ")
        for s in sandbox.seen
        if "authorization" in s.headers
    }
    secrets = {who.credentials.client_secret, *tokens}
    if scenario not in ("bad_credentials",) and not scenario.startswith("token_"):
        assert tokens  # a token was in play, so the check below means something
    texts = [str(exc), repr(exc), repr(exc.args), repr(who), repr(who.credentials), caplog.text]
    texts += [r.getMessage() for r in caplog.records]
    for secret in secrets:
        for text in texts:
            assert secret not in text


def test_credentials_repr_hides_the_secret() -> None:
    credentials = creds(secret=SECRET)
    assert SECRET not in repr(credentials)
    assert SECRET not in str(credentials)
    assert credentials.client_id in repr(credentials)
    assert SECRET not in credentials.cache_key


def test_errors_from_one_call_share_one_correlation_id(sandbox: SandboxApp) -> None:
    sandbox.faults.add("status_502", path="/host-connections", times=None)
    with pytest.raises(api.ApiUnavailable) as info:
        list_page()
    ids = {s.headers["x-request-id"] for s in sandbox.seen if s.path == DATA_PATH}
    assert ids == {info.value.correlation_id}


def test_httpx_does_not_log_urls_at_info(
    sandbox: SandboxApp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    logging.getLogger("connections.api").info("marker")  # INFO records are being captured
    list_page(ListQuery(search_text="acme"))
    assert any(r.getMessage() == "marker" for r in caplog.records)
    assert not [r for r in caplog.records if r.name.startswith(("httpx", "httpcore"))]
    assert "host-connections" not in caplog.text
    assert "search_text" not in caplog.text


def test_error_log_has_path_but_no_query(
    sandbox: SandboxApp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with pytest.raises(api.ApiForbidden):
        api.list_host_connections(
            caller("demo-lender", "quiet-bank"), ListQuery(search_text="private-needle")
        )
    assert "/host-connections" in caplog.text
    assert "private-needle" not in caplog.text


# --- over a real socket: the loopback sandbox server -----------------------------------


@pytest.fixture
def live_sandbox(settings: Any) -> Iterator[SandboxApp]:
    """The sandbox's HTTP server on a free loopback port, as hostadmin's upstream."""
    app = SandboxApp(Dataset(rows_per_org=30))
    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    settings.UPSTREAM_BASE_URL = f"http://127.0.0.1:{server.server_address[1]}/v1-beta"
    api.use_transport(None)  # the real network client, built on first use
    try:
        yield app
    finally:
        api.use_transport(None)
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_live_faults_on_kept_alive_connections_do_not_poison_later_calls(
    live_sandbox: SandboxApp,
) -> None:
    """Issue 12, item 10: a 401 then a 503 on the token call, then steady traffic."""
    assert list_page().total_items == 32
    live_sandbox.faults.add("expire_tokens", path="/host-connections")
    live_sandbox.faults.add("status_503", path="/oauth2/token")
    with pytest.raises(api.ApiUnavailable):
        list_page()  # 401, the token refreshed: 503
    pages = [list_page() for _ in range(5)]
    assert [page.total_items for page in pages] == [32] * 5
    assert all(s.method in ("GET", "POST") for s in live_sandbox.seen)


class _SloppyUpstream(BaseHTTPRequestHandler):
    """An upstream that answers its first token request 503 without reading the body and
    keeps the connection open: a request sent after it on that connection would be parsed
    from the leftover body (the client secret)."""

    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, format: str, *args: Any) -> None:
        return

    def parse_request(self) -> bool:
        self.server.seen.append((self.client_address[1], self.raw_requestline))
        return super().parse_request()

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        self.server.token_calls += 1
        if self.server.token_calls == 1:
            entry = {"loc": [], "msg": "Down", "type": "t", "code": "service_under_maintenance"}
            return self._answer(503, {"detail": [entry]})
        self.rfile.read(int(self.headers["Content-Length"]))
        return self._answer(200, {"access_token": "tok", "expires_in": 3600})

    def do_GET(self) -> None:
        return self._answer(200, {"items": [], "total_items": 5})


def test_token_connection_is_not_reused_after_the_token_call(settings: Any) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SloppyUpstream)
    server.seen, server.token_calls = [], 0
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    settings.UPSTREAM_BASE_URL = f"http://127.0.0.1:{server.server_address[1]}/v1-beta"
    api.use_transport(None)
    try:
        with pytest.raises(api.ApiUnavailable):
            list_page()  # the token call: 503, its body left unread
        assert list_page().total_items == 5
        assert list_page().total_items == 5
    finally:
        api.use_transport(None)
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    lines = [line for _, line in server.seen]
    assert [line.split(b" ")[0] for line in lines] == [b"POST", b"POST", b"GET", b"GET"]
    ports = [port for port, _ in server.seen]
    assert len(set(ports[:2])) == 2  # the second token call came on a new connection
    assert ports[2] == ports[3] != ports[1]  # data calls share theirs, not the token's


def test_retry_after_infinite_is_busy_not_500() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth2/token"):
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
        return httpx.Response(429, headers={"Retry-After": "inf"}, json={"detail": []})

    api.use_transport(httpx.MockTransport(handler))
    with pytest.raises(api.ApiBusy) as caught:
        list_page()
    assert caught.value.retry_after == 1.0


def test_token_call_429_is_busy() -> None:
    api.use_transport(
        httpx.MockTransport(lambda r: httpx.Response(429, headers={"Retry-After": "30"}))
    )
    with pytest.raises(api.ApiBusy):
        list_page()


# --- the export's rows -----------------------------------------------------------------


def _list_transport(items: list[dict[str, Any]], total: Any = None) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth2/token"):
            return httpx.Response(200, json={"access_token": "tok", "expires_in": 3600})
        return httpx.Response(200, json={"items": items, "total_items": total or len(items)})

    return httpx.MockTransport(handler)


def test_rows_same_values_as_the_models(sandbox: SandboxApp) -> None:
    query = ListQuery(limit=100, order_by="active_action_updated_at")
    models = list_page(query).items
    rows = api.list_host_connection_rows(caller(), query)
    assert isinstance(rows, api.HostConnectionRowPage)
    assert rows.total_items == 302
    assert [api.HostConnection.model_validate(row) for row in rows.items] == models


def test_rows_usual_shapes_stay_text(sandbox: SandboxApp) -> None:
    """The upstream's usual values are kept as sent (the export writes them as they are);
    only other shapes become datetimes or UUIDs."""
    row = detail_row(
        created_at="2023-11-07T05:31:56Z",
        updated_at="2025-12-12T12:00:00.123456",
        archived_at="2023-11-07T07:31:56+02:00",
        active_action_updated_at="2024-02-29T00:00:00Z",
    )
    api.use_transport(_list_transport([row]))
    [got] = api.list_host_connection_rows(caller(), ListQuery()).items
    assert got["host_organization_id"] == row["host_organization_id"]
    assert (got["created_at"], got["updated_at"]) == (row["created_at"], row["updated_at"])
    assert got.get("archived_at") == datetime(2023, 11, 7, 5, 31, 56, tzinfo=UTC)
    assert got.get("active_action_updated_at") == datetime(2024, 2, 29, tzinfo=UTC)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("created_at", "2025-12-12T12:00:00.000000"),
        ("created_at", "2023-11-07T05:31:56"),
        ("created_at", "2023-11-07T05:31:56.123456Z"),
        ("created_at", "2023-11-07T05:31:56.5Z"),
        ("created_at", "2023-11-07T07:31:56+02:00"),
        ("created_at", "2023-11-07 05:31:56"),
        ("created_at", "0001-01-01T00:00:00+01:00"),
        ("created_at", "2024-02-29T00:00:00Z"),
        ("created_at", "2023-02-29T00:00:00Z"),
        ("created_at", "2023-04-31T00:00:00Z"),
        ("created_at", "2024-13-01T00:00:00Z"),
        ("created_at", "2024-01-01T24:00:00Z"),
        ("created_at", "0000-01-01T00:00:00Z"),
        ("created_at", "\u0662\u0660\u0662\u0663-01-01T00:00:00Z"),  # Arabic-Indic digits
        ("created_at", "2024-01-01"),
        ("created_at", 1_700_000_000),
        ("created_at", None),
        ("archived_at", None),
        ("archived_at", ""),
        ("host_organization_id", "0B4E7A0E-5F6C-4D7E-8F9A-0B1C2D3E4F50"),
        ("host_organization_id", "0b4e7a0e5f6c4d7e8f9a0b1c2d3e4f50"),
        ("host_organization_id", "0b4e7a0e-5f6c-4d7e-8f9a-0b1c2d3e4f5"),
        ("host_organization_id", 5),
        ("guest_organization_id", "not-a-uuid"),
        ("status", "bogus"),
        ("archived", "yes"),
        ("archived", 2),
        ("host_name", 5),
        ("host_name", None),
        ("active_action_type", "other"),
    ],
)
def test_rows_accept_and_refuse_what_the_models_do(field: str, value: Any) -> None:
    api.use_transport(_list_transport([detail_row(**{field: value})]))
    try:
        model = list_page().items[0]
    except api.ApiContractError:
        model = None
    try:
        row = api.list_host_connection_rows(caller(), ListQuery()).items[0]
    except api.ApiContractError as exc:
        assert exc.code == "contract_breach"
        row = None
    assert (row is None) == (model is None)
    if row is not None:
        assert api.HostConnection.model_validate(row) == model


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1e20", 10**20), ("3.0", 3), ("1.23456789012345678e17", 123456789012345678)],
)
def test_rows_total_items_any_integral_json_number_exact(raw: str, expected: int) -> None:
    """Read from the bytes, a count in a float's shape would lose digits: it is exact."""
    api.use_transport(_page_transport(raw))
    page = api.list_host_connection_rows(caller(), ListQuery())
    assert page.total_items == expected
    assert type(page.total_items) is int


@pytest.mark.parametrize("raw", ["1.5", "-1", "NaN", "Infinity", "1e5000"])
def test_rows_total_items_not_a_count_is_contract_breach(raw: str) -> None:
    api.use_transport(_page_transport(raw))
    with pytest.raises(api.ApiContractError, match="cannot read"):
        api.list_host_connection_rows(caller(), ListQuery())


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_rows_nan_in_a_field_we_ignore_is_contract_breach(constant: str) -> None:
    """NaN and Infinity are not JSON, wherever they stand (pydantic-core would read them)."""
    row = json.dumps(detail_row())
    body = f'{{"items": [{row[:-1]}, "score": {constant}}}], "total_items": 1}}'.encode()
    api.use_transport(_body_transport(body))
    with pytest.raises(api.ApiContractError, match="cannot read"):
        api.list_host_connection_rows(caller(), ListQuery())


def test_rows_nan_in_a_name_is_read() -> None:
    api.use_transport(_list_transport([detail_row(host_name="NaN Infinity Ltd")]))
    [got] = api.list_host_connection_rows(caller(), ListQuery()).items
    assert got["host_name"] == "NaN Infinity Ltd"


@pytest.mark.parametrize(
    "page",
    [
        {"items": "nope", "total_items": 1},
        {"items": [], "total_items": -1},
        {"items": []},
        {"items": [{"host_name": "only a name"}], "total_items": 1},
    ],
)
def test_rows_page_that_breaks_the_contract_is_refused(page: dict[str, Any]) -> None:
    api.use_transport(_body_transport(json.dumps(page).encode()))
    with pytest.raises(api.ApiContractError, match="cannot read"):
        api.list_host_connection_rows(caller(), ListQuery())
