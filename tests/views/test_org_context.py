"""POST /context/, the header's switcher: a context is stored (and audited) only once the
upstream has accepted the target; every refusal stands next to the field it is about."""

from __future__ import annotations

from html import unescape

import pytest
from django.test import Client
from django.utils.html import escape

from connections.models import ApiClient, AuditEvent
from sandbox import SandboxApp
from tests.conftest import body_of, field_error, make_client, org_id, sandbox_rows

DEMO = org_id("demo-lender")
HARBOR = org_id("harbor-finance")
NORTHWIND = org_id("northwind-credit")
QUIET = org_id("quiet-bank")  # not connected to anyone: every client gets a 403 for it
HX = {"HTTP_HX_REQUEST": "true"}


def session_ctx(client: Client) -> dict | None:
    return client.session.get("org_ctx")


def data_calls(sandbox: SandboxApp) -> list:
    return [s for s in sandbox.seen if "/host-connections" in s.path]


def switches() -> int:
    return AuditEvent.objects.filter(action=AuditEvent.Action.CONTEXT_SWITCH).count()


def switcher(body: str) -> str:
    start = body.index('<form class="ctx-switcher"')
    return body[start : body.index("</form>", start)]


# --- switching -------------------------------------------------------------------------


def test_switch_context_to_client_self(
    alice: Client, harbor_client: ApiClient, upstream: SandboxApp
) -> None:
    response = alice.post("/context/", {"client": harbor_client.pk, "target": "self"})
    assert response.status_code == 302
    assert response["Location"] == f"/connections/?ctx={harbor_client.pk}"
    assert session_ctx(alice)["target"] == HARBOR
    event = AuditEvent.objects.get(action=AuditEvent.Action.CONTEXT_SWITCH)
    assert event.context == "Harbor Finance → self"
    assert event.username == "alice"
    assert list(upstream.seen) == []  # a client may always act on its own organization


def test_switch_context_htmx_is_a_full_page_redirect(
    alice: Client, harbor_client: ApiClient
) -> None:
    response = alice.post("/context/", {"client": harbor_client.pk, "target": ""}, **HX)
    assert response.status_code == 200
    assert response["HX-Redirect"] == f"/connections/?ctx={harbor_client.pk}"
    assert session_ctx(alice)["target"] == HARBOR


def test_switch_context_with_client_ids_in_the_thousands(
    client: Client, user, upstream: SandboxApp
) -> None:
    """USE_THOUSAND_SEPARATOR must not turn id 1234 into "1,234" in the switcher's form."""
    big = make_client("northwind-credit", pk=1234)
    big.users.add(user)
    client.force_login(user)
    page = client.get(f"/connections/?ctx={big.pk}").content.decode()
    assert '<option value="1234" selected>Northwind Credit</option>' in page
    response = client.post("/context/", {"client": "1234", "target": "self"})
    assert response.status_code == 302
    assert response["Location"] == "/connections/?ctx=1234"


def test_switch_context_to_target_proves_access_and_records_its_name(
    alice: Client, demo_client: ApiClient, upstream: SandboxApp
) -> None:
    alice.get("/healthz")
    response = alice.post("/context/", {"client": demo_client.pk, "target": NORTHWIND.upper()})
    assert response.status_code == 302
    assert response["Location"] == f"/connections/?ctx={demo_client.pk}.{NORTHWIND}"
    assert session_ctx(alice)["target"] == NORTHWIND
    event = AuditEvent.objects.get(action=AuditEvent.Action.CONTEXT_SWITCH)
    assert event.context == "Demo Lender → Northwind Credit"
    assert alice.session["org_ctx_recent"][0] == {"target": NORTHWIND, "label": "Northwind Credit"}
    proof, name = data_calls(upstream)
    assert proof.headers["target-organization-id"] == NORTHWIND  # asked in the target's context
    assert "limit=0" in proof.query
    assert name.headers["target-organization-id"] == DEMO  # the name: a host of Demo Lender
    assert name.path.endswith(f"/host-connections/{NORTHWIND}")


def test_switch_context_known_target_name_costs_one_call(
    alice: Client, demo_client: ApiClient, upstream: SandboxApp
) -> None:
    alice.post("/context/", {"client": demo_client.pk, "target": NORTHWIND})
    alice.post("/context/", {"client": demo_client.pk, "target": "self"})
    upstream.seen.clear()
    alice.post("/context/", {"client": demo_client.pk, "target": NORTHWIND})
    assert [c.headers["target-organization-id"] for c in data_calls(upstream)] == [NORTHWIND]
    assert session_ctx(alice)["target"] == NORTHWIND


# --- refusals: nothing stored, the reason next to its field -----------------------------


@pytest.mark.parametrize(
    ("client_slug", "target"),
    [
        ("demo", QUIET),  # not connected at all
        ("harbor", DEMO),  # Demo Lender is a host of Harbor Finance, which may not act on it
    ],
)
def test_switch_context_target_the_upstream_refuses_is_not_stored(
    alice: Client,
    demo_client: ApiClient,
    harbor_client: ApiClient,
    upstream: SandboxApp,
    client_slug: str,
    target: str,
) -> None:
    chosen = demo_client if client_slug == "demo" else harbor_client
    alice.get("/connections/")
    before, recent = session_ctx(alice), alice.session.get("org_ctx_recent")
    audits = switches()
    response = alice.post("/context/", {"client": chosen.pk, "target": target})
    assert response.status_code == 422
    body = body_of(response)
    assert field_error(body, "err-ctx-target") == (
        f"{chosen.name} may not act on this organization (the API refused it); pick another target."
    )
    assert f'value="{target}"' in switcher(body)  # what was typed stays in the field
    assert 'aria-describedby="err-ctx-target"' in switcher(body)
    assert session_ctx(alice) == before
    assert alice.session.get("org_ctx_recent") == recent
    assert switches() == audits


def test_switch_context_refused_htmx_answers_the_switcher_in_place(
    alice: Client, demo_client: ApiClient
) -> None:
    response = alice.post("/context/", {"client": demo_client.pk, "target": QUIET}, **HX)
    assert response.status_code == 422
    assert "HX-Retarget" not in response  # it replaces the switcher, not the page
    body = body_of(response)
    assert body.lstrip().startswith('<form class="ctx-switcher"')
    assert "<html" not in body
    assert "may not act on this organization" in field_error(body, "err-ctx-target")
    assert f'<option value="{demo_client.pk}" selected>Demo Lender</option>' in body


def test_switch_context_refused_without_javascript_is_a_page_with_the_switcher(
    alice: Client, demo_client: ApiClient
) -> None:
    response = alice.post("/context/", {"client": demo_client.pk, "target": QUIET})
    body = body_of(response)
    assert response.status_code == 422
    assert "<h1>The context was not changed</h1>" in body
    assert "may not act on this organization" in field_error(switcher(body), "err-ctx-target")


def test_switch_context_upstream_down_at_the_check_is_not_stored(
    alice: Client, demo_client: ApiClient, upstream: SandboxApp
) -> None:
    alice.get("/connections/")
    before, audits = session_ctx(alice), switches()
    upstream.faults.add("status_503", path="/host-connections", times=None)
    response = alice.post("/context/", {"client": demo_client.pk, "target": NORTHWIND})
    assert response.status_code == 422
    message = field_error(body_of(response), "err-ctx-target")
    assert message.startswith("The context was not changed: the API could not confirm")
    assert "The API is under maintenance; try again later." in message
    assert session_ctx(alice) == before
    assert switches() == audits


@pytest.mark.parametrize("target", ["not-a-uuid", "1234", "' OR 1=1 --", "self; drop"])
def test_switch_context_unknown_name_is_refused(
    alice: Client, harbor_client: ApiClient, upstream: SandboxApp, target: str
) -> None:
    alice.get("/connections/")
    before = session_ctx(alice)
    audits = switches()
    response = alice.post("/context/", {"client": harbor_client.pk, "target": target})
    assert response.status_code == 422
    assert unescape(field_error(body_of(response), "err-ctx-target")) == (
        f"Harbor Finance may act on no organization named “{target}”; "
        "pick a name from the list or paste the organization UUID."
    )
    assert f'value="{escape(target)}"' in switcher(body_of(response))
    assert session_ctx(alice) == before
    assert switches() == audits


def test_switch_context_control_characters_are_refused_before_any_call(
    alice: Client, harbor_client: ApiClient, upstream: SandboxApp
) -> None:
    alice.get("/connections/")
    upstream.seen.clear()
    response = alice.post("/context/", {"client": harbor_client.pk, "target": "North\x00wind"})
    assert response.status_code == 422
    assert field_error(body_of(response), "err-ctx-target") == (
        "Type the organization name or paste its UUID (no control characters)."
    )
    assert list(upstream.seen) == []


@pytest.mark.parametrize("typed", ["Northwind Credit", "  northwind   CREDIT ", "northw"])
def test_switch_context_by_name(
    alice: Client, demo_client: ApiClient, upstream: SandboxApp, typed: str
) -> None:
    response = alice.post("/context/", {"client": demo_client.pk, "target": typed})
    assert response.status_code == 302
    assert response["Location"] == f"/connections/?ctx={demo_client.pk}.{NORTHWIND}"
    event = AuditEvent.objects.get(action=AuditEvent.Action.CONTEXT_SWITCH)
    assert event.context == "Demo Lender → Northwind Credit"


def test_switch_context_ambiguous_name_lists_the_matches(
    alice: Client, demo_client: ApiClient
) -> None:
    response = alice.post("/context/", {"client": demo_client.pk, "target": "in"})
    assert response.status_code == 422
    assert field_error(body_of(response), "err-ctx-target") == (
        "“in” matches several organizations (Harbor Finance, Northwind Credit); "
        "type the full name or paste the organization UUID."
    )
    assert session_ctx(alice) is None or session_ctx(alice)["target"] == DEMO


def test_switch_context_host_it_may_not_act_on_is_no_name(
    alice: Client, demo_client: ApiClient, sandbox: SandboxApp
) -> None:
    """Every host of Demo Lender has a name, but only two of them let it act on them."""
    stranger = next(
        r["host_name"]
        for r in sandbox_rows(sandbox, statuses=("connected",))
        if r["host_organization_id"] not in (HARBOR, NORTHWIND) and "<" not in r["host_name"]
    )
    response = alice.post("/context/", {"client": demo_client.pk, "target": stranger})
    assert response.status_code == 422
    assert "may act on no organization named" in field_error(body_of(response), "err-ctx-target")


def test_switch_context_by_name_with_the_list_out_of_reach(
    alice: Client, demo_client: ApiClient, upstream: SandboxApp
) -> None:
    upstream.faults.add("status_503", path="/host-connections", times=None)
    response = alice.post("/context/", {"client": demo_client.pk, "target": "Northwind"})
    assert response.status_code == 422
    assert "The API is under maintenance" in field_error(body_of(response), "err-ctx-target")


def test_switch_context_keeps_the_filters(alice: Client, harbor_client: ApiClient) -> None:
    query = "order_by=host_email&statuses=connected&search_text=acme&offset=40"
    response = alice.post(
        "/context/", {"client": harbor_client.pk, "target": "self", "query": query}
    )
    assert response.status_code == 302
    assert response["Location"] == (
        f"/connections/?ctx={harbor_client.pk}"
        "&statuses=connected&search_text=acme&order_by=host_email"
    )


def test_switch_context_refused_keeps_the_filters_in_the_form(
    alice: Client, demo_client: ApiClient
) -> None:
    response = alice.post(
        "/context/", {"client": demo_client.pk, "target": QUIET, "query": "order_by=host_email"}
    )
    assert response.status_code == 422
    assert '<input type="hidden" name="query" value="order_by=host_email">' in body_of(response)


def test_switcher_posts_the_page_filters_and_loads_names_lazily(
    alice: Client, demo_client: ApiClient, upstream: SandboxApp
) -> None:
    response = alice.get(f"/connections/?ctx={demo_client.pk}&order_by=host_email")
    assert response.status_code == 200
    form = switcher(body_of(response))
    assert '<input type="hidden" name="query" value="order_by=host_email">' in form
    assert 'hx-get="/context/targets/" hx-include="#ctx-client"' in form
    assert not [s for s in upstream.seen if "limit=0" in s.query]  # no probe for a page


# --- the list of names ------------------------------------------------------------------


def test_target_options_lists_the_targets_by_name(alice: Client, demo_client: ApiClient) -> None:
    response = alice.get(f"/context/targets/?client={demo_client.pk}", **HX)
    assert response.status_code == 200
    body = body_of(response)
    assert body.startswith('<option value="self">This client\'s own organization</option>')
    assert '<option value="Harbor Finance"></option>' in body
    assert '<option value="Northwind Credit"></option>' in body
    assert body.count("<option") == 3


@pytest.mark.parametrize("raw", ["", "abc", "999999", "-1"])
def test_target_options_unknown_client_is_404(alice: Client, raw: str) -> None:
    response = alice.get(f"/context/targets/?client={raw}", **HX)
    assert response.status_code == 404
    assert "Unknown API client." in body_of(response)


def test_target_options_foreign_client_is_404(alice: Client) -> None:
    foreign = make_client("northwind-credit")
    response = alice.get(f"/context/targets/?client={foreign.pk}", **HX)
    assert response.status_code == 404


def test_target_options_upstream_down_offers_self(
    alice: Client, demo_client: ApiClient, upstream: SandboxApp
) -> None:
    upstream.faults.add("status_503", path="/host-connections", times=None)
    response = alice.get(f"/context/targets/?client={demo_client.pk}", **HX)
    assert response.status_code == 200
    body = body_of(response)
    assert '<option value="self">' in body
    assert "The API is under maintenance; try again later." in body


def test_target_options_post_is_405(alice: Client, demo_client: ApiClient) -> None:
    assert alice.post(f"/context/targets/?client={demo_client.pk}").status_code == 405


@pytest.mark.parametrize(
    ("raw_client", "message"),
    [
        ("foreign", "You do not have access to that API client."),
        ("disabled", "You do not have access to that API client."),
        ("abc", "You do not have access to that API client."),
        ("", "Choose an API client."),
        ("-1", "You do not have access to that API client."),
        ("999999", "You do not have access to that API client."),
    ],
)
def test_switch_context_foreign_or_bad_client_is_refused(
    alice: Client,
    harbor_client: ApiClient,
    upstream: SandboxApp,
    raw_client: str,
    message: str,
) -> None:
    if raw_client == "foreign":
        raw_client = str(make_client("northwind-credit").pk)
    elif raw_client == "disabled":
        harbor_client.enabled = False
        harbor_client.save()
        raw_client = str(harbor_client.pk)
    alice.get("/connections/")
    before = session_ctx(alice)
    upstream.seen.clear()
    audits = switches()
    response = alice.post("/context/", {"client": raw_client, "target": "self"})
    assert response.status_code == 422
    assert field_error(switcher(body_of(response)), "err-ctx-client") == message
    assert session_ctx(alice) == before
    assert switches() == audits
    assert list(upstream.seen) == []


def test_switch_context_get_is_405(alice: Client) -> None:
    assert alice.get("/context/").status_code == 405


def test_switch_context_away_from_a_refused_target(
    alice: Client, harbor_client: ApiClient, demo_client: ApiClient
) -> None:
    assert alice.get(f"/connections/?ctx={harbor_client.pk}.{DEMO}").status_code == 403
    response = alice.post("/context/", {"client": demo_client.pk, "target": HARBOR})
    assert response.status_code == 302
    assert alice.get(response["Location"]).status_code == 200


# --- the target's name, also for a bookmarked link ---------------------------------------


def test_bookmarked_link_names_its_target_in_the_audit_and_the_switcher(
    alice: Client, demo_client: ApiClient
) -> None:
    response = alice.get(f"/connections/?ctx={demo_client.pk}.{NORTHWIND}")
    assert response.status_code == 200
    # A GET writes nothing (issue 12): no switch is audited, the switcher names the target.
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.CONTEXT_SWITCH).exists()
    assert 'name="target" type="search"' in switcher(body_of(response))
    assert 'value="Northwind Credit"' in switcher(body_of(response))


def test_bookmarked_link_to_an_unnamed_target_says_its_uuid(
    alice: Client, demo_client: ApiClient, upstream: SandboxApp
) -> None:
    upstream.faults.add("status_500", path=f"/host-connections/{NORTHWIND}", times=None)
    response = alice.get(f"/connections/?ctx={demo_client.pk}.{NORTHWIND}")
    assert f"Demo Lender → {NORTHWIND}</span></h1>" in body_of(response)


def test_bookmarked_link_heading_names_its_target(alice: Client, demo_client: ApiClient) -> None:
    response = alice.get(f"/connections/?ctx={demo_client.pk}.{NORTHWIND}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert "Demo Lender → Northwind Credit</span></h1>" in body_of(response)


def test_export_audit_names_the_target_of_a_bookmarked_link(
    alice: Client, demo_client: ApiClient
) -> None:
    """A link brings a UUID only; the export's audit entry still says the target's name."""
    response = alice.get(f"/connections/export.csv?ctx={demo_client.pk}.{NORTHWIND}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    b"".join(response.streaming_content)
    event = AuditEvent.objects.get(action=AuditEvent.Action.EXPORT)
    assert event.context == "Demo Lender → Northwind Credit"
