"""Contract tests for the sandbox: our stand-in must follow shared/upstream-api.md to the letter.

Driven in-process through ``SandboxTransport``; one test runs the real HTTP server on loopback.
"""

from __future__ import annotations

import io
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import jwt
import pytest

from sandbox import ORGS_BY_SLUG, Dataset, SandboxApp, SandboxTransport
from sandbox.server import make_server
from tests.conftest import org_id

BASE = "http://sandbox/v1-beta"
ORDER_FIELDS = (
    "host_name",
    "host_email",
    "owner_email",
    "created_at",
    "updated_at",
    "archived_at",
    "active_action_updated_at",
)
SEARCH_FIELDS = ("host_name", "host_email", "owner_email")
Z_SHAPE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
NAIVE_SHAPE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$")


# --- helpers ---------------------------------------------------------------------------


@pytest.fixture
def http(sandbox: SandboxApp) -> Iterator[httpx.Client]:
    with httpx.Client(transport=SandboxTransport(sandbox), base_url=BASE) as client:
        yield client


def get_token(http: httpx.Client, slug: str = "demo-lender") -> str:
    org = ORGS_BY_SLUG[slug]
    response = http.post(
        "/oauth2/token", json={"client_id": org.client_id, "client_secret": org.client_secret}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def headers_for(
    http: httpx.Client, slug: str = "demo-lender", target: str | None = None
) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {get_token(http, slug)}",
        "Requester-Organization-ID": org_id(slug),
        "Target-Organization-ID": org_id(target or slug),
    }


@pytest.fixture
def demo(http: httpx.Client) -> dict[str, str]:
    return headers_for(http)


def params_of(**overrides: Any) -> list[tuple[str, str]]:
    """Valid list parameters (every required one), with overrides; a list value becomes
    repeated keys and None drops the parameter."""
    values: dict[str, Any] = {
        "statuses": ["connected", "disconnected"],
        "limit": "100",
        "offset": "0",
    }
    values.update(overrides)
    params: list[tuple[str, str]] = []
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, list):
            params.extend((name, v) for v in value)
        else:
            params.append((name, value))
    return params


def list_rows(http: httpx.Client, headers: dict[str, str], **overrides: Any) -> httpx.Response:
    return http.get("/host-connections", params=params_of(**overrides), headers=headers)


def fetch_all(
    http: httpx.Client, headers: dict[str, str], **overrides: Any
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    offset = 0
    while True:
        response = list_rows(http, headers, limit="100", offset=str(offset), **overrides)
        assert response.status_code == 200, response.text
        body = response.json()
        rows.extend(body["items"])
        offset += 100
        if offset >= body["total_items"]:
            assert len(rows) == body["total_items"]
            return rows


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> list[dict]:
    """Every error is a JSON object with a ``detail`` list of loc/msg/type/code entries;
    only 422 carries several entries."""
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body["detail"], list) and body["detail"]
    for entry in body["detail"]:
        assert set(entry) >= {"loc", "msg", "type", "code"}
        assert isinstance(entry["loc"], list)
        assert entry["msg"] and entry["code"]
    if status != 422:
        assert len(body["detail"]) == 1
    if code is not None:
        assert body["detail"][0]["code"] == code
    return list(body["detail"])


def assert_one_422(response: httpx.Response, name: str) -> None:
    detail = assert_error(response, 422)
    assert [entry["loc"] for entry in detail] == [["query", name]]


def utc(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


# --- token -----------------------------------------------------------------------------


def test_token_good_credentials_issue_a_jwt(http: httpx.Client, sandbox: SandboxApp) -> None:
    org = ORGS_BY_SLUG["demo-lender"]
    response = http.post(
        "/oauth2/token", json={"client_id": org.client_id, "client_secret": org.client_secret}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["expires_in"] == 3600
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["org"] == org.id
    assert claims["exp"] - claims["iat"] == 3600
    assert sandbox.tokens_issued == 1


def test_token_expires_in_follows_token_ttl() -> None:
    app = SandboxApp(Dataset(rows_per_org=5), token_ttl=1)
    org = ORGS_BY_SLUG["demo-lender"]
    with httpx.Client(transport=SandboxTransport(app), base_url=BASE) as client:
        response = client.post(
            "/oauth2/token", json={"client_id": org.client_id, "client_secret": org.client_secret}
        )
    assert response.json()["expires_in"] == 1


@pytest.mark.parametrize(
    ("client_id", "client_secret"),
    [
        ("sandbox-demo-lender", "wrong-secret"),
        ("sandbox-nobody", "sandbox-secret-demo-lender"),
        ("sandbox-demo-lender", "sandbox-secret-harbor-finance"),
    ],
)
def test_token_bad_credentials_are_401(
    http: httpx.Client, sandbox: SandboxApp, client_id: str, client_secret: str
) -> None:
    response = http.post(
        "/oauth2/token", json={"client_id": client_id, "client_secret": client_secret}
    )
    detail = assert_error(response, 401, "oauth_invalid_client_credentials")
    assert detail[0]["loc"] == []
    assert "access_token" not in response.text
    assert sandbox.tokens_issued == 0


@pytest.mark.parametrize(
    ("body", "bad"),
    [
        ({"client_secret": "x"}, ["client_id"]),
        ({"client_id": "x"}, ["client_secret"]),
        ({"client_id": "", "client_secret": "x"}, ["client_id"]),
        ({"client_id": "x", "client_secret": ""}, ["client_secret"]),
        ({"client_id": "a" * 129, "client_secret": "x"}, ["client_id"]),
        ({"client_id": "x", "client_secret": "s" * 65}, ["client_secret"]),
        ({"client_id": 5, "client_secret": "x"}, ["client_id"]),
        ({}, ["client_id", "client_secret"]),
        ({"client_id": "a" * 129, "client_secret": "s" * 65}, ["client_id", "client_secret"]),
    ],
)
def test_token_validation_is_422_per_field(
    http: httpx.Client, body: dict[str, Any], bad: list[str]
) -> None:
    response = http.post("/oauth2/token", json=body)
    detail = assert_error(response, 422)
    assert [entry["loc"] for entry in detail] == [["body", name] for name in bad]


def test_token_limits_are_inclusive(http: httpx.Client) -> None:
    # 128 / 64 characters are allowed: the credentials are wrong, not invalid.
    response = http.post("/oauth2/token", json={"client_id": "a" * 128, "client_secret": "s" * 64})
    assert_error(response, 401, "oauth_invalid_client_credentials")


def test_token_non_json_body_is_422(http: httpx.Client) -> None:
    response = http.post(
        "/oauth2/token", content=b"client_id=x", headers={"Content-Type": "text/plain"}
    )
    assert_error(response, 422)


def test_token_get_is_not_allowed(http: httpx.Client) -> None:
    assert http.get("/oauth2/token").status_code == 405


# --- authentication on data calls ------------------------------------------------------


def test_auth_missing_token_is_401(http: httpx.Client, demo: dict[str, str]) -> None:
    headers = {k: v for k, v in demo.items() if k != "Authorization"}
    assert_error(list_rows(http, headers), 401)
    assert_error(http.get(f"/host-connections/{uuid.uuid4()}", headers=headers), 401)


@pytest.mark.parametrize(
    "authorization",
    ["Bearer not-a-jwt", "Bearer ", "Basic dXNlcjpwYXNz", "bearer-ish", "Token abc"],
)
def test_auth_malformed_token_is_401(
    http: httpx.Client, demo: dict[str, str], authorization: str
) -> None:
    assert_error(list_rows(http, {**demo, "Authorization": authorization}), 401)


def test_auth_token_signed_with_another_key_is_401(
    http: httpx.Client, demo: dict[str, str]
) -> None:
    claims = jwt.decode(demo["Authorization"][7:], options={"verify_signature": False})
    forged = jwt.encode(claims, "some-other-key-of-enough-length-0123456789", algorithm="HS256")
    assert_error(list_rows(http, {**demo, "Authorization": f"Bearer {forged}"}), 401)


def test_auth_expired_token_is_401(http: httpx.Client, demo: dict[str, str]) -> None:
    from sandbox.app import _SIGNING_KEY

    claims = jwt.decode(demo["Authorization"][7:], options={"verify_signature": False})
    now = int(time.time())
    expired = jwt.encode({**claims, "iat": now - 7200, "exp": now - 3600}, _SIGNING_KEY)
    assert list_rows(http, demo).status_code == 200
    assert_error(list_rows(http, {**demo, "Authorization": f"Bearer {expired}"}), 401)


def test_auth_expire_tokens_fault_invalidates_issued_tokens(
    http: httpx.Client, sandbox: SandboxApp, demo: dict[str, str]
) -> None:
    assert list_rows(http, demo).status_code == 200
    sandbox.faults.add("expire_tokens")
    assert_error(list_rows(http, demo), 401)
    assert_error(list_rows(http, demo), 401)  # still expired after the fault is spent
    fresh = headers_for(http)
    assert list_rows(http, fresh).status_code == 200


def test_auth_requester_header_must_match_token_org(
    http: httpx.Client, demo: dict[str, str]
) -> None:
    headers = {
        **demo,
        "Requester-Organization-ID": org_id("harbor-finance"),
        "Target-Organization-ID": org_id("harbor-finance"),
    }
    assert_error(list_rows(http, headers), 403)


@pytest.mark.parametrize(
    ("requester", "target"),
    [
        ("demo-lender", "quiet-bank"),
        ("demo-lender", "bench"),
        ("harbor-finance", "demo-lender"),
        ("northwind-credit", "demo-lender"),
    ],
)
def test_auth_target_not_allowed_is_403(http: httpx.Client, requester: str, target: str) -> None:
    headers = headers_for(http, requester, target)
    assert_error(list_rows(http, headers), 403)
    assert_error(http.get(f"/host-connections/{uuid.uuid4()}", headers=headers), 403)


def test_auth_unknown_target_org_is_403(http: httpx.Client, demo: dict[str, str]) -> None:
    headers = {**demo, "Target-Organization-ID": str(uuid.uuid4())}
    assert_error(list_rows(http, headers), 403)


@pytest.mark.parametrize(
    ("requester", "target"),
    [
        ("demo-lender", "northwind-credit"),
        ("demo-lender", "harbor-finance"),
        ("harbor-finance", "northwind-credit"),
    ],
)
def test_auth_allowed_target_reads_the_target_rows(
    http: httpx.Client, requester: str, target: str
) -> None:
    response = list_rows(http, headers_for(http, requester, target))
    assert response.status_code == 200
    items = response.json()["items"]
    assert items
    assert {row["guest_organization_id"] for row in items} == {org_id(target)}


def test_auth_malformed_org_headers_are_422(http: httpx.Client, demo: dict[str, str]) -> None:
    headers = {**demo, "Requester-Organization-ID": "nope", "Target-Organization-ID": ""}
    detail = assert_error(list_rows(http, headers), 422)
    assert len(detail) == 2


# --- detail ----------------------------------------------------------------------------


def test_detail_returns_one_row(http: httpx.Client, demo: dict[str, str]) -> None:
    row = list_rows(http, demo, limit="1").json()["items"][0]
    response = http.get(f"/host-connections/{row['host_organization_id']}", headers=demo)
    assert response.status_code == 200
    assert response.json() == row


def test_detail_accepts_uppercase_uuid(http: httpx.Client, demo: dict[str, str]) -> None:
    row = list_rows(http, demo, limit="1").json()["items"][0]
    host_id = row["host_organization_id"].upper()
    response = http.get(f"/host-connections/{host_id}", headers=demo)
    assert response.json()["host_organization_id"] == row["host_organization_id"]


def test_detail_unknown_id_is_404(http: httpx.Client, demo: dict[str, str]) -> None:
    response = http.get(f"/host-connections/{uuid.uuid4()}", headers=demo)
    assert_error(response, 404)


def test_detail_row_of_another_target_is_404(http: httpx.Client, demo: dict[str, str]) -> None:
    harbor = headers_for(http, "harbor-finance")
    row = list_rows(http, harbor, limit="1").json()["items"][0]
    response = http.get(f"/host-connections/{row['host_organization_id']}", headers=demo)
    assert_error(response, 404)


@pytest.mark.parametrize("raw_id", ["not-a-uuid", "123", "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"])
def test_detail_malformed_id_is_422(http: httpx.Client, demo: dict[str, str], raw_id: str) -> None:
    detail = assert_error(http.get(f"/host-connections/{raw_id}", headers=demo), 422)
    assert detail[0]["loc"] == ["path", "host_org_id"]


# --- list: validation, one test per rule ------------------------------------------------


def test_list_valid_minimal_query_is_200(http: httpx.Client, demo: dict[str, str]) -> None:
    response = list_rows(http, demo, statuses="connected", limit="20", offset="0")
    assert response.status_code == 200
    assert set(response.json()) == {"items", "total_items"}


def test_list_statuses_missing_is_422(http: httpx.Client, demo: dict[str, str]) -> None:
    assert_one_422(list_rows(http, demo, statuses=None), "statuses")


@pytest.mark.parametrize("value", [["bogus"], ["connected", "bogus"], [""], ["CONNECTED"]])
def test_list_statuses_bogus_is_422(
    http: httpx.Client, demo: dict[str, str], value: list[str]
) -> None:
    assert_one_422(list_rows(http, demo, statuses=value), "statuses")


def test_list_search_field_bogus_is_422(http: httpx.Client, demo: dict[str, str]) -> None:
    assert_one_422(list_rows(http, demo, search_field="status"), "search_field")


def test_list_search_text_empty_is_422(http: httpx.Client, demo: dict[str, str]) -> None:
    assert_one_422(list_rows(http, demo, search_text=""), "search_text")


def test_list_search_text_256_chars_is_422(http: httpx.Client, demo: dict[str, str]) -> None:
    assert_one_422(list_rows(http, demo, search_text="a" * 256), "search_text")


def test_list_search_text_255_chars_is_allowed(http: httpx.Client, demo: dict[str, str]) -> None:
    response = list_rows(http, demo, search_text="a" * 255)
    assert response.status_code == 200
    assert response.json() == {"items": [], "total_items": 0}


def test_list_order_by_bogus_is_422(http: httpx.Client, demo: dict[str, str]) -> None:
    assert_one_422(list_rows(http, demo, order_by="status"), "order_by")


def test_list_order_dir_bogus_is_422(http: httpx.Client, demo: dict[str, str]) -> None:
    assert_one_422(list_rows(http, demo, order_dir="up"), "order_dir")


@pytest.mark.parametrize("value", ["maybe", "", "2"])
def test_list_archived_bogus_is_422(http: httpx.Client, demo: dict[str, str], value: str) -> None:
    assert_one_422(list_rows(http, demo, archived=value), "archived")


@pytest.mark.parametrize("value", [["bogus"], ["analytics_request", "bogus"], [""]])
def test_list_active_action_types_bogus_is_422(
    http: httpx.Client, demo: dict[str, str], value: list[str]
) -> None:
    assert_one_422(list_rows(http, demo, active_action_types=value), "active_action_types")


def test_list_limit_missing_is_422(http: httpx.Client, demo: dict[str, str]) -> None:
    assert_one_422(list_rows(http, demo, limit=None), "limit")


@pytest.mark.parametrize("value", ["abc", "", "1.5", "20x"])
def test_list_limit_not_an_integer_is_422(
    http: httpx.Client, demo: dict[str, str], value: str
) -> None:
    assert_one_422(list_rows(http, demo, limit=value), "limit")


def test_list_limit_101_is_422(http: httpx.Client, demo: dict[str, str]) -> None:
    assert_one_422(list_rows(http, demo, limit="101"), "limit")


def test_list_limit_100_is_allowed(http: httpx.Client, demo: dict[str, str]) -> None:
    response = list_rows(http, demo, limit="100")
    assert response.status_code == 200
    assert len(response.json()["items"]) == 100


def test_list_limit_0_gives_only_the_total(http: httpx.Client, demo: dict[str, str]) -> None:
    body = list_rows(http, demo, limit="0").json()
    assert body["items"] == []
    assert body["total_items"] == 302  # 300 generated rows + 2 connected named orgs


def test_list_offset_missing_is_422(http: httpx.Client, demo: dict[str, str]) -> None:
    assert_one_422(list_rows(http, demo, offset=None), "offset")


def test_list_offset_negative_is_422(http: httpx.Client, demo: dict[str, str]) -> None:
    assert_one_422(list_rows(http, demo, offset="-1"), "offset")


def test_list_offset_not_an_integer_is_422(http: httpx.Client, demo: dict[str, str]) -> None:
    assert_one_422(list_rows(http, demo, offset="first"), "offset")


def test_list_several_bad_params_give_one_entry_each(
    http: httpx.Client, demo: dict[str, str]
) -> None:
    response = list_rows(
        http,
        demo,
        statuses=None,
        search_field="nope",
        search_text="",
        order_by="nope",
        order_dir="sideways",
        archived="perhaps",
        active_action_types=["nope"],
        limit="1000",
        offset="-5",
    )
    detail = assert_error(response, 422)
    locs = sorted(tuple(entry["loc"]) for entry in detail)
    assert locs == sorted(
        ("query", name)
        for name in (
            "statuses",
            "search_field",
            "search_text",
            "order_by",
            "order_dir",
            "archived",
            "active_action_types",
            "limit",
            "offset",
        )
    )


def test_list_two_bad_params_give_two_entries(http: httpx.Client, demo: dict[str, str]) -> None:
    detail = assert_error(list_rows(http, demo, limit=None, offset=None), 422)
    assert [entry["loc"] for entry in detail] == [["query", "limit"], ["query", "offset"]]


def test_list_post_is_not_allowed(http: httpx.Client, demo: dict[str, str]) -> None:
    assert http.post("/host-connections", headers=demo).status_code == 405


# --- list: filtering -------------------------------------------------------------------


@pytest.fixture
def all_rows(http: httpx.Client, demo: dict[str, str]) -> list[dict[str, Any]]:
    return fetch_all(http, demo)


@pytest.mark.parametrize("status", ["connected", "disconnected"])
def test_filter_statuses_single(
    http: httpx.Client, demo: dict[str, str], all_rows: list[dict[str, Any]], status: str
) -> None:
    rows = fetch_all(http, demo, statuses=[status])
    assert rows
    assert {row["status"] for row in rows} == {status}
    assert len(rows) == sum(1 for row in all_rows if row["status"] == status)


def test_filter_statuses_both_is_every_row(all_rows: list[dict[str, Any]]) -> None:
    assert {row["status"] for row in all_rows} == {"connected", "disconnected"}
    assert len(all_rows) == 302


def test_filter_statuses_repeated_value_is_harmless(
    http: httpx.Client, demo: dict[str, str]
) -> None:
    once = list_rows(http, demo, statuses=["connected"]).json()
    twice = list_rows(http, demo, statuses=["connected", "connected"]).json()
    assert once == twice


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("false", False)])
def test_filter_archived(
    http: httpx.Client,
    demo: dict[str, str],
    all_rows: list[dict[str, Any]],
    raw: str,
    expected: bool,
) -> None:
    rows = fetch_all(http, demo, archived=raw)
    assert rows
    assert {row["archived"] for row in rows} == {expected}
    assert len(rows) == sum(1 for row in all_rows if row["archived"] is expected)


def test_filter_archived_absent_means_both(all_rows: list[dict[str, Any]]) -> None:
    assert {row["archived"] for row in all_rows} == {True, False}


def test_filter_active_action_types(
    http: httpx.Client, demo: dict[str, str], all_rows: list[dict[str, Any]]
) -> None:
    rows = fetch_all(http, demo, active_action_types=["analytics_request"])
    assert rows
    assert {row["active_action_type"] for row in rows} == {"analytics_request"}
    assert len(rows) == sum(1 for row in all_rows if row["active_action_type"])
    assert len(rows) < len(all_rows)


def test_filter_combined(
    http: httpx.Client, demo: dict[str, str], all_rows: list[dict[str, Any]]
) -> None:
    rows = fetch_all(
        http,
        demo,
        statuses=["connected"],
        archived="false",
        active_action_types=["analytics_request"],
    )
    expected = [
        row
        for row in all_rows
        if row["status"] == "connected" and not row["archived"] and row["active_action_type"]
    ]
    assert rows
    assert {row["host_organization_id"] for row in rows} == {
        row["host_organization_id"] for row in expected
    }


# --- list: search ----------------------------------------------------------------------


@pytest.mark.parametrize("field", SEARCH_FIELDS)
def test_search_is_case_insensitive_substring(
    http: httpx.Client, demo: dict[str, str], all_rows: list[dict[str, Any]], field: str
) -> None:
    # A piece from the middle of one row's value, with its case flipped.
    source = next(row[field] for row in all_rows[40:] if len(row[field]) > 10)
    needle = source[3:9].swapcase()
    assert needle != source[3:9]
    rows = fetch_all(http, demo, search_field=field, search_text=needle)
    expected = {
        row["host_organization_id"]
        for row in all_rows
        if needle.casefold() in row[field].casefold()
    }
    assert rows
    assert {row["host_organization_id"] for row in rows} == expected


def test_search_only_looks_in_the_chosen_field(
    http: httpx.Client, demo: dict[str, str], all_rows: list[dict[str, Any]]
) -> None:
    # Owner emails start with a person's name; host names and host emails never hold "anna.".
    assert not any("anna." in row["host_name"].casefold() for row in all_rows)
    by_owner = list_rows(http, demo, search_field="owner_email", search_text="ANNA.").json()
    by_name = list_rows(http, demo, search_field="host_name", search_text="ANNA.").json()
    assert by_owner["total_items"] > 0
    assert by_name["total_items"] == 0


def test_search_default_field_is_host_name(
    http: httpx.Client, demo: dict[str, str], all_rows: list[dict[str, Any]]
) -> None:
    body = list_rows(http, demo, search_text="contact@").json()
    assert body["total_items"] == 0  # every host_email has it; no host_name does
    assert all("contact@" in row["host_email"] for row in all_rows[:5])


def test_search_matches_non_ascii(http: httpx.Client, demo: dict[str, str]) -> None:
    rows = fetch_all(http, demo, search_text="ZÜRICH")
    assert rows
    assert all("zürich" in row["host_name"].casefold() for row in rows)


# --- list: sorting ---------------------------------------------------------------------


def sort_value(row: dict[str, Any], field: str) -> Any:
    value = row[field]
    if value is None:
        return None
    return utc(value) if field.endswith("_at") else value.casefold()


@pytest.mark.parametrize("order_dir", ["asc", "desc"])
@pytest.mark.parametrize("order_by", ORDER_FIELDS)
def test_sort_every_field_both_directions(
    http: httpx.Client,
    demo: dict[str, str],
    all_rows: list[dict[str, Any]],
    order_by: str,
    order_dir: str,
) -> None:
    rows = fetch_all(http, demo, order_by=order_by, order_dir=order_dir)
    assert sorted(r["host_organization_id"] for r in rows) == sorted(
        r["host_organization_id"] for r in all_rows
    )
    values = [sort_value(row, order_by) for row in rows]
    present = [v for v in values if v is not None]
    # Nulls last in both directions.
    assert values[len(present) :] == [None] * (len(values) - len(present))
    assert present == sorted(present, reverse=order_dir == "desc")
    assert len(set(present)) > 1


@pytest.mark.parametrize("order_dir", ["asc", "desc"])
@pytest.mark.parametrize("order_by", ["archived_at", "active_action_updated_at"])
def test_sort_nullable_fields_put_nulls_last(
    http: httpx.Client, demo: dict[str, str], order_by: str, order_dir: str
) -> None:
    rows = fetch_all(http, demo, order_by=order_by, order_dir=order_dir)
    nulls = [i for i, row in enumerate(rows) if row[order_by] is None]
    assert nulls  # the check below means something
    assert nulls == list(range(len(rows) - len(nulls), len(rows)))


def test_sort_default_is_host_name_ascending(http: httpx.Client, demo: dict[str, str]) -> None:
    default = list_rows(http, demo).json()
    explicit = list_rows(http, demo, order_by="host_name", order_dir="asc").json()
    assert default == explicit


def test_sort_timestamps_by_instant(
    http: httpx.Client, demo: dict[str, str], all_rows: list[dict[str, Any]]
) -> None:
    rows = fetch_all(http, demo, order_by="created_at", order_dir="desc")
    expected = sorted((utc(r["created_at"]) for r in all_rows), reverse=True)
    assert [utc(r["created_at"]) for r in rows] == expected


# --- list: paging ----------------------------------------------------------------------


def test_paging_consecutive_pages_do_not_overlap(
    http: httpx.Client, demo: dict[str, str], all_rows: list[dict[str, Any]]
) -> None:
    seen: list[str] = []
    for offset in range(0, 320, 20):
        body = list_rows(http, demo, limit="20", offset=str(offset)).json()
        assert body["total_items"] == len(all_rows)
        ids = [row["host_organization_id"] for row in body["items"]]
        assert len(ids) == min(20, max(0, len(all_rows) - offset))
        assert not set(ids) & set(seen)
        seen.extend(ids)
    assert seen == [row["host_organization_id"] for row in all_rows]


def test_paging_total_counts_filtered_rows_not_the_page(
    http: httpx.Client, demo: dict[str, str]
) -> None:
    body = list_rows(http, demo, statuses=["disconnected"], limit="5").json()
    assert len(body["items"]) == 5
    assert body["total_items"] == len(fetch_all(http, demo, statuses=["disconnected"])) > 5


def test_paging_offset_past_the_end_is_empty(http: httpx.Client, demo: dict[str, str]) -> None:
    body = list_rows(http, demo, offset="100000").json()
    assert body == {"items": [], "total_items": 302}


def test_paging_last_page_is_partial(http: httpx.Client, demo: dict[str, str]) -> None:
    body = list_rows(http, demo, limit="100", offset="300").json()
    assert len(body["items"]) == 2


# --- row shapes ------------------------------------------------------------------------


def test_rows_have_every_contract_field(all_rows: list[dict[str, Any]]) -> None:
    fields = {
        "host_organization_id",
        "guest_organization_id",
        "host_name",
        "host_email",
        "owner_email",
        "status",
        "archived",
        "created_at",
        "updated_at",
        "archived_at",
        "active_action_type",
        "active_action_updated_at",
    }
    assert len(all_rows) == 302  # 300 generated rows and the two named connected orgs
    for row in all_rows:
        assert set(row) == fields
        uuid.UUID(row["host_organization_id"])
        assert row["guest_organization_id"] == org_id("demo-lender")
        assert "@" in row["host_email"] and "@" in row["owner_email"]
        assert row["status"] in ("connected", "disconnected")
        assert isinstance(row["archived"], bool)


def test_rows_use_both_timestamp_shapes(all_rows: list[dict[str, Any]]) -> None:
    stamps = [
        row[name]
        for row in all_rows
        for name in ("created_at", "updated_at", "archived_at", "active_action_updated_at")
        if row[name] is not None
    ]
    assert any(Z_SHAPE.match(s) for s in stamps)
    assert any(NAIVE_SHAPE.match(s) for s in stamps)
    assert all(Z_SHAPE.match(s) or NAIVE_SHAPE.match(s) for s in stamps)


def test_rows_have_nulls_where_nothing_happened(all_rows: list[dict[str, Any]]) -> None:
    never_archived = [row for row in all_rows if not row["archived"]]
    assert never_archived and any(row["archived_at"] is None for row in never_archived)
    assert all(row["archived_at"] for row in all_rows if row["archived"])
    no_action = [row for row in all_rows if row["active_action_type"] is None]
    assert no_action
    assert all(row["active_action_updated_at"] is None for row in no_action)
    assert all(row["active_action_updated_at"] for row in all_rows if row["active_action_type"])


def test_rows_hold_hostile_strings(all_rows: list[dict[str, Any]]) -> None:
    names = [row["host_name"] for row in all_rows]
    assert any("<script>" in name for name in names)
    assert any(name.startswith("=HYPERLINK") for name in names)


def test_rows_named_orgs_appear_as_hosts(http: httpx.Client, demo: dict[str, str]) -> None:
    northwind = org_id("northwind-credit")
    response = http.get(f"/host-connections/{northwind}", headers=demo)
    assert response.json()["host_name"] == "Northwind Credit"


# --- determinism -----------------------------------------------------------------------


def _first_page(seed: int) -> dict[str, Any]:
    app = SandboxApp(Dataset(seed=seed, rows_per_org=50))
    with httpx.Client(transport=SandboxTransport(app), base_url=BASE) as client:
        response = list_rows(client, headers_for(client), order_by="created_at")
        assert response.status_code == 200
        return dict(response.json())


def test_determinism_same_seed_same_rows() -> None:
    assert _first_page(7) == _first_page(7)


def test_determinism_other_seed_other_rows() -> None:
    assert _first_page(7)["items"] != _first_page(8)["items"]


# --- faults ----------------------------------------------------------------------------


def test_fault_latency_rule_delays_then_answers(
    http: httpx.Client, sandbox: SandboxApp, demo: dict[str, str]
) -> None:
    rule = sandbox.faults.add("latency", seconds=0.05)
    started = time.monotonic()
    response = list_rows(http, demo)
    assert time.monotonic() - started >= 0.05  # a lower bound only: sleep never returns early
    assert response.status_code == 200
    assert rule.times == 0


def test_fault_latency_ms_applies_to_every_request() -> None:
    app = SandboxApp(Dataset(rows_per_org=5), latency_ms=30)
    with httpx.Client(transport=SandboxTransport(app), base_url=BASE) as client:
        started = time.monotonic()
        headers_for(client)
        assert time.monotonic() - started >= 0.03
    app.faults.clear()
    assert app.faults.latency_ms == 0


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("status_500", 500, None),
        ("status_502", 502, None),
        ("status_504", 504, None),
        ("status_503", 503, "service_under_maintenance"),
        ("status_429", 429, None),
    ],
)
def test_fault_status(
    http: httpx.Client,
    sandbox: SandboxApp,
    demo: dict[str, str],
    kind: str,
    status: int,
    code: str | None,
) -> None:
    sandbox.faults.add(kind)
    assert_error(list_rows(http, demo), status, code)
    assert list_rows(http, demo).status_code == 200  # times=1 by default


def test_fault_status_429_carries_retry_after(
    http: httpx.Client, sandbox: SandboxApp, demo: dict[str, str]
) -> None:
    sandbox.faults.add("status_429", seconds=7)
    response = list_rows(http, demo)
    assert_error(response, 429)
    assert response.headers["Retry-After"] == "7"


def test_fault_timeout_raises_read_timeout(
    http: httpx.Client, sandbox: SandboxApp, demo: dict[str, str]
) -> None:
    sandbox.faults.add("timeout")
    with pytest.raises(httpx.ReadTimeout):
        list_rows(http, demo)
    assert list_rows(http, demo).status_code == 200


def test_fault_drop_raises_remote_protocol_error(
    http: httpx.Client, sandbox: SandboxApp, demo: dict[str, str]
) -> None:
    sandbox.faults.add("drop")
    with pytest.raises(httpx.RemoteProtocolError):
        list_rows(http, demo)
    assert list_rows(http, demo).status_code == 200


def test_fault_bad_json(http: httpx.Client, sandbox: SandboxApp, demo: dict[str, str]) -> None:
    sandbox.faults.add("bad_json")
    response = list_rows(http, demo)
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()


def test_fault_bad_shape(http: httpx.Client, sandbox: SandboxApp, demo: dict[str, str]) -> None:
    sandbox.faults.add("bad_shape")
    response = list_rows(http, demo)
    assert response.status_code == 200
    body = response.json()
    assert not isinstance(body.get("items"), list) or "total_items" not in body


def test_fault_after_and_times(
    http: httpx.Client, sandbox: SandboxApp, demo: dict[str, str]
) -> None:
    sandbox.faults.add("status_500", after=2, times=2)
    codes = [list_rows(http, demo).status_code for _ in range(5)]
    assert codes == [200, 200, 500, 500, 200]


def test_fault_times_none_fires_forever(
    http: httpx.Client, sandbox: SandboxApp, demo: dict[str, str]
) -> None:
    sandbox.faults.add("status_502", times=None)
    assert [list_rows(http, demo).status_code for _ in range(4)] == [502] * 4
    sandbox.faults.clear()
    assert list_rows(http, demo).status_code == 200


def test_fault_path_limits_the_rule(
    http: httpx.Client, sandbox: SandboxApp, demo: dict[str, str]
) -> None:
    sandbox.faults.add("status_503", path="/oauth2/token", times=None)
    assert list_rows(http, demo).status_code == 200
    org = ORGS_BY_SLUG["demo-lender"]
    response = http.post(
        "/oauth2/token", json={"client_id": org.client_id, "client_secret": org.client_secret}
    )
    assert_error(response, 503, "service_under_maintenance")


def test_fault_requests_are_recorded(
    http: httpx.Client, sandbox: SandboxApp, demo: dict[str, str]
) -> None:
    list_rows(http, demo, statuses=["connected", "disconnected"])
    last = sandbox.seen[-1]
    assert (last.method, last.path) == ("GET", "/v1-beta/host-connections")
    assert "statuses=connected&statuses=disconnected" in last.query
    assert last.headers["requester-organization-id"] == org_id("demo-lender")


# --- the real HTTP server --------------------------------------------------------------


@pytest.fixture
def live_server_url() -> Iterator[tuple[str, SandboxApp]]:
    app = SandboxApp(Dataset(rows_per_org=30))
    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", app
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_server_token_and_list_over_loopback(live_server_url: tuple[str, SandboxApp]) -> None:
    url, app = live_server_url
    with httpx.Client(base_url=f"{url}/v1-beta", timeout=5, trust_env=False) as client:
        headers = headers_for(client)
        response = list_rows(client, headers, limit="10")
        assert response.status_code == 200
        body = response.json()
        assert len(body["items"]) == 10
        assert body["total_items"] == 32
        assert_one_422(list_rows(client, headers, limit="101"), "limit")
        assert client.get(f"{url}/_sandbox/stats").json() == {"tokens_issued": 1}
        assert client.post(f"{url}/_sandbox/stats").status_code == 405
    assert app.tokens_issued == 1


def test_server_control_endpoint_and_dropped_connection(
    live_server_url: tuple[str, SandboxApp],
) -> None:
    url, app = live_server_url
    with httpx.Client(base_url=f"{url}/v1-beta", timeout=5, trust_env=False) as client:
        assert client.get(f"{url}/_sandbox/health").json() == {"ok": True}
        rules = {"rules": [{"kind": "drop", "path": "/host-connections"}]}
        assert client.post(f"{url}/_sandbox/faults", json=rules).status_code == 200
        headers = headers_for(client)
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            list_rows(client, headers)
        assert list_rows(client, headers).status_code == 200
        assert client.delete(f"{url}/_sandbox/faults").status_code == 200
    assert app.faults.rules == []


def _token_body(slug: str = "demo-lender") -> dict[str, str]:
    org = ORGS_BY_SLUG[slug]
    return {"client_id": org.client_id, "client_secret": org.client_secret}


EARLY_ANSWERS: dict[str, tuple[str, str, str, int]] = {
    # name: (fault kind on the path, or ""), method, path, the status of the early answer
    "fault_503": ("status_503", "POST", "/oauth2/token", 503),
    "fault_429": ("status_429", "POST", "/oauth2/token", 429),
    "fault_bad_json": ("bad_json", "POST", "/oauth2/token", 200),
    "405": ("", "POST", "/host-connections", 405),
    "404": ("", "POST", "/nowhere", 404),
    "401": ("", "GET", "/host-connections", 401),
    "422": ("", "GET", "/host-connections/not-a-uuid", 422),  # with a good token
}


@pytest.mark.parametrize("name", sorted(EARLY_ANSWERS))
def test_server_early_answers_read_the_body_first(
    live_server_url: tuple[str, SandboxApp], name: str
) -> None:
    """A kept-alive connection is never left with body bytes the next request would be
    parsed from (it once answered 405 to every request after a 503, forever)."""
    url, app = live_server_url
    kind, method, path, status = EARLY_ANSWERS[name]
    if kind:
        app.faults.add(kind, path=path)
    headers = {}
    if status == 422:
        with httpx.Client(base_url=f"{url}/v1-beta", timeout=5, trust_env=False) as other:
            headers = headers_for(other)
        app.seen.clear()
    one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    with httpx.Client(base_url=f"{url}/v1-beta", timeout=5, limits=one, trust_env=False) as c:
        early = c.request(method, path, json=_token_body(), headers=headers)
        assert early.status_code == status
        after = c.post("/oauth2/token", json=_token_body())
        assert after.status_code == 200, after.text
        assert after.json()["expires_in"] == 3600
        # The same socket carried both: the connection was kept alive, and clean.
        assert early.extensions["network_stream"] is after.extensions["network_stream"]
    assert [s.method for s in app.seen] == [method, "POST"]


def test_server_chunked_body_is_411_and_closes(live_server_url: tuple[str, SandboxApp]) -> None:
    url, app = live_server_url
    with httpx.Client(base_url=f"{url}/v1-beta", timeout=5, trust_env=False) as client:
        chunks = iter([b'{"client_id": "sandbox-demo-lender", ', b'"client_secret": "x"}'])
        response = client.post("/oauth2/token", content=chunks)
        assert_error(response, 411, "length_required")
        assert response.headers["connection"] == "close"
        assert client.post("/oauth2/token", json=_token_body()).status_code == 200
    assert [s.method for s in app.seen] == ["POST"]  # the refused one never reached the app


def _raw_exchange(url: str, request: bytes) -> tuple[bytes, bool]:
    """Send raw bytes; the answer and whether the server then closed the connection."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(65536)
        head, _, body = answer.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: (\d+)", head)[1])  # type: ignore[index]
        while len(body) < length:
            body += sock.recv(65536)
        sock.settimeout(0.5)
        try:
            closed = sock.recv(1) == b""
        except TimeoutError:  # still open, waiting for the next request
            closed = False
    return head + b"\r\n\r\n" + body, closed


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        (b"Content-Length: +5\r\n", b"400"),
        (b"Content-Length: 5_0\r\n", b"400"),
        (b"Content-Length: \xd9\xa5\r\n", b"400"),  # an Arabic-Indic five
        (b"Content-Length: -1\r\n", b"400"),
        (b"Content-Length: 5\r\nContent-Length: 6\r\n", b"400"),
        (b"Content-Length: 2097152\r\n", b"413"),
    ],
)
def test_server_unreadable_body_length_is_refused_and_closes(
    live_server_url: tuple[str, SandboxApp], headers: bytes, status: bytes
) -> None:
    url, app = live_server_url
    request = b"POST /v1-beta/oauth2/token HTTP/1.1\r\nHost: sandbox\r\n" + headers + b"\r\n{}"
    answer, closed = _raw_exchange(url, request)
    assert answer.startswith(b"HTTP/1.1 " + status)
    assert b"Connection: close" in answer
    assert b'"detail": [{"loc": ["header"]' in answer
    assert closed
    assert not app.seen


def test_server_body_with_an_exact_length_keeps_the_connection(
    live_server_url: tuple[str, SandboxApp],
) -> None:
    url, _ = live_server_url
    body = json.dumps(_token_body()).encode()
    request = (
        b"POST /v1-beta/oauth2/token HTTP/1.1\r\nHost: sandbox\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    answer, closed = _raw_exchange(url, request)
    assert answer.startswith(b"HTTP/1.1 200")
    assert b"access_token" in answer
    assert not closed


def test_sandbox_fault_control_endpoint(sandbox: SandboxApp) -> None:
    with httpx.Client(transport=SandboxTransport(sandbox), base_url="http://sandbox") as client:
        ok = client.post("/_sandbox/faults", json={"rules": [{"kind": "status_503", "times": 2}]})
        assert ok.json() == {"ok": True}
        assert [r.kind for r in sandbox.faults.rules] == ["status_503"]
        bad = client.post("/_sandbox/faults", json={"rules": [{"bogus": 1}]})
        assert bad.status_code == 422
        assert client.post("/_sandbox/faults", content=b"not json").status_code == 422
        assert len(sandbox.faults.rules) == 1  # nothing half-applied
        client.post("/_sandbox/faults", json={"latency_ms": 5})
        assert sandbox.faults.latency_ms == 5
        client.delete("/_sandbox/faults")
        assert sandbox.faults.rules == [] and sandbox.faults.latency_ms == 0


# --- strict as a real server: bodies, methods, challenges, values ----------------------

DEEP = {"array": b"[" * 100_000, "object": b'{"a":' * 100_000}


@pytest.mark.parametrize("shape", sorted(DEEP))
def test_token_deeply_nested_body_is_422(http: httpx.Client, shape: str) -> None:
    response = http.post("/oauth2/token", content=DEEP[shape])
    detail = assert_error(response, 422, "json_invalid")
    assert detail[0]["loc"] == ["body"]
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize("raw", [b"null", b"[1]", b'"x"', b"", b"\xff"])
def test_token_body_not_an_object_is_422(http: httpx.Client, raw: bytes) -> None:
    detail = assert_error(http.post("/oauth2/token", content=raw), 422)
    assert detail[0]["loc"] == ["body"]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/oauth2/token", "POST"),
        ("PUT", "/oauth2/token", "POST"),
        ("POST", "/host-connections", "GET"),
        ("DELETE", "/host-connections", "GET"),
        ("PATCH", f"/host-connections/{uuid.uuid4()}", "GET"),
    ],
)
def test_method_not_allowed_names_the_allowed_ones(
    http: httpx.Client, method: str, path: str, allow: str
) -> None:
    response = http.request(method, path)
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == allow


def test_auth_missing_token_challenges_with_bearer(
    http: httpx.Client, demo: dict[str, str]
) -> None:
    headers = {k: v for k, v in demo.items() if k != "Authorization"}
    response = list_rows(http, headers)
    assert_error(response, 401, "not_authenticated")
    assert response.headers["www-authenticate"] == "Bearer"  # no error code: none was sent


@pytest.mark.parametrize("authorization", ["Bearer not-a-jwt", "Basic dXNlcjpwYXNz", "Bearer "])
def test_auth_refused_token_challenges_with_bearer(
    http: httpx.Client, demo: dict[str, str], authorization: str
) -> None:
    response = list_rows(http, {**demo, "Authorization": authorization})
    assert_error(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_auth_expired_token_challenge_says_invalid_token(
    http: httpx.Client, sandbox: SandboxApp, demo: dict[str, str]
) -> None:
    sandbox.faults.add("expire_tokens")
    response = list_rows(http, demo)
    assert_error(response, 401, "token_expired")
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


def test_token_bad_credentials_challenge(http: httpx.Client) -> None:
    response = http.post("/oauth2/token", json={"client_id": "nobody", "client_secret": "x"})
    assert_error(response, 401, "oauth_invalid_client_credentials")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr"])
def test_auth_bearer_scheme_is_case_insensitive(
    http: httpx.Client, demo: dict[str, str], scheme: str
) -> None:
    token = demo["Authorization"].removeprefix("Bearer ")
    response = list_rows(http, {**demo, "Authorization": f"{scheme} {token}"})
    assert response.status_code == 200, response.text
    assert response.json()["total_items"] == 302


def test_auth_bearer_token_after_several_spaces(http: httpx.Client, demo: dict[str, str]) -> None:
    token = demo["Authorization"].removeprefix("Bearer ")
    assert list_rows(http, {**demo, "Authorization": f"Bearer   {token}"}).status_code == 200


# Digits of other scripts (Arabic-Indic, full-width), and what int() takes but pydantic not.
NOT_INTEGERS = ["\u0665", "\uff15", "\u0661\u0660", "0x10", "1e2", "five", "5 0"]


@pytest.mark.parametrize("name", ["limit", "offset"])
@pytest.mark.parametrize("value", NOT_INTEGERS)
def test_list_integers_are_ascii_digits(
    http: httpx.Client, demo: dict[str, str], name: str, value: str
) -> None:
    response = list_rows(http, demo, **{name: value})
    assert_one_422(response, name)
    assert response.json()["detail"][0]["type"] == "int_parsing"


@pytest.mark.parametrize(("value", "rows"), [("+5", 5), (" 7 ", 7), ("08", 8)])
def test_list_integers_as_pydantic_reads_them(
    http: httpx.Client, demo: dict[str, str], value: str, rows: int
) -> None:
    response = list_rows(http, demo, limit=value)
    assert response.status_code == 200, response.text
    assert len(response.json()["items"]) == rows


HOST = org_id("demo-lender")  # a host of Northwind Credit
NOT_UUIDS = [
    "{{" + HOST + "}}",
    "{" + HOST,
    HOST + "}",
    "uuid:" + HOST,
    "{urn:uuid:" + HOST + "}",
    HOST[:8] + HOST[9:],  # one hyphen missing
    " " + HOST,
    HOST.replace("d", "\uff44"),  # full-width d
]


@pytest.mark.parametrize("raw_id", NOT_UUIDS)
def test_detail_id_is_a_uuid_as_pydantic_reads_one(http: httpx.Client, raw_id: str) -> None:
    headers = headers_for(http, "demo-lender", "northwind-credit")
    response = http.get(f"/host-connections/{quote(raw_id)}", headers=headers)
    detail = assert_error(response, 422, "uuid_parsing")
    assert detail[0]["loc"] == ["path", "host_org_id"]


@pytest.mark.parametrize(
    "raw_id", ["{" + HOST + "}", "urn:uuid:" + HOST, HOST.replace("-", ""), HOST.upper()]
)
def test_detail_id_in_every_form_pydantic_takes(http: httpx.Client, raw_id: str) -> None:
    headers = headers_for(http, "demo-lender", "northwind-credit")
    response = http.get(f"/host-connections/{quote(raw_id)}", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["host_organization_id"] == HOST


@pytest.mark.parametrize("header", ["Requester-Organization-ID", "Target-Organization-ID"])
def test_auth_org_headers_are_uuids_as_pydantic_reads_them(
    http: httpx.Client, demo: dict[str, str], header: str
) -> None:
    headers = {**demo, header: "{{" + demo[header] + "}}"}
    detail = assert_error(list_rows(http, headers), 422)
    assert [entry["loc"] for entry in detail] == [["header", header.lower()]]


@pytest.mark.parametrize(
    "body",
    [
        {"rules": [{"kind": "status_abc"}]},
        {"rules": [{"kind": "bogus"}]},
        {"rules": [{"kind": "drop", "times": "x"}]},
        {"rules": [{"kind": "latency", "seconds": "inf"}]},
        {"rules": [{"kind": "latency", "seconds": -1}]},
        {"rules": "drop"},
        {"latency_ms": "nan"},
    ],
)
def test_fault_control_refuses_what_would_break_later(
    sandbox: SandboxApp, demo: dict[str, str], body: dict[str, Any]
) -> None:
    with httpx.Client(transport=SandboxTransport(sandbox), base_url="http://sandbox") as client:
        assert_error(client.post("/_sandbox/faults", json=body), 422)
        response = client.get("/v1-beta/host-connections", params=params_of(), headers=demo)
        assert response.status_code == 200  # nothing was applied
    assert sandbox.faults.rules == [] and sandbox.faults.latency_ms == 0


def test_fault_control_deep_body_and_other_methods(sandbox: SandboxApp) -> None:
    with httpx.Client(transport=SandboxTransport(sandbox), base_url="http://sandbox") as client:
        assert_error(client.post("/_sandbox/faults", content=DEEP["array"]), 422, "json_invalid")
        response = client.get("/_sandbox/faults")
        assert_error(response, 405)
        assert response.headers["allow"] == "POST, DELETE"
    assert sandbox.faults.rules == []


class _BrokenDataset(Dataset):
    def query(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        raise RuntimeError("a bug in the sandbox")


def test_unexpected_error_is_a_500_in_the_error_shape() -> None:
    app = SandboxApp(_BrokenDataset(rows_per_org=5))
    errors = io.StringIO()
    transport = httpx.WSGITransport(app=app, wsgi_errors=errors)
    with httpx.Client(transport=transport, base_url=BASE) as client:
        response = list_rows(client, headers_for(client))
    assert_error(response, 500, "internal_error")
    assert response.headers["content-type"] == "application/json"
    assert "RuntimeError: a bug in the sandbox" in errors.getvalue()


def test_server_deeply_nested_body_is_422_over_loopback(
    live_server_url: tuple[str, SandboxApp],
) -> None:
    url, _ = live_server_url
    with httpx.Client(base_url=f"{url}/v1-beta", timeout=5, trust_env=False) as client:
        response = client.post("/oauth2/token", content=DEEP["object"])
        assert_error(response, 422, "json_invalid")
        assert client.post("/oauth2/token", json=_token_body()).status_code == 200
