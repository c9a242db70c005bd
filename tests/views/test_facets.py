"""The facet counts endpoint (connections/views/facets.py): out-of-band spans for htmx,
against the in-process sandbox; upstream faults are injected in the sandbox only."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from connections import links
from connections.context import OrgContext
from connections.models import ApiClient
from connections.query import ListQuery
from sandbox import Dataset, SandboxApp
from sandbox.data import org_uuid
from tests.conftest import body_of, make_client, sandbox_rows

FACETS = "/connections/facets/"
HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "facets"}
DATA_PATH = "/v1-beta/host-connections"
SPAN = re.compile(r'<span id="(count-[^"]+)" class="facet-count" hx-swap-oob="true">([^<]*)</span>')


def get(client: Client, ctx: str, query: str = "", **headers: str) -> Any:
    return client.get(f"{FACETS}?ctx={ctx}&{query}", **{**HTMX, **headers})


def spans(response: Any) -> dict[str, str]:
    return dict(SPAN.findall(body_of(response)))


def data_calls(sandbox: SandboxApp) -> int:
    return sum(1 for s in sandbox.seen if s.path == DATA_PATH)


def shown(n: int) -> str:
    return f"({n:,})"


@pytest.fixture
def sandbox() -> SandboxApp:
    """The shared fixture's data, with enough Harbor Finance rows for counts past 1,000."""
    return SandboxApp(Dataset(seed=7, rows_per_org=300, rows_overrides={"harbor-finance": 2500}))


@pytest.fixture
def ctx(demo_client: ApiClient) -> str:
    return str(demo_client.pk)


def test_facets_view_fills_every_count_span(alice: Client, sandbox: SandboxApp, ctx: str) -> None:
    response = get(alice, ctx, "statuses=connected&search_text=a")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert "no-store" in response["Cache-Control"]
    filters = {"statuses": ("connected",), "search_text": "a"}
    assert spans(response) == {
        "count-connected": shown(len(sandbox_rows(sandbox, **filters))),
        "count-disconnected": shown(
            len(sandbox_rows(sandbox, search_text="a", statuses=("disconnected",)))
        ),
        "count-archived-true": shown(len(sandbox_rows(sandbox, **filters, archived=True))),
        "count-archived-false": shown(len(sandbox_rows(sandbox, **filters, archived=False))),
        "count-action-analytics_request": shown(
            len(sandbox_rows(sandbox, **filters, action_types=("analytics_request",)))
        ),
    }
    assert "<html" not in body_of(response)


def test_facets_view_counts_have_thousands_separators(
    alice: Client, sandbox: SandboxApp, harbor_client: ApiClient
) -> None:
    connected = len(sandbox_rows(sandbox, "harbor-finance", statuses=("connected",)))
    assert connected >= 1000
    response = get(alice, str(harbor_client.pk))
    assert spans(response)["count-connected"] == f"({connected:,})"
    assert re.fullmatch(r"\(\d,\d{3}\)", spans(response)["count-connected"])


def test_facets_view_second_load_is_cached(alice: Client, sandbox: SandboxApp, ctx: str) -> None:
    first = get(alice, ctx, "archived=true")
    calls = data_calls(sandbox)
    again = get(alice, ctx, "archived=true&order_by=created_at&order_dir=desc")
    assert data_calls(sandbox) == calls
    assert spans(again) == spans(first)


def test_facets_view_url_from_links(alice: Client, demo_client: ApiClient) -> None:
    ctx = OrgContext(demo_client, str(demo_client.organization_id))
    url = links.facets_url(ctx, ListQuery(archived=False, offset=40))
    assert url == f"{FACETS}?ctx={demo_client.pk}&archived=false"
    response = alice.get(url, **HTMX)
    assert response.status_code == 200
    assert len(spans(response)) == 5


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "status_500"},
        {"kind": "status_503"},
        {"kind": "status_429", "seconds": 30},
        {"kind": "timeout"},
        {"kind": "bad_json"},
        {"kind": "bad_shape"},
    ],
)
def test_facets_view_upstream_errors_leave_the_counts_empty(
    alice: Client, sandbox: SandboxApp, ctx: str, fault: dict[str, Any]
) -> None:
    get(alice, ctx)  # a token, and counts for another query in the cache
    sandbox.faults.add(path="/host-connections", times=None, **fault)
    response = get(alice, ctx, "search_text=b")
    assert response.status_code == 200
    assert spans(response) == dict.fromkeys(
        [
            "count-connected",
            "count-disconnected",
            "count-archived-true",
            "count-archived-false",
            "count-action-analytics_request",
        ],
        "",
    )
    assert "reference" not in body_of(response)


def test_facets_view_one_failed_count_leaves_only_it_empty(
    alice: Client, sandbox: SandboxApp, ctx: str
) -> None:
    get(alice, ctx, "statuses=connected")  # caches the Connected and Disconnected counts
    sandbox.faults.add("status_500", path="/host-connections", times=None)
    found = spans(get(alice, ctx))  # the other three fail
    assert found == {
        "count-connected": shown(len(sandbox_rows(sandbox, statuses=("connected",)))),
        "count-disconnected": shown(len(sandbox_rows(sandbox, statuses=("disconnected",)))),
        "count-archived-true": "",
        "count-archived-false": "",
        "count-action-analytics_request": "",
    }


def test_facets_view_forbidden_target_is_not_an_error(
    alice: Client, sandbox: SandboxApp, demo_client: ApiClient
) -> None:
    response = get(alice, f"{demo_client.pk}.{org_uuid('quiet-bank')}")
    assert response.status_code == 200
    assert set(spans(response).values()) == {""}
    assert sandbox.seen[-1].headers["target-organization-id"] == org_uuid("quiet-bank")


def test_facets_view_unreadable_secret_is_not_an_error(
    alice: Client, sandbox: SandboxApp, demo_client: ApiClient
) -> None:
    ApiClient.objects.filter(pk=demo_client.pk).update(secret_ciphertext="not-a-fernet-token")
    response = get(alice, str(demo_client.pk))
    assert response.status_code == 200
    assert set(spans(response).values()) == {""}
    assert len(sandbox.seen) == 0


def test_facets_view_refused_ctx_is_403(alice: Client, sandbox: SandboxApp, db: Any) -> None:
    stranger = make_client("northwind-credit")  # alice has no access to this API client
    response = get(alice, str(stranger.pk))
    assert response.status_code == 403
    assert "You do not have access to this API client" in body_of(response)
    assert 'hx-swap-oob="true"' not in body_of(response)
    # The counts never take over the page (the loader swaps nothing): the list's own next
    # request shows the 403 page.
    assert "HX-Retarget" not in response
    assert len(sandbox.seen) == 0


def test_facets_view_bad_input_counts_the_nearest_valid_query(
    alice: Client, sandbox: SandboxApp, ctx: str
) -> None:
    response = get(alice, ctx, "statuses=bogus&archived=maybe&limit=7&offset=-3&zzz=1")
    assert response.status_code == 200
    assert spans(response)["count-archived-true"] == shown(
        len(sandbox_rows(sandbox, archived=True))
    )
    assert "bogus" not in body_of(response)
    assert all("bogus" not in s.query for s in sandbox.seen)


def test_facets_view_switched_off_is_204_without_calls(
    alice: Client, sandbox: SandboxApp, ctx: str, settings: Any
) -> None:
    settings.FACET_COUNTS = False
    response = get(alice, ctx)
    assert response.status_code == 204
    assert response.content == b""
    assert len(sandbox.seen) == 0


def test_facets_view_signed_out_goes_to_sign_in(client: Client, ctx: str) -> None:
    response = client.get(f"{FACETS}?ctx={ctx}")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_facets_view_post_is_405(alice: Client, ctx: str) -> None:
    response = alice.post(f"{FACETS}?ctx={ctx}", {})
    assert response.status_code == 405
    assert response["Allow"] == "GET"
