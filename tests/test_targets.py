"""connections/targets.py: the organizations an API client may act on, found by probing
its connected hosts through the (sandbox) upstream, and the one place a target is named."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.cache import cache
from django.db import connection

from connections import api, targets
from connections.context import OrgContext
from connections.models import ApiClient
from connections.targets import Target
from sandbox import SandboxApp
from tests.conftest import org_id

DEMO = org_id("demo-lender")
HARBOR = org_id("harbor-finance")
NORTHWIND = org_id("northwind-credit")


def probes(sandbox: SandboxApp) -> list:
    return [s for s in sandbox.seen if "limit=0" in s.query]


def data_calls(sandbox: SandboxApp) -> list:
    return [s for s in sandbox.seen if "/host-connections" in s.path]


def test_target_list_demo_lender(demo_client: ApiClient, upstream: SandboxApp) -> None:
    found = targets.target_list(client=demo_client)
    assert found == [
        Target(DEMO, "self"),
        Target(HARBOR, "Harbor Finance"),
        Target(NORTHWIND, "Northwind Credit"),
    ]
    connected = [r for r in upstream.dataset.rows_for(DEMO).rows if r["status"] == "connected"]
    # every connected host probed once, in its own context, asking for no rows
    assert sorted(p.headers["target-organization-id"] for p in probes(upstream)) == sorted(
        r["host_organization_id"] for r in connected
    )
    assert {p.headers["requester-organization-id"] for p in probes(upstream)} == {DEMO}


def test_target_list_harbor_may_not_act_on_its_host_demo(harbor_client: ApiClient) -> None:
    assert targets.target_list(client=harbor_client) == [
        Target(HARBOR, "self"),
        Target(NORTHWIND, "Northwind Credit"),
    ]


def test_target_list_is_cached(demo_client: ApiClient, upstream: SandboxApp) -> None:
    first = targets.target_list(client=demo_client)
    upstream.seen.clear()
    assert targets.target_list(client=demo_client) == first
    assert list(upstream.seen) == []


def test_target_list_cache_lifetime_is_a_setting(
    demo_client: ApiClient, upstream: SandboxApp, settings
) -> None:
    settings.TARGETS_CACHE_SECONDS = -1  # Django: expire at once
    targets.target_list(client=demo_client)
    upstream.seen.clear()
    targets.target_list(client=demo_client)
    assert probes(upstream)


def test_target_list_upstream_down_raises_and_caches_nothing(
    demo_client: ApiClient, upstream: SandboxApp
) -> None:
    upstream.faults.add("status_500", path="/host-connections", after=5, times=1)
    with pytest.raises(api.ApiError):
        targets.target_list(client=demo_client)
    assert len(targets.target_list(client=demo_client)) == 3  # asked again, whole this time


def test_target_resolve_uuid_costs_no_call(harbor_client: ApiClient, upstream: SandboxApp) -> None:
    assert targets.target_resolve(client=harbor_client, text=DEMO.upper()) == DEMO
    assert list(upstream.seen) == []


def test_target_name_from_the_cached_list(demo_client: ApiClient, upstream: SandboxApp) -> None:
    targets.target_list(client=demo_client)
    upstream.seen.clear()
    assert targets.target_name(ctx=OrgContext(demo_client, NORTHWIND)) == "Northwind Credit"
    assert list(upstream.seen) == []


def test_target_name_from_the_upstream_once(demo_client: ApiClient, upstream: SandboxApp) -> None:
    ctx = OrgContext(demo_client, HARBOR)
    assert targets.target_name(ctx=ctx) == "Harbor Finance"
    (call,) = data_calls(upstream)
    assert call.path.endswith(f"/host-connections/{HARBOR}")
    assert call.headers["target-organization-id"] == DEMO
    assert targets.target_name(ctx=ctx) == "Harbor Finance"
    assert len(data_calls(upstream)) == 1


def test_target_name_unknown_is_the_uuid(harbor_client: ApiClient) -> None:
    quiet = org_id("quiet-bank")  # no host of Harbor Finance
    assert targets.target_name(ctx=OrgContext(harbor_client, quiet)) == quiet


def test_target_name_upstream_down_is_the_uuid_not_remembered(
    demo_client: ApiClient, upstream: SandboxApp
) -> None:
    upstream.faults.add("status_500", path="/host-connections/", times=1)
    ctx = OrgContext(demo_client, NORTHWIND)
    assert targets.target_name(ctx=ctx) == NORTHWIND
    assert targets.target_name(ctx=ctx) == "Northwind Credit"


def test_target_name_self(demo_client: ApiClient, upstream: SandboxApp) -> None:
    assert targets.target_name(ctx=OrgContext(demo_client, DEMO)) == "self"
    assert targets.context_describe(ctx=OrgContext(demo_client, DEMO)) == "Demo Lender → self"
    assert list(upstream.seen) == []


def test_targets_options_duplicate_names_use_uuids() -> None:
    found = [Target(DEMO, "self"), Target(HARBOR, "Twin"), Target(NORTHWIND, "twin")]
    assert targets.options(found) == [
        ("self", ""),
        (HARBOR, "Twin"),
        (NORTHWIND, "twin"),
    ]


def test_targets_probe_403s_are_not_warnings(
    demo_client: ApiClient, caplog: pytest.LogCaptureFixture
) -> None:
    cache.clear()
    with caplog.at_level("WARNING", logger="connections.api"):
        targets.target_list(client=demo_client)
    assert not [r for r in caplog.records if "403" in r.getMessage()]


def test_target_list_concurrent_requests_probe_once(
    demo_client: ApiClient, upstream: SandboxApp
) -> None:
    """The switcher asks for the list on focus and again on submit: requests that come
    while one is listing wait for its list instead of probing every host again."""
    with ThreadPoolExecutor(3) as pool:
        found = [f.result() for f in [pool.submit(listed, demo_client) for _ in range(3)]]
    assert found[0] == found[1] == found[2]
    assert len(found[0]) == 3
    connected = [r for r in upstream.dataset.rows_for(DEMO).rows if r["status"] == "connected"]
    assert len(probes(upstream)) == len(connected)


def listed(client: ApiClient) -> list[Target]:
    try:
        return targets.target_list(client=client)
    finally:
        connection.close()  # the thread's own database connection
