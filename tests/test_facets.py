"""Tests of connections/facets.py: the filter choices' counts, against the in-process sandbox.

Expected counts come from the sandbox's own rows (``sandbox_rows``); upstream requests are
counted where they arrive (``sandbox.seen``) and failures injected at the transport
(``httpx.MockTransport`` in front of the sandbox). Nothing of ours is patched.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from connections import api, facets
from connections.query import ListQuery
from sandbox import ORGS_BY_SLUG, SandboxApp, SandboxTransport
from tests.conftest import sandbox_rows

DATA_PATH = "/v1-beta/host-connections"
CTX = "1"  # the org context key: client 1 acting on itself


def caller(slug: str = "demo-lender", target: str | None = None) -> api.Caller:
    org = ORGS_BY_SLUG[slug]
    credentials = api.Credentials(
        client_id=org.client_id, client_secret=org.client_secret, requester_org_id=org.id
    )
    return api.Caller(credentials=credentials, target_org_id=ORGS_BY_SLUG[target or slug].id)


def counts_of(query: ListQuery, ctx_key: str = CTX, who: api.Caller | None = None) -> Any:
    return facets.facet_counts_get(caller=who or caller(), ctx_key=ctx_key, query=query)


def data_requests(sandbox: SandboxApp) -> list[dict[str, list[str]]]:
    """The query of every list request that reached the sandbox."""
    return [parse_qs(s.query) for s in sandbox.seen if s.path == DATA_PATH]


def expected(sandbox: SandboxApp, **filters: Any) -> dict[str, int]:
    """Each choice's count read from the sandbox's rows, the other filters as given."""

    def n(**choice: Any) -> int:
        return len(sandbox_rows(sandbox, **{**filters, **choice}))

    return {
        "connected": n(statuses=("connected",)),
        "disconnected": n(statuses=("disconnected",)),
        "archived-true": n(archived=True),
        "archived-false": n(archived=False),
        "action-analytics_request": n(action_types=("analytics_request",)),
    }


def in_front_of(
    sandbox: SandboxApp, before: Callable[[httpx.Request], httpx.Response | None]
) -> None:
    """Route the upstream through ``before``; where it answers None the sandbox answers."""
    behind = SandboxTransport(sandbox)

    def handler(request: httpx.Request) -> httpx.Response:
        answer = before(request) if request.url.path == DATA_PATH else None
        return answer if answer is not None else behind.handle_request(request)

    api.use_transport(httpx.MockTransport(handler))


def failing_when(param: str, value: str) -> Callable[[httpx.Request], httpx.Response | None]:
    def before(request: httpx.Request) -> httpx.Response | None:
        if (param, value) in request.url.params.multi_items():
            return httpx.Response(500, json={"detail": [{"msg": "boom", "code": "internal"}]})
        return None

    return before


# --- counts ----------------------------------------------------------------------------


def test_facets_counts_match_the_sandbox_rows(sandbox: SandboxApp) -> None:
    counts = counts_of(ListQuery())
    assert counts.enabled
    assert counts.counts == expected(sandbox)
    assert counts.counts["connected"] + counts.counts["disconnected"] == 302
    assert all(n > 0 for n in counts.counts.values())


def test_facets_count_each_choice_with_the_other_filters_as_they_are(sandbox: SandboxApp) -> None:
    query = ListQuery(
        statuses=("connected",), search_field="host_email", search_text="a", archived=False
    )
    counts = counts_of(query)
    filters = {
        "statuses": ("connected",),
        "search_field": "host_email",
        "search_text": "a",
        "archived": False,
    }
    assert counts.counts == expected(sandbox, **filters)
    # Disconnected counts the other status under the same search and archived filter.
    assert counts.counts["disconnected"] == len(
        sandbox_rows(sandbox, **{**filters, "statuses": ("disconnected",)})
    )


def test_facets_calls_are_limit_zero_with_every_required_parameter(sandbox: SandboxApp) -> None:
    counts_of(ListQuery(order_by="created_at", order_dir="desc", limit=100, offset=300))
    sent = data_requests(sandbox)
    assert len(sent) == 5
    assert all(q["limit"] == ["0"] and q["offset"] == ["0"] for q in sent)
    assert all(q["statuses"] for q in sent)
    # Sort and page change no count: every call asks for the default order.
    assert {q["order_by"][0] for q in sent} == {"host_name"}
    assert sorted(tuple(q["statuses"]) for q in sent).count(("connected",)) == 1


def test_facets_identical_choices_are_counted_once(sandbox: SandboxApp) -> None:
    # Connected, and Not archived, are both the current filters: one call for the two.
    query = ListQuery(statuses=("connected",), archived=False)
    counts = counts_of(query)
    assert len(data_requests(sandbox)) == 4
    assert counts.counts["connected"] == counts.counts["archived-false"]
    assert counts.counts["connected"] == len(
        sandbox_rows(sandbox, statuses=("connected",), archived=False)
    )


def test_facets_spans_read_with_thousands_separators() -> None:
    counts = facets.FacetCounts(
        {"connected": 1204, "disconnected": 311, "archived-true": None, "archived-false": 0}
    )
    assert counts.spans == [
        ("count-connected", "(1,204)"),
        ("count-disconnected", "(311)"),
        ("count-archived-true", ""),
        ("count-archived-false", "(0)"),
    ]


def test_facets_choices_are_the_documented_ids() -> None:
    assert facets.CHOICES == (
        "connected",
        "disconnected",
        "archived-true",
        "archived-false",
        "action-analytics_request",
    )


# --- cache -----------------------------------------------------------------------------


def test_facets_cache_hit_makes_no_upstream_call(sandbox: SandboxApp) -> None:
    first = counts_of(ListQuery(search_text="a"))
    assert len(data_requests(sandbox)) == 5
    second = counts_of(ListQuery(search_text="a"))
    assert len(data_requests(sandbox)) == 5
    assert second == first


def test_facets_cache_is_shared_by_every_sort_and_page(sandbox: SandboxApp) -> None:
    counts_of(ListQuery(search_text="a"))
    counts_of(ListQuery(search_text="a", order_by="updated_at", order_dir="desc", offset=40))
    assert len(data_requests(sandbox)) == 5


def test_facets_cache_is_per_org_context(sandbox: SandboxApp) -> None:
    demo = counts_of(ListQuery())
    northwind = counts_of(
        ListQuery(), ctx_key="1.northwind", who=caller("demo-lender", "northwind-credit")
    )
    assert len(data_requests(sandbox)) == 10
    assert northwind.counts == expected_for(sandbox, "northwind-credit")
    assert northwind.counts != demo.counts


def expected_for(sandbox: SandboxApp, slug: str) -> dict[str, int]:
    def n(**choice: Any) -> int:
        return len(sandbox_rows(sandbox, slug, **choice))

    return {
        "connected": n(statuses=("connected",)),
        "disconnected": n(statuses=("disconnected",)),
        "archived-true": n(archived=True),
        "archived-false": n(archived=False),
        "action-analytics_request": n(action_types=("analytics_request",)),
    }


def test_facets_cache_is_per_query(sandbox: SandboxApp) -> None:
    counts_of(ListQuery(search_text="a"))
    counts_of(ListQuery(search_text="b"))
    assert len(data_requests(sandbox)) == 10


def test_facets_cache_lasts_the_setting(sandbox: SandboxApp, settings: Any) -> None:
    settings.FACET_CACHE_SECONDS = 0  # kept no time at all
    counts_of(ListQuery())
    counts_of(ListQuery())
    assert len(data_requests(sandbox)) == 10


# --- failures --------------------------------------------------------------------------


def test_facets_failed_count_is_none_and_the_others_are_there(sandbox: SandboxApp) -> None:
    in_front_of(sandbox, failing_when("archived", "true"))
    counts = counts_of(ListQuery())
    want = expected(sandbox)
    assert counts.counts["archived-true"] is None
    assert counts.counts == {**want, "archived-true": None}
    assert dict(counts.spans)["count-archived-true"] == ""
    assert dict(counts.spans)["count-connected"] == f"({want['connected']:,})"


def test_facets_failed_count_is_not_cached(sandbox: SandboxApp) -> None:
    in_front_of(sandbox, failing_when("archived", "true"))
    counts_of(ListQuery())
    api.use_transport(SandboxTransport(sandbox))
    before = len(data_requests(sandbox))
    again = counts_of(ListQuery())
    sent = data_requests(sandbox)[before:]
    assert [q.get("archived") for q in sent] == [["true"]]  # only the failed one again
    assert again.counts == expected(sandbox)


def test_facets_every_count_failing_is_all_none(sandbox: SandboxApp) -> None:
    sandbox.faults.add("status_503", path="/host-connections", times=None)
    counts = counts_of(ListQuery())
    assert counts.enabled
    assert counts.counts == dict.fromkeys(facets.CHOICES)


def test_facets_forbidden_target_is_all_none(sandbox: SandboxApp) -> None:
    counts = counts_of(ListQuery(), "1.quiet", caller("demo-lender", "quiet-bank"))
    assert counts.counts == dict.fromkeys(facets.CHOICES)
    assert len(data_requests(sandbox)) == 5  # each tried, each refused (403)


def test_facets_failure_logs_carry_no_customer_data(
    sandbox: SandboxApp, caplog: pytest.LogCaptureFixture
) -> None:
    in_front_of(sandbox, failing_when("archived", "true"))
    with caplog.at_level(logging.DEBUG):
        counts_of(ListQuery(search_field="owner_email", search_text="zebra.secret@example.com"))
    assert "facet count left out: ApiUnavailable" in caplog.text
    assert "zebra" not in caplog.text
    assert ORGS_BY_SLUG["demo-lender"].id not in caplog.text


# --- switched off and concurrency ------------------------------------------------------


def test_facets_setting_off_makes_no_calls(sandbox: SandboxApp, settings: Any) -> None:
    settings.FACET_COUNTS = False
    counts = counts_of(ListQuery())
    assert not counts.enabled
    assert counts.counts == dict.fromkeys(facets.CHOICES)
    assert len(sandbox.seen) == 0  # not even a token


def test_facets_calls_run_concurrently(sandbox: SandboxApp) -> None:
    # Every count call waits until all five are in flight: they finish only if they
    # run at the same time (a broken barrier would fail the calls).
    api.access_token(caller().credentials)
    barrier = threading.Barrier(5, timeout=10)

    def before(request: httpx.Request) -> None:
        barrier.wait()

    in_front_of(sandbox, before)
    assert counts_of(ListQuery()).counts == expected(sandbox)


def test_facets_calls_in_flight_bounded_by_the_setting(sandbox: SandboxApp, settings: Any) -> None:
    settings.FACET_CONCURRENCY = 2
    api.access_token(caller().credentials)
    lock = threading.Lock()
    in_flight = [0]
    most = [0]

    def before(request: httpx.Request) -> None:
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        time.sleep(0.05)  # long enough for more calls to overlap, were they allowed
        with lock:
            in_flight[0] -= 1

    in_front_of(sandbox, before)
    assert counts_of(ListQuery()).counts == expected(sandbox)
    assert most[0] == 2
