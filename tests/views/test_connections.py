# ruff: noqa: RUF001 - the page prints en dashes and angle quotes; tests match them exactly.
"""connections/views/connections.py: the list and detail pages, full page and htmx partial,
against the in-process sandbox.

Every filter, sort, page and error path is requested three ways where it matters: as a
full page, as the htmx "results" partial (HX-Target: results, what the filter form,
sort headers and pager send) and as the htmx "content" partial (any other target, e.g.
the chip and reset links). Upstream faults are injected at the sandbox only.
"""

from __future__ import annotations

import re
import uuid
from html import unescape
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django.utils.html import escape

from connections import api
from connections.models import ApiClient, UserPreferences
from connections.query import COLUMNS
from sandbox import Dataset, SandboxApp, SandboxTransport
from sandbox.data import org_uuid
from tests.conftest import DETAIL_LABELS, body_of, make_view, sandbox_rows

LIST = "/connections/"
DEMO = org_uuid("demo-lender")
TOTAL = 302  # 300 generated rows + the two named orgs that are connected to Demo Lender
ROW_LINK = re.compile(r'<a href="(/connections/[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}/[^"]*)"')

MODES = ("full", "results", "content")
HEADERS: dict[str, dict[str, str]] = {
    "full": {},
    "results": {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "results"},
    "content": {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "content"},
}
every_mode = pytest.mark.parametrize("mode", MODES)
page_modes = pytest.mark.parametrize("mode", ["full", "content"])  # where the form is


# --- helpers ---------------------------------------------------------------------------


@pytest.fixture
def ctx(demo_client: ApiClient) -> str:
    return str(demo_client.pk)


def get(client: Client, ctx: str | None, query: str | list[tuple[str, str]], mode: str) -> Any:
    params = query if isinstance(query, str) else urlencode(query)
    prefix = f"ctx={ctx}&" if ctx is not None else ""
    return client.get(f"{LIST}?{prefix}{params}", **HEADERS[mode])


def vary(response: Any) -> list[str]:
    return [v.strip().lower() for v in response.get("Vary", "").split(",")]


def check_shape(response: Any, mode: str, status: int = 200, *, bad_input: bool = False) -> str:
    """Status, Vary, the partial chosen for the mode, and HX-Push-Url only for htmx.

    A results request with bad input is retargeted to the content region, where the
    messages stand next to their controls."""
    assert response.status_code == status, body_of(response)[:2000]
    assert "hx-request" in vary(response)
    body = body_of(response)
    if mode == "results" and bad_input:
        assert response["HX-Retarget"] == "#content"
        assert response["HX-Reswap"] == "outerHTML"
        mode = "content"
    elif mode == "results":
        assert not response.has_header("HX-Retarget")
    if mode == "full":
        assert "<html" in body
        assert 'id="content"' in body
        assert not response.has_header("HX-Push-Url")
    elif mode == "results":
        assert "<html" not in body
        assert body.lstrip().startswith('<div id="results"')
        assert 'id="filters"' not in body
        assert response["HX-Push-Url"].startswith(f"{LIST}?ctx=")
    else:
        assert "<html" not in body
        assert body.lstrip().startswith('<div id="content"')
        assert 'id="filters"' in body
        assert response["HX-Push-Url"].startswith(f"{LIST}?ctx=")
    return body


def upstream_query(sandbox: SandboxApp) -> dict[str, list[str]]:
    last = sandbox.seen[-1]
    assert last.path.endswith("/host-connections")
    return parse_qs(last.query, keep_blank_values=True)


def expected_rows(sandbox: SandboxApp, **kwargs: Any) -> list[dict[str, Any]]:
    return sandbox_rows(sandbox, **kwargs)


_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}


class _Region(HTMLParser):
    """The raw HTML inside the first element with a given id."""

    def __init__(self, element_id: str) -> None:
        super().__init__(convert_charrefs=False)
        self.element_id = element_id
        self.depth = 0
        self.start: tuple[int, int] | None = None
        self.end: tuple[int, int] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.end is not None or tag in _VOID:
            return
        if self.depth:
            self.depth += 1
        elif dict(attrs).get("id") == self.element_id:
            self.start = self.getpos()
            self.depth = 1

    def handle_endtag(self, tag: str) -> None:
        if self.depth and self.end is None and tag not in _VOID:
            self.depth -= 1
            if self.depth == 0:
                self.end = self.getpos()


def region(html: str, element_id: str) -> str:
    parser = _Region(element_id)
    parser.feed(html)
    assert parser.start is not None and parser.end is not None, f"no #{element_id}"
    lines = html.splitlines(keepends=True)

    def offset(pos: tuple[int, int]) -> int:
        return sum(len(line) for line in lines[: pos[0] - 1]) + pos[1]

    return html[offset(parser.start) : offset(parser.end)]


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.found.append(dict(attrs))


def anchors(html: str) -> list[dict[str, str | None]]:
    """The attributes of every link, unescaped: what a browser reads, however laid out."""
    parser = _Anchors()
    parser.feed(html)
    return parser.found


def rows_in(html: str) -> int:
    """The table's rows, counted by their links to the detail page."""
    return len(ROW_LINK.findall(html))


# --- the default view and htmx plumbing ------------------------------------------------


@every_mode
def test_list_default_first_page(alice: Client, sandbox: SandboxApp, ctx: str, mode: str) -> None:
    body = check_shape(get(alice, ctx, "", mode), mode)
    assert rows_in(body) == 20
    assert "1–20 of 302" in body
    assert "302 connections match" in body
    assert upstream_query(sandbox) == {
        "statuses": ["connected", "disconnected"],
        "search_field": ["host_name"],
        "order_by": ["host_name"],
        "order_dir": ["asc"],
        "limit": ["20"],
        "offset": ["0"],
    }


@pytest.mark.parametrize("mode", ["results", "content"])
def test_htmx_push_url_is_canonical(alice: Client, ctx: str, mode: str) -> None:
    query = (
        "offset=0&limit=50&order_dir=asc&statuses=disconnected&statuses=connected"
        "&archived=&search_field=host_name&active_action_types=analytics_request"
    )
    response = get(alice, None, f"{query}&ctx={ctx}", mode)
    check_shape(response, mode)
    assert response["HX-Push-Url"] == (
        f"{LIST}?ctx={ctx}&active_action_types=analytics_request&limit=50"
    )


@pytest.mark.parametrize("mode", ["results", "content"])
def test_htmx_push_url_has_ctx_first_without_ctx_param(alice: Client, ctx: str, mode: str) -> None:
    response = get(alice, None, "statuses=connected", mode)
    check_shape(response, mode)
    assert response["HX-Push-Url"] == f"{LIST}?ctx={ctx}&statuses=connected"


def test_htmx_results_partial_swaps_out_of_band_state(alice: Client, ctx: str) -> None:
    body = check_shape(get(alice, ctx, "order_by=created_at", "results"), "results")
    assert '<div id="form-state" hx-swap-oob="true">' in body
    assert '<input type="hidden" name="order_by" value="created_at">' in body
    assert 'id="result-count" class="result-count" aria-live="polite" hx-swap-oob="true"' in body


def test_htmx_content_partial_has_no_out_of_band_swaps(alice: Client, ctx: str) -> None:
    body = check_shape(get(alice, ctx, "", "content"), "content")
    assert "hx-swap-oob" not in body


@pytest.mark.parametrize("target", ["views-panel", "main", ""])
def test_htmx_other_target_gets_content_partial(alice: Client, ctx: str, target: str) -> None:
    response = alice.get(
        f"{LIST}?ctx={ctx}&limit=50", HTTP_HX_REQUEST="true", HTTP_HX_TARGET=target
    )
    check_shape(response, "content")
    assert response["HX-Push-Url"] == f"{LIST}?ctx={ctx}&limit=50"


def test_htmx_header_without_hx_request_is_full_page(alice: Client, ctx: str) -> None:
    response = alice.get(f"{LIST}?ctx={ctx}", HTTP_HX_TARGET="results")
    check_shape(response, "full")


def test_vary_lists_htmx_headers(alice: Client, ctx: str) -> None:
    values = vary(get(alice, ctx, "", "full"))
    assert "hx-request" in values
    assert "hx-target" in values


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_list_get_only(alice: Client, ctx: str, method: str) -> None:
    response = getattr(alice, method)(f"{LIST}?ctx={ctx}")
    assert response.status_code == 405
    assert response["Allow"] == "GET"


def test_detail_get_only(alice: Client, ctx: str) -> None:
    response = alice.post(f"{LIST}{uuid.uuid4()}/?ctx={ctx}")
    assert response.status_code == 405


# --- filters ---------------------------------------------------------------------------


@every_mode
@pytest.mark.parametrize("status", ["connected", "disconnected"])
def test_filter_status_single(
    alice: Client, sandbox: SandboxApp, ctx: str, mode: str, status: str
) -> None:
    body = check_shape(get(alice, ctx, f"statuses={status}", mode), mode)
    assert upstream_query(sandbox)["statuses"] == [status]
    other = "disconnected" if status == "connected" else "connected"
    assert f"badge-{status}" in body
    assert f"badge-{other}" not in body
    total = len(expected_rows(sandbox, statuses=(status,)))
    assert f"{total} connections match" in body
    assert f"Status: {status.capitalize()}</span>" in body
    if mode != "results":
        assert f'value="{status}" checked' in body
        assert f'value="{other}" checked' not in body


@every_mode
def test_filter_status_both_is_default(
    alice: Client, sandbox: SandboxApp, ctx: str, mode: str
) -> None:
    response = get(alice, ctx, "statuses=disconnected&statuses=connected", mode)
    body = check_shape(response, mode)
    assert upstream_query(sandbox)["statuses"] == ["connected", "disconnected"]
    assert 'class="chips"' not in body
    if mode != "full":
        assert response["HX-Push-Url"] == f"{LIST}?ctx={ctx}"


@every_mode
@pytest.mark.parametrize(
    ("field", "text"),
    [("host_name", "harbor"), ("host_email", "summit"), ("owner_email", "anna")],
)
def test_filter_search(
    alice: Client, sandbox: SandboxApp, ctx: str, mode: str, field: str, text: str
) -> None:
    response = get(alice, ctx, f"search_field={field}&search_text={text}", mode)
    body = check_shape(response, mode)
    sent = upstream_query(sandbox)
    assert sent["search_field"] == [field]
    assert sent["search_text"] == [text]
    rows = expected_rows(sandbox, search_field=field, search_text=text)
    assert 0 < len(rows) < TOTAL
    assert f"{len(rows)} connection" in body
    assert escape(rows[0]["host_name"]) in body
    label = {"host_name": "Host name", "host_email": "Host email", "owner_email": "Owner email"}
    assert f"{label[field]} contains “{text}”" in body
    if mode != "full":
        assert response["HX-Push-Url"] == (
            f"{LIST}?ctx={ctx}&search_text={text}"
            if field == "host_name"
            else f"{LIST}?ctx={ctx}&search_field={field}&search_text={text}"
        )
    if mode != "results":
        assert f'<option value="{field}" selected>' in body
        assert f'name="search_text" value="{text}"' in body


@every_mode
@pytest.mark.parametrize(
    ("raw", "sent", "chip"),
    [("true", ["true"], "Archived only"), ("false", ["false"], "Not archived"), ("", None, None)],
)
def test_filter_archived(
    alice: Client,
    sandbox: SandboxApp,
    ctx: str,
    mode: str,
    raw: str,
    sent: list[str] | None,
    chip: str | None,
) -> None:
    body = check_shape(get(alice, ctx, f"archived={raw}", mode), mode)
    assert upstream_query(sandbox).get("archived") == sent
    archived = None if sent is None else raw == "true"
    total = len(expected_rows(sandbox, archived=archived))
    assert f"{total} connections match" in body
    if chip:
        assert f'<span title="{chip}">{chip}</span>' in body
        assert ("<td>Yes</td>" in body) is (raw == "true")
        assert ("<td>No</td>" in body) is (raw == "false")
    else:
        assert 'class="chips"' not in body


@every_mode
def test_filter_active_action(alice: Client, sandbox: SandboxApp, ctx: str, mode: str) -> None:
    body = check_shape(get(alice, ctx, "active_action_types=analytics_request", mode), mode)
    assert upstream_query(sandbox)["active_action_types"] == ["analytics_request"]
    total = len(expected_rows(sandbox, action_types=("analytics_request",)))
    assert f"{total} connections match" in body
    assert (
        '<span title="Active action: Analytics request">Active action: Analytics request</span>'
        in body
    )
    assert body.count("<td>Analytics request</td>") == 20
    if mode != "results":
        assert '<option value="analytics_request" selected>' in body


@every_mode
def test_filter_active_action_any(alice: Client, sandbox: SandboxApp, ctx: str, mode: str) -> None:
    check_shape(get(alice, ctx, "active_action_types=", mode), mode)
    assert "active_action_types" not in upstream_query(sandbox)


@every_mode
@pytest.mark.parametrize("limit", [20, 50, 100])
def test_filter_page_size(
    alice: Client, sandbox: SandboxApp, ctx: str, mode: str, limit: int
) -> None:
    body = check_shape(get(alice, ctx, f"limit={limit}", mode), mode)
    assert upstream_query(sandbox)["limit"] == [str(limit)]
    assert rows_in(body) == limit
    assert f"1–{limit} of 302" in body
    if mode != "results":
        assert f'<option value="{limit}" selected>' in body


@every_mode
def test_filter_chips_each_clear_one_filter(
    alice: Client, sandbox: SandboxApp, ctx: str, mode: str
) -> None:
    query = (
        "statuses=connected&search_text=a&archived=false"
        "&active_action_types=analytics_request&limit=50&offset=50"
    )
    body = check_shape(get(alice, ctx, query, mode), mode)
    base = f"{LIST}?ctx={ctx}"
    clear = {
        "Status: Connected": "search_text=a&archived=false"
        "&active_action_types=analytics_request&limit=50",
        "Host name contains “a”": "statuses=connected&archived=false"
        "&active_action_types=analytics_request&limit=50",
        "Not archived": "statuses=connected&search_text=a&active_action_types=analytics_request"
        "&limit=50",
        "Active action: Analytics request": "statuses=connected&search_text=a&archived=false"
        "&limit=50",
    }
    links = anchors(body)
    for label, rest in clear.items():
        url = f"{base}&{rest}"
        assert {
            "href": url,
            "hx-get": url,
            "hx-target": "#content",
            "hx-swap": "outerHTML",
            "aria-label": f"Clear filter: {label}",
            "class": "chip-clear",
        } in links
    clear_all = {"href": base, "hx-get": base, "hx-target": "#content", "hx-swap": "outerHTML"}
    assert clear_all in links


@every_mode
def test_filter_chip_clear_link_drops_filter_upstream(
    alice: Client, sandbox: SandboxApp, ctx: str, mode: str
) -> None:
    get(alice, ctx, "archived=true&limit=50", "full")
    response = alice.get(f"{LIST}?ctx={ctx}&limit=50", **HEADERS[mode])
    check_shape(response, mode)
    sent = upstream_query(sandbox)
    assert "archived" not in sent
    assert sent["limit"] == ["50"]


@every_mode
def test_filter_no_match_offers_reset(
    alice: Client, sandbox: SandboxApp, ctx: str, mode: str
) -> None:
    body = check_shape(get(alice, ctx, "search_text=zzqqxxnomatch&archived=true", mode), mode)
    assert upstream_query(sandbox)["search_text"] == ["zzqqxxnomatch"]
    results = region(body, "results")
    assert "No connections match these filters." in results
    reset = f"{LIST}?ctx={ctx}"
    assert f'<a class="btn" href="{reset}" hx-get="{reset}"' in results
    assert "Reset filters" in results
    assert "No connections match" in body  # the result count
    assert rows_in(body) == 0
    assert 'aria-label="Pagination"' not in body


# --- sorting ---------------------------------------------------------------------------


def header(body: str, column: str) -> str:
    start = body.index(f'id="sort-{column}"')
    return body[body.rindex("<th", 0, start) : body.index("</th>", start)]


@every_mode
def test_sort_default_is_host_name_ascending(alice: Client, ctx: str, mode: str) -> None:
    body = check_shape(get(alice, ctx, "", mode), mode)
    assert 'aria-sort="ascending"' in header(body, "host_name")
    assert "aria-sort" not in header(body, "created_at")
    url = escape(f"{LIST}?ctx={ctx}&order_dir=desc")
    assert f'href="{url}" hx-get="{url}"' in header(body, "host_name")


@every_mode
@pytest.mark.parametrize("column", ["host_email", "owner_email", "created_at", "updated_at"])
@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_sort_by_column(
    alice: Client, sandbox: SandboxApp, ctx: str, mode: str, column: str, direction: str
) -> None:
    response = get(alice, ctx, f"order_by={column}&order_dir={direction}&offset=40", mode)
    body = check_shape(response, mode)
    sent = upstream_query(sandbox)
    assert sent["order_by"] == [column]
    assert sent["order_dir"] == [direction]
    rows = expected_rows(sandbox, order_by=column, order_dir=direction)
    assert escape(rows[40]["host_email"]) in region(body, "results")
    aria = "ascending" if direction == "asc" else "descending"
    assert f'aria-sort="{aria}"' in header(body, column)
    assert "aria-sort" not in header(body, "host_name")
    # Clicking the header toggles the direction and goes back to the first page.
    toggled = f"{LIST}?ctx={ctx}&order_by={column}"
    if direction == "asc":
        toggled += "&order_dir=desc"
    assert f'href="{escape(toggled)}"' in header(body, column)
    # Another column sorts ascending.
    assert f'href="{escape(f"{LIST}?ctx={ctx}")}"' in header(body, "host_name")


@every_mode
def test_sort_nullable_column_puts_nulls_last(
    alice: Client, sandbox: SandboxApp, ctx: str, mode: str
) -> None:
    body = check_shape(get(alice, ctx, "order_by=archived_at&order_dir=desc", mode), mode)
    assert upstream_query(sandbox)["order_by"] == ["archived_at"]
    assert 'aria-sort="descending"' in header(body, "archived_at")
    assert body.count("<td>Yes</td>") == 20  # rows never archived come last


@every_mode
def test_sort_unsortable_columns_have_no_link(alice: Client, ctx: str, mode: str) -> None:
    body = check_shape(get(alice, ctx, "", mode), mode)
    assert '<th scope="col">Status</th>' in body
    assert '<th scope="col">Active action</th>' in body
    assert 'id="sort-status"' not in body


# --- pagination ------------------------------------------------------------------------


@every_mode
def test_page_second(alice: Client, sandbox: SandboxApp, ctx: str, mode: str) -> None:
    response = get(alice, ctx, "offset=20", mode)
    body = check_shape(response, mode)
    assert upstream_query(sandbox)["offset"] == ["20"]
    assert "21–40 of 302" in body
    assert escape(expected_rows(sandbox)[20]["host_email"]) in body
    base = f"{LIST}?ctx={ctx}"
    assert f'id="page-first" href="{base}"' in body
    assert f'id="page-prev" href="{base}"' in body
    assert f'id="page-next" href="{escape(base + "&offset=40")}"' in body
    assert f'id="page-last" href="{escape(base + "&offset=300")}"' in body
    assert '<span class="current" aria-current="page">2</span>' in body
    if mode != "full":
        assert response["HX-Push-Url"] == f"{base}&offset=20"


@every_mode
def test_page_first_has_disabled_back_links(alice: Client, ctx: str, mode: str) -> None:
    body = check_shape(get(alice, ctx, "", mode), mode)
    assert '<span class="disabled">« First</span>' in body
    assert '<span class="disabled">‹ Previous</span>' in body
    assert 'id="page-next"' in body


@every_mode
def test_page_last(alice: Client, sandbox: SandboxApp, ctx: str, mode: str) -> None:
    body = check_shape(get(alice, ctx, "offset=300", mode), mode)
    assert "301–302 of 302" in body
    assert rows_in(body) == 2
    assert '<span class="disabled">Next ›</span>' in body
    assert '<span class="disabled">Last »</span>' in body
    assert '<span class="current" aria-current="page">16</span>' in body


@every_mode
@pytest.mark.parametrize("offset", [302, 1000, 10_000_001, 2**64])  # the upstream caps none
def test_page_past_the_end_links_to_last_page(
    alice: Client, sandbox: SandboxApp, ctx: str, mode: str, offset: int
) -> None:
    body = check_shape(get(alice, ctx, f"offset={offset}", mode), mode)
    assert upstream_query(sandbox)["offset"] == [str(offset)]
    results = region(body, "results")
    assert "There are no rows at this position: the list has 302 rows." in results
    last = escape(f"{LIST}?ctx={ctx}&offset=300")
    assert f'<a class="btn" href="{last}" hx-get="{last}">Go to the last page</a>' in results
    assert rows_in(body) == 0


@every_mode
def test_page_past_the_end_of_filtered_list(
    alice: Client, sandbox: SandboxApp, ctx: str, mode: str
) -> None:
    body = check_shape(get(alice, ctx, "search_text=harbor&limit=50&offset=500", mode), mode)
    total = len(expected_rows(sandbox, search_text="harbor"))
    assert 0 < total <= 50
    last = escape(f"{LIST}?ctx={ctx}&search_text=harbor&limit=50")
    assert f'href="{last}" hx-get="{last}">Go to the last page' in body


@every_mode
def test_page_offset_with_no_rows_at_all_is_no_match(alice: Client, ctx: str, mode: str) -> None:
    body = check_shape(get(alice, ctx, "search_text=zzqqxxnomatch&offset=40", mode), mode)
    assert "No connections match these filters." in body
    assert "Go to the last page" not in body


class TestLongList:
    """1,234 rows: thousands separators and elided page numbers."""

    @pytest.fixture
    def sandbox(self) -> SandboxApp:
        return SandboxApp(Dataset(seed=7, rows_per_org=1232))

    @every_mode
    def test_page_range_text_has_thousands_separator(
        self, alice: Client, sandbox: SandboxApp, ctx: str, mode: str
    ) -> None:
        body = check_shape(get(alice, ctx, "offset=20", mode), mode)
        assert "21–40 of 1,234" in body
        assert "1,234 connections match" in body

    @every_mode
    def test_page_numbers_are_elided(self, alice: Client, ctx: str, mode: str) -> None:
        body = check_shape(get(alice, ctx, "offset=600", mode), mode)  # page 31 of 62
        pager = region(body, "results")
        pager = pager[pager.index('aria-label="Pagination"') :]
        shown = []
        for chunk in pager.split("<li>")[1:]:
            if 'class="gap"' in chunk:
                shown.append("…")
            elif 'aria-current="page"' in chunk:
                shown.append("[31]")
            elif 'aria-label="Page ' in chunk:
                shown.append(chunk.split('aria-label="Page ')[1].split('"')[0])
        assert shown == ["1", "…", "29", "30", "[31]", "32", "33", "…", "62"]
        page_62 = escape(f"{LIST}?ctx={ctx}&offset=1220")
        assert f'id="page-62" href="{page_62}"' in pager
        assert f'id="page-last" href="{page_62}"' in pager

    @every_mode
    def test_page_past_the_end_names_the_total(self, alice: Client, ctx: str, mode: str) -> None:
        body = check_shape(get(alice, ctx, "offset=5000&limit=100", mode), mode)
        assert "the list has 1,234 rows" in body
        assert escape(f"{LIST}?ctx={ctx}&limit=100&offset=1200") in body


# --- bad input -------------------------------------------------------------------------

LONG = "x" * 300
BAD_INPUT = [
    # (query, error id, upstream parameter, the value sent upstream, message part)
    ("limit=1000", "err-limit", "limit", ["100"], "Rows per page must be 20, 50 or 100"),
    ("limit=abc", "err-limit", "limit", ["20"], "not “abc”"),
    ("limit=50&limit=100", "err-limit", "limit", ["50"], "given 2 times"),
    ("order_by=password", "err-order_by", "order_by", ["host_name"], "not a valid column"),
    ("order_dir=up", "err-order_dir", "order_dir", ["asc"], "“up” is not a valid"),
    ("statuses=bogus", "err-statuses", "statuses", ["connected", "disconnected"], "“bogus”"),
    ("statuses=connected&statuses=bogus", "err-statuses", "statuses", ["connected"], "bogus"),
    (f"search_text={LONG}", "err-search_text", "search_text", ["x" * 255], "255 characters"),
    ("search_text=ac%00me", "err-search_text", "search_text", ["acme"], "Control characters"),
    ("search_text=a%1b%5b31mb%7f", "err-search_text", "search_text", ["a[31mb"], "Control"),
    ("search_text=a&search_text=b", "err-search_text", "search_text", ["a"], "given 2 times"),
    ("search_field=password", "err-search_field", "search_field", ["host_name"], "not a valid"),
    ("archived=maybe", "err-archived", "archived", None, "showing all"),
    ("active_action_types=nope", "err-active_action_types", "active_action_types", None, "nope"),
    ("cols=nope", "err-cols", "cols", None, "“nope” is not a column; showing the default"),
    ("cols=status,bogus", "err-cols", "cols", None, "Host name is always shown"),
]


@page_modes
@pytest.mark.parametrize(("query", "error_id", "param", "sent", "message"), BAD_INPUT)
def test_bad_input_message_next_to_control(
    alice: Client,
    sandbox: SandboxApp,
    ctx: str,
    mode: str,
    query: str,
    error_id: str,
    param: str,
    sent: list[str] | None,
    message: str,
) -> None:
    body = check_shape(get(alice, ctx, query, mode), mode, bad_input=True)
    assert f'id="{error_id}"' in body
    start = body.index(f'id="{error_id}"')
    assert message in unescape(body[start : body.index("</p>", start)])
    assert f'aria-describedby="{error_id}"' in body  # the sort's: on the sorted header
    assert upstream_query(sandbox).get(param) == sent
    assert "banner-error" not in body
    assert "\x00" not in body


@pytest.mark.parametrize(("query", "error_id", "param", "sent", "message"), BAD_INPUT)
def test_bad_input_results_partial_sends_nearest_valid_query(
    alice: Client,
    sandbox: SandboxApp,
    ctx: str,
    query: str,
    error_id: str,
    param: str,
    sent: list[str] | None,
    message: str,
) -> None:
    response = get(alice, ctx, query, "results")
    body = check_shape(response, "results", bad_input=True)
    assert f'id="{error_id}"' in body  # the message reaches the user
    assert upstream_query(sandbox).get(param) == sent
    assert "banner-error" not in body
    # The pushed URL is the fallback view, so reloading it shows no error.
    pushed = response["HX-Push-Url"]
    assert alice.get(pushed).status_code == 200
    assert error_id not in body_of(alice.get(pushed))
    clean = get(alice, ctx, pushed.partition("?")[2], "results")
    check_shape(clean, "results")  # a clean query swaps the results only


@every_mode
@pytest.mark.parametrize("offset", ["-5", "abc", "1e3", "\u0665", "1_000", "9" * 5000])
def test_bad_input_offset(
    alice: Client, sandbox: SandboxApp, ctx: str, mode: str, offset: str
) -> None:
    response = get(alice, ctx, f"offset={offset}&limit=50", mode)
    body = check_shape(response, mode, bad_input=True)
    assert upstream_query(sandbox)["offset"] == ["0"]
    results = region(body, "results")
    assert 'id="err-offset"' in results
    assert "not a valid position in the list; showing the first page." in unescape(results)
    assert "1–50 of 302" in results
    if mode != "full":
        assert response["HX-Push-Url"] == f"{LIST}?ctx={ctx}&limit=50"


@page_modes
def test_bad_input_unknown_params(alice: Client, sandbox: SandboxApp, ctx: str, mode: str) -> None:
    response = get(alice, ctx, "page=3&password=hunter2&limit=50", mode)
    body = check_shape(response, mode, bad_input=True)
    assert 'id="err-general" role="alert">Ignored unknown parameters' in body
    assert "“page”" in body and "“password”" in body
    assert "hunter2" not in body
    sent = upstream_query(sandbox)
    assert "page" not in sent and "password" not in sent
    assert sent["limit"] == ["50"]


@every_mode
def test_bad_input_everything_at_once(
    alice: Client, sandbox: SandboxApp, ctx: str, mode: str
) -> None:
    query = (
        f"limit=1000&offset=-5&order_by=password&statuses=bogus&search_text={LONG}%00"
        "&archived=x&order_dir=x&search_field=x&active_action_types=x&junk=%00"
    )
    response = get(alice, ctx, query, mode)
    body = check_shape(response, mode, bad_input=True)
    assert upstream_query(sandbox) == {
        "statuses": ["connected", "disconnected"],
        "search_field": ["host_name"],
        "search_text": ["x" * 255],
        "order_by": ["host_name"],
        "order_dir": ["asc"],
        "limit": ["100"],
        "offset": ["0"],
    }
    assert 'id="err-offset"' in body
    for name in ("limit", "order_by", "statuses", "search_text", "archived", "order_dir"):
        assert f'id="err-{name}"' in body
    if mode != "full":
        assert response["HX-Push-Url"] == f"{LIST}?ctx={ctx}&search_text={'x' * 255}&limit=100"


@page_modes
def test_bad_input_is_escaped_in_messages(alice: Client, ctx: str, mode: str) -> None:
    response = get(alice, ctx, "order_by=%3Cscript%3Ealert(1)%3C/script%3E", mode)
    body = check_shape(response, mode, bad_input=True)
    assert "<script>alert(1)" not in body
    assert "&lt;script&gt;alert(1)" in body


# --- escaping of upstream data and of the search echo ---------------------------------


@every_mode
@pytest.mark.parametrize(
    ("needle", "raw"),
    [
        ("script", "<script>alert('x')</script> Lending"),
        ("onerror", "<img src=x onerror=alert(1)> Trust"),
    ],
)
def test_escape_hostile_row_names(
    alice: Client, sandbox: SandboxApp, ctx: str, mode: str, needle: str, raw: str
) -> None:
    rows = expected_rows(sandbox, search_text=needle)
    assert any(r["host_name"] == raw for r in rows)
    body = check_shape(get(alice, ctx, f"search_text={needle}", mode), mode)
    assert raw not in body
    assert escape(raw) in body
    assert "<script>alert" not in body
    assert "<img src=x" not in body


@every_mode
def test_escape_search_text_echo(alice: Client, ctx: str, mode: str) -> None:
    text = '"><script>alert(1)</script>'
    body = check_shape(get(alice, ctx, [("search_text", text)], mode), mode)
    assert "<script>alert(1)" not in body
    assert f"Host name contains “{escape(text)}”" in body
    if mode != "results":
        assert f'name="search_text" value="{escape(text)}"' in body


# --- upstream failures -----------------------------------------------------------------

FAULTS = [
    # (fault kind, fault options, HTTP status, message part)
    ("status_503", {}, 503, "The API is under maintenance; try again later."),
    ("status_500", {}, 503, "The API failed (500)"),
    ("timeout", {}, 503, "did not answer in time"),
    ("drop", {}, 503, "could not be reached"),
    ("status_429", {"seconds": 30}, 429, "The API is busy; try again in 30 s."),
    ("bad_shape", {}, 502, "The API sent a response hostadmin cannot read."),
    ("bad_json", {}, 502, "The API sent a response hostadmin cannot read."),
]


def check_banner(body: str, status: int, message: str, retry: str) -> str:
    results = region(body, "results")
    assert '<div class="banner banner-error" role="alert">' in results
    assert "Could not load the connections." in results
    assert message in unescape(results)
    assert f'<a class="btn" href="{escape(retry)}" hx-get="{escape(retry)}">Retry</a>' in results
    assert "(reference " in results
    assert rows_in(body) == 0
    assert "Results unavailable" in body
    return results


@every_mode
@pytest.mark.parametrize(("kind", "options", "status", "message"), FAULTS)
def test_upstream_failure_banner(
    alice: Client,
    sandbox: SandboxApp,
    ctx: str,
    mode: str,
    kind: str,
    options: dict[str, Any],
    status: int,
    message: str,
) -> None:
    sandbox.faults.add(kind, path="/host-connections", times=None, **options)
    response = get(alice, ctx, "statuses=connected&limit=50", mode)
    body = check_shape(response, mode, status)
    check_banner(body, status, message, f"{LIST}?ctx={ctx}&statuses=connected&limit=50")
    assert "Pick another target" not in body
    if mode != "full":
        assert response["HX-Push-Url"] == f"{LIST}?ctx={ctx}&statuses=connected&limit=50"


@every_mode
def test_upstream_forbidden_target(
    alice: Client, sandbox: SandboxApp, demo_client: ApiClient, mode: str
) -> None:
    ctx = f"{demo_client.pk}.{org_uuid('quiet-bank')}"
    response = get(alice, ctx, "limit=50", mode)
    body = check_shape(response, mode, 403)
    results = check_banner(
        body, 403, "may not act on the chosen organization", f"{LIST}?ctx={ctx}&limit=50"
    )
    assert '<a class="btn" href="#ctx-target">Pick another target</a>' in results
    own = (
        f'<a class="btn" href="{LIST}?ctx={demo_client.pk}">Go to Demo Lender’s own connections</a>'
    )
    assert own in results  # a context that works, not the refused one
    # The list asked in the refused target's context (the header's switcher may then name it).
    targets = [r.headers.get("target-organization-id") for r in sandbox.seen]
    assert org_uuid("quiet-bank") in targets


@every_mode
def test_upstream_transient_failure_is_retried(
    alice: Client, sandbox: SandboxApp, ctx: str, mode: str
) -> None:
    sandbox.faults.add("status_503", path="/host-connections", times=1)
    body = check_shape(get(alice, ctx, "", mode), mode)
    assert rows_in(body) == 20
    assert "banner-error" not in body


@every_mode
def test_upstream_retry_link_recovers(
    alice: Client, sandbox: SandboxApp, ctx: str, mode: str
) -> None:
    rule = sandbox.faults.add("status_503", path="/host-connections", times=None)
    response = get(alice, ctx, "offset=20", mode)
    check_shape(response, mode, 503)
    sandbox.faults.rules.remove(rule)
    retry = f"{LIST}?ctx={ctx}&offset=20"
    assert f'href="{escape(retry)}"' in body_of(response)
    body = check_shape(alice.get(retry, **HEADERS[mode]), mode)
    assert "21–40 of 302" in body


def test_upstream_never_sees_a_bad_value(alice: Client, sandbox: SandboxApp, ctx: str) -> None:
    """Whatever the input, the sandbox (which follows the contract) answers 200."""
    hostile = [
        "limit=1000",
        "limit=-1",
        "offset=-5",
        "offset=99999999999",
        "order_by=password",
        "order_dir=%00",
        "statuses=bogus",
        "statuses=",
        "search_text=" + "y" * 300,
        "search_text=%00",
        "search_field=secret",
        "archived=perhaps",
        "active_action_types=",
        "active_action_types=everything",
    ]
    for query in hostile:
        for mode in MODES:
            response = get(alice, ctx, query, mode)
            assert response.status_code == 200, (query, mode)
            sent = upstream_query(sandbox)
            assert int(sent["limit"][0]) in (20, 50, 100)
            assert int(sent["offset"][0]) >= 0
            assert all(1 <= len(t) <= 255 for t in sent.get("search_text", []))


# --- the detail page -------------------------------------------------------------------


def pick_row(sandbox: SandboxApp, **match: Any) -> dict[str, Any]:
    for row in sandbox.dataset.rows_for(DEMO).rows:
        if all((row[k] is not None) if v is ... else row[k] == v for k, v in match.items()):
            return row
    raise AssertionError(f"no row matches {match}")


def detail(client: Client, ctx: str, host_id: str, back: str | None = None) -> Any:
    params = [("ctx", ctx)] + ([("back", back)] if back is not None else [])
    return client.get(f"{LIST}{host_id}/?{urlencode(params)}")


def back_href(body: str) -> str:
    """The back link's list URL without its fragment (the row: see the test below)."""
    start = body.index('<a class="back-link" href="') + len('<a class="back-link" href="')
    return unescape(body[start : body.index('"', start)]).partition("#")[0]


def test_detail_back_link_names_the_row(alice: Client, sandbox: SandboxApp, ctx: str) -> None:
    row = pick_row(sandbox)
    body = body_of(detail(alice, ctx, row["host_organization_id"], "limit=50"))
    href = f"{LIST}?ctx={ctx}&amp;limit=50#c-{row['host_organization_id']}"
    assert f'<a class="back-link" href="{href}">' in body


def test_detail_shows_every_field(alice: Client, sandbox: SandboxApp, ctx: str) -> None:
    row = pick_row(sandbox, archived=True, active_action_type="analytics_request")
    response = detail(alice, ctx, row["host_organization_id"])
    assert response.status_code == 200
    body = body_of(response)
    assert sandbox.seen[-1].path.endswith(f"/host-connections/{row['host_organization_id']}")
    for label in DETAIL_LABELS:
        assert f"<dt>{label}</dt>" in body
    for key in ("host_organization_id", "guest_organization_id", "host_email", "owner_email"):
        assert escape(row[key]) in body
    assert f"<h1>{escape(row['host_name'])}</h1>" in body
    assert "<dd>Analytics request</dd>" in body
    assert "<dd>Yes</dd>" in body
    created = row["created_at"].replace("T", " ").rstrip("Z")
    assert f'<dd><time datetime="{created}+00:00">{created} UTC</time> (' in body
    archived_at = row["archived_at"].replace("T", " ").split(".")[0]  # to the second
    assert f'<dd><time datetime="{archived_at}+00:00">{archived_at} UTC</time> (' in body


def test_detail_null_fields_show_a_dash(alice: Client, sandbox: SandboxApp, ctx: str) -> None:
    row = pick_row(sandbox, archived=False, active_action_type=None)
    body = body_of(detail(alice, ctx, row["host_organization_id"]))
    assert body.count("<dd>—</dd>") == 3  # archived at, active action, action updated
    assert "<dd>No</dd>" in body


def test_detail_back_link_to_exact_list_view(alice: Client, sandbox: SandboxApp, ctx: str) -> None:
    row = pick_row(sandbox)
    back = "statuses=connected&search_text=a&order_by=created_at&order_dir=desc&limit=50&offset=50"
    body = body_of(detail(alice, ctx, row["host_organization_id"], back))
    assert back_href(body) == f"{LIST}?ctx={ctx}&{back}"


def test_detail_back_link_without_back_is_the_default_list(
    alice: Client, sandbox: SandboxApp, ctx: str
) -> None:
    row = pick_row(sandbox)
    body = body_of(detail(alice, ctx, row["host_organization_id"]))
    assert back_href(body) == f"{LIST}?ctx={ctx}"


@pytest.mark.parametrize(
    ("back", "expected"),
    [
        ("javascript:alert(1)", ""),
        ("ctx=999&view=7&limit=1000", "&limit=100"),
        ('order_by="><script>alert(1)</script>', ""),
        ("search_text=%22%3E%3Cscript%3E", "&search_text=%22%3E%3Cscript%3E"),
        ("https://evil.example/?offset=20", ""),
        ("offset=-5&statuses=bogus&limit=50%00", ""),
    ],
)
def test_detail_back_link_is_revalidated(
    alice: Client, sandbox: SandboxApp, ctx: str, back: str, expected: str
) -> None:
    row = pick_row(sandbox)
    response = detail(alice, ctx, row["host_organization_id"], back)
    assert response.status_code == 200
    body = body_of(response)
    assert back_href(body) == f"{LIST}?ctx={ctx}{expected}"
    assert "<script>alert" not in body
    assert "evil.example" not in body


def test_detail_link_from_list_round_trips_the_view(
    alice: Client, sandbox: SandboxApp, ctx: str
) -> None:
    query = "statuses=connected&order_by=updated_at&order_dir=desc&limit=50&offset=50"
    listing = body_of(get(alice, ctx, query, "full"))
    href = unescape(ROW_LINK.findall(listing)[0])
    parts = urlsplit(href)
    assert parts.path.startswith(LIST)
    assert parse_qs(parts.query) == {"ctx": [ctx], "back": [query]}
    body = body_of(alice.get(href))
    assert back_href(body) == f"{LIST}?ctx={ctx}&{query}"


def test_detail_url_is_the_hyphenated_uuid(alice: Client, sandbox: SandboxApp, ctx: str) -> None:
    host_id = uuid.UUID(pick_row(sandbox)["host_organization_id"])
    response = detail(alice, ctx, str(host_id))
    assert response.status_code == 200
    assert sandbox.seen[-1].path.endswith(f"/host-connections/{host_id}")
    assert f'<code id="uuid-1">{host_id}</code>' in body_of(response)


@pytest.mark.parametrize("form", ["hex", "upper", "upper hex"])
def test_detail_old_links_redirect_to_the_uuid_url(
    alice: Client, sandbox: SandboxApp, ctx: str, form: str
) -> None:
    """Earlier versions linked with 32 hex digits; those links (and a UUID pasted in
    capitals) lead to the one address, with the same query."""
    host_id = uuid.UUID(pick_row(sandbox)["host_organization_id"])
    written = {"hex": host_id.hex, "upper": str(host_id).upper(), "upper hex": host_id.hex.upper()}
    calls = len(sandbox.seen)
    response = detail(alice, ctx, written[form], "limit=50")
    assert response.status_code == 301
    query = urlencode({"ctx": ctx, "back": "limit=50"})
    assert response["Location"] == f"{LIST}{host_id}/?{query}"
    assert len(sandbox.seen) == calls  # no upstream call for the redirect
    page = alice.get(response["Location"])
    assert page.status_code == 200
    assert back_href(body_of(page)) == f"{LIST}?ctx={ctx}&limit=50"


def test_detail_url_reversed_from_uuid_or_string() -> None:
    host_id = uuid.uuid4()
    expected = f"/connections/{host_id}/"
    assert reverse("connections:detail", args=[host_id]) == expected
    assert reverse("connections:detail", args=[str(host_id)]) == expected
    with pytest.raises(NoReverseMatch):
        reverse("connections:detail", args=["not-a-uuid"])


@pytest.mark.parametrize("bad", ["not-a-uuid", "0" * 31, "0" * 33, "g" * 32])
def test_detail_malformed_id_is_404_without_upstream_call(
    alice: Client, sandbox: SandboxApp, ctx: str, bad: str
) -> None:
    calls = len(sandbox.seen)
    assert detail(alice, ctx, bad).status_code == 404
    assert len(sandbox.seen) == calls


def test_detail_unknown_id_is_404_banner(alice: Client, sandbox: SandboxApp, ctx: str) -> None:
    response = detail(alice, ctx, str(uuid.uuid4()), "limit=50")
    assert response.status_code == 404
    body = body_of(response)
    assert '<div class="banner banner-error" role="alert">' in body
    assert "The API has no such host connection for this organization." in body
    assert back_href(body) == f"{LIST}?ctx={ctx}&limit=50"
    assert ">Retry</a>" in body


def test_detail_forbidden_target_is_403_banner(
    alice: Client, sandbox: SandboxApp, demo_client: ApiClient
) -> None:
    ctx = f"{demo_client.pk}.{org_uuid('quiet-bank')}"
    response = detail(alice, ctx, str(uuid.uuid4()))
    assert response.status_code == 403
    assert "may not act on the chosen organization" in body_of(response)
    own = (
        f'<a class="btn" href="{LIST}?ctx={demo_client.pk}">Go to Demo Lender’s own connections</a>'
    )
    assert own in body_of(response)


@pytest.mark.parametrize(
    ("kind", "status"), [("status_503", 503), ("timeout", 503), ("bad_shape", 502)]
)
def test_detail_upstream_failure_banner(
    alice: Client, sandbox: SandboxApp, ctx: str, kind: str, status: int
) -> None:
    row = pick_row(sandbox)
    sandbox.faults.add(kind, path="/host-connections/", times=None)
    response = detail(alice, ctx, row["host_organization_id"], "limit=50")
    assert response.status_code == status
    body = body_of(response)
    assert "Could not load this connection." in body
    assert back_href(body) == f"{LIST}?ctx={ctx}&limit=50"


def test_detail_escapes_hostile_name(alice: Client, sandbox: SandboxApp, ctx: str) -> None:
    row = pick_row(sandbox, host_name="<script>alert('x')</script> Lending")
    body = body_of(detail(alice, ctx, row["host_organization_id"]))
    assert "<script>alert" not in body
    assert f"<h1>{escape(row['host_name'])}</h1>" in body
    assert f"<title>{escape(row['host_name'])} · hostadmin</title>" in body


def test_detail_invalid_uuid_is_404(alice: Client, ctx: str) -> None:
    assert alice.get(f"{LIST}not-a-uuid/?ctx={ctx}").status_code == 404


# --- htmx swap and form state ------------------------------------------------------------


@page_modes
def test_htmx_results_requests_replace_the_results_element(
    alice: Client, ctx: str, mode: str
) -> None:
    """The results partial is the whole ``<div id="results">``; the element that sends
    requests to #results must swap it outerHTML, or every swap nests a second #results."""
    body = check_shape(get(alice, ctx, "", mode), mode)
    start = body.index('<div id="content"')
    content_tag = body[start : body.index(">", start)]
    assert 'hx-target="#results"' in content_tag
    assert 'hx-swap="outerHTML"' in content_tag
    partial = check_shape(get(alice, ctx, "", "results"), "results")
    assert partial.count('id="results"') == 1


@page_modes
def test_filter_form_keeps_saved_view_id_unlocalized(
    alice: Client, sandbox: SandboxApp, ctx: str, demo_client: ApiClient, mode: str
) -> None:
    from connections.models import SavedView

    view = SavedView.objects.create(
        pk=12345,
        owner=demo_client.users.get(),
        name="Big id",
        query="limit=50",
        api_client=demo_client,
        target_org_id=DEMO,
    )
    body = check_shape(get(alice, ctx, f"view={view.pk}&limit=50", mode), mode)
    assert '<input type="hidden" name="view" value="12345">' in body


@every_mode
def test_upstream_expired_token_is_renewed(
    alice: Client, sandbox: SandboxApp, ctx: str, mode: str
) -> None:
    get(alice, ctx, "", "full")
    issued = sandbox.tokens_issued
    sandbox.faults.add("expire_tokens", path="/host-connections", times=1)
    body = check_shape(get(alice, ctx, "offset=20", mode), mode)
    assert "21–40 of 302" in body
    assert sandbox.tokens_issued == issued + 1


def test_htmx_error_page_replaces_whole_page(alice: Client) -> None:
    headers = {"HX-Request": "true", "HX-Target": "results"}
    denied = alice.get(f"{LIST}?ctx=999999", headers=headers)
    assert denied.status_code == 403
    assert denied["HX-Retarget"] == "body"
    assert denied["HX-Reswap"] == "innerHTML"
    missing = alice.get("/no-such-page/", headers=headers)
    assert missing.status_code == 404
    assert missing["HX-Retarget"] == "body"


def test_htmx_upstream_error_stays_in_results(alice: Client, sandbox: SandboxApp) -> None:
    sandbox.faults.add("status_503", path="/host-connections", times=None)
    response = alice.get(LIST, headers={"HX-Request": "true", "HX-Target": "results"})
    assert response.status_code == 503
    assert not response.has_header("HX-Retarget")
    assert response.content.decode().lstrip().startswith('<div id="results"')
    assert "under maintenance" in response.content.decode()
    # No rows, no counts: the last filters' counts beside the choices go.
    blank = '<span id="count-connected" class="facet-count" hx-swap-oob="true"></span>'
    assert blank in response.content.decode()


EDGE_OF_TIME = {
    "created_at": "0001-01-01T00:00:00",
    "updated_at": "9999-12-31T23:59:59",
    "archived_at": "0001-01-01T00:00:00+01:00",
}


def sandbox_with_edge_of_time_rows(sandbox: SandboxApp) -> httpx.MockTransport:
    """The sandbox, with timestamps at the edges of time in every row it answers."""
    inner = SandboxTransport(sandbox)

    def handler(request: httpx.Request) -> httpx.Response:
        response = inner.handle_request(request)
        if "/host-connections" not in request.url.path:
            return response
        response.read()
        body = response.json()
        for row in body.get("items", [body]):
            row.update(EDGE_OF_TIME)
        return httpx.Response(response.status_code, json=body)

    return httpx.MockTransport(handler)


@pytest.mark.parametrize(
    ("zone", "fallback"),
    [  # where the user's zone would leave years 1..9999, that time is shown in UTC
        ("America/New_York", "0001-01-01 00:00:00"),
        ("Asia/Tokyo", "9999-12-31 23:59:59"),
    ],
)
def test_timestamps_at_the_edge_of_time_render_in_any_zone(
    alice: Client, sandbox: SandboxApp, ctx: str, zone: str, fallback: str
) -> None:
    api.use_transport(sandbox_with_edge_of_time_rows(sandbox))
    alice.cookies["tz"] = zone
    listing = alice.get(f"{LIST}?ctx={ctx}")
    assert listing.status_code == 200
    assert f'title="{fallback} UTC">' in body_of(listing)
    row = pick_row(sandbox)
    page = detail(alice, ctx, row["host_organization_id"])
    assert page.status_code == 200
    assert f">{fallback} UTC</time>" in body_of(page)
    assert '<time datetime="0001-01-01 ' in body_of(page)  # four-digit years, not "1-01-01"
    export = alice.get(f"{LIST}export.csv?ctx={ctx}&scope=page")
    assert export.status_code == 200
    assert b"0001-01-01T00:00:00Z" in b"".join(export.streaming_content)


def test_pager_ids_for_pages_in_the_thousands(alice: Client, ctx: str) -> None:
    big = SandboxApp(Dataset(seed=7, rows_per_org=300, rows_overrides={"demo-lender": 25_000}))
    api.use_transport(SandboxTransport(big))
    body = body_of(alice.get(f"{LIST}?ctx={ctx}&offset=20000"))
    assert 'aria-current="page">1,001</span>' in body  # thousands grouped for people
    assert 'id="page-1000" href=' in body  # and not in ids: "#page-1,000" is no selector
    assert 'aria-label="Page 1,000">1,000</a>' in body
    assert 'id="page-1,' not in body


def sandbox_claiming_total(sandbox: SandboxApp, total: int) -> httpx.MockTransport:
    """The sandbox, claiming a total of ``total`` rows for every list it answers."""
    inner = SandboxTransport(sandbox)

    def handler(request: httpx.Request) -> httpx.Response:
        response = inner.handle_request(request)
        if not request.url.path.endswith("/host-connections"):
            return response
        response.read()
        body = response.json()
        body["total_items"] = total
        return httpx.Response(response.status_code, json=body)

    return httpx.MockTransport(handler)


@every_mode
@pytest.mark.parametrize("total", [2**63, 2**64 + 7, 10**40])
def test_page_of_a_total_past_2_63_renders(
    alice: Client, sandbox: SandboxApp, ctx: str, mode: str, total: int
) -> None:
    """Any integer the contract allows as total_items renders (Django's Paginator raised
    OverflowError from 2**63), and its last page is reachable."""
    api.use_transport(sandbox_claiming_total(sandbox, total))
    body = check_shape(get(alice, ctx, "limit=100", mode), mode)
    assert f"{total:,} connections match" in body
    assert f"1–100 of {total:,}" in body
    last_offset = (total - 1) // 100 * 100
    last = escape(f"{LIST}?ctx={ctx}&limit=100&offset={last_offset}")
    assert f'id="page-last" href="{last}"' in body
    assert f'aria-label="Page {last_offset // 100 + 1:,}"' in body
    near_end = check_shape(get(alice, ctx, f"limit=100&offset={last_offset}", mode), mode)
    assert upstream_query(sandbox)["offset"] == [str(last_offset)]
    assert "There are no rows at this position" in near_end  # the sandbox has 302 rows


# --- facet counts and the user's time display, as the list page uses them --------------


def test_list_page_loads_the_facet_counts_after_the_rows(alice: Client, upstream) -> None:
    body = body_of(alice.get("/connections/"))
    loader = re.search(r'<div hx-get="(/connections/facets/\?[^"]+)" hx-trigger="load"', body)
    assert loader is not None
    assert 'hx-push-url="false"' in body  # the counts never become a history entry
    for span_id in ("connected", "disconnected", "archived-true", "archived-false"):
        assert f'<span id="count-{span_id}" class="facet-count"></span>' in body
    counts = body_of(alice.get(unescape(loader[1])))
    assert re.search(
        r'<span id="count-connected" class="facet-count" hx-swap-oob="true">\(\d', counts
    )


def test_list_page_without_facet_counts_has_no_loader(alice: Client, upstream, settings) -> None:
    settings.FACET_COUNTS = False
    body = body_of(alice.get("/connections/"))
    assert "/connections/facets/" not in body
    assert 'class="facet-count"' not in body and "facet-line" not in body  # no room kept


def test_list_rows_show_absolute_times_when_the_user_chose_them(
    alice: Client, user, upstream
) -> None:
    relative = body_of(alice.get("/connections/"))
    first = re.search(r'<time datetime="([^"]+)" title="([^"]+)">([^<]+)</time>', relative)
    assert first is not None and "ago" in first[3]
    UserPreferences.objects.create(user=user, time_display="absolute")
    absolute = body_of(alice.get("/connections/"))
    swapped = re.search(r'<time datetime="([^"]+)" title="([^"]+)">([^<]+)</time>', absolute)
    assert swapped is not None
    assert (swapped[2], swapped[3]) == (first[3], first[2])  # text and title change places


# --- columns: the chooser and the cols parameter ------------------------------------------


def th_keys(body: str) -> list[str]:
    """The table's header cells, as their labels (sortable or not), in order."""
    head = body[body.index("<thead>") : body.index("</thead>")]
    labels = re.findall(r'<th scope="col"[^>]*>\s*(?:<a [^>]*>)?\s*([^<]+?)\s*<', head)
    return labels


@every_mode
def test_columns_follow_cols_in_their_order(alice: Client, ctx: str, mode: str) -> None:
    body = check_shape(get(alice, ctx, "cols=status&cols=host_name&cols=created_at", mode), mode)
    assert th_keys(body) == ["Status", "Host name", "Created"]
    tbody = body[body.index("<tbody>") : body.index("</tbody>")]
    first = tbody[tbody.index("<tr>") : tbody.index("</tr>")]
    assert first.count("<td") == 3
    assert first.startswith('<tr><td><span class="badge')
    assert '<td title="' in first and '"><a href="/connections/' in first
    assert "@" not in first  # no email column


@every_mode
def test_columns_default_is_all_ten_and_left_out_of_the_url(
    alice: Client, ctx: str, mode: str
) -> None:
    response = get(alice, ctx, "cols=" + ",".join(COLUMNS), mode)
    body = check_shape(response, mode)
    assert len(th_keys(body)) == 10
    if mode != "full":
        assert "cols" not in response["HX-Push-Url"]
    if mode != "results":  # the chooser: list.html#results sends it only to its own form
        assert 'name="cols"' in body and "(10 of 10)" in body


def chooser_request(client: Client, ctx: str, query: str) -> Any:
    """What the chooser's form sends: htmx names the form in HX-Trigger."""
    headers = {**HEADERS["results"], "HTTP_HX_TRIGGER": "columns"}
    return client.get(f"{LIST}?ctx={ctx}&{query}", **headers)


@every_mode
def test_columns_chooser_buttons_move_one_column(alice: Client, ctx: str, mode: str) -> None:
    body = check_shape(get(alice, ctx, "offset=40&cols=host_name,status", mode), mode)
    if mode == "results":
        body = check_shape(chooser_request(alice, ctx, "offset=40&cols=host_name,status"), mode)
    up = re.search(r'<button type="submit" id="col-status-up"[^>]*>', body)
    assert up is not None
    assert (
        'name="move"' in up[0]
        and 'value="status:left"' in up[0]
        and 'aria-label="Move Status up (left)"' in up[0]
    )
    assert 'id="col-host_name-up"' not in body  # first already
    assert 'id="col-status-down"' not in body  # last already
    assert "(2 of 10)" in body
    # The form keeps the page: its hidden fields carry the offset.
    state = body[body.index('<div id="col-state"') :]
    assert '<input type="hidden" name="offset" value="40">' in state[: state.index("</div>")]
    # Hidden columns are offered after the shown ones, unticked.
    boxes = re.findall(r'id="col-(\w+)"\s+name="cols" value="\w+"\s*(checked)?', body)
    assert boxes[0] == ("status", "checked")
    assert ("host_email", "") in boxes


def test_columns_move_is_applied_and_left_out_of_the_url(alice: Client, ctx: str) -> None:
    response = chooser_request(
        alice, ctx, "offset=40&cols=host_name,status,created_at&move=status:left"
    )
    body = check_shape(response, "results")
    assert th_keys(body) == ["Status", "Host name", "Created"]
    pushed = response["HX-Push-Url"]
    assert "move" not in pushed
    assert "offset=40&cols=status&cols=host_name&cols=created_at" in pushed
    # At the end already: nothing moves, and nothing to say.
    body = check_shape(
        chooser_request(alice, ctx, "cols=host_name,status&move=status:right"), "results"
    )
    assert th_keys(body) == ["Host name", "Status"]


def test_columns_move_without_javascript_redirects_to_the_canonical_url(
    alice: Client, ctx: str
) -> None:
    """Without htmx the move is a plain GET: it lands on the view's own URL, so a reload
    or a bookmark of the page does not move the column once more."""
    response = get(
        alice, ctx, "offset=40&cols=host_name,status,created_at&move=status:left", "full"
    )
    assert response.status_code == 302
    assert response["Location"] == (
        f"{LIST}?ctx={ctx}&offset=40&cols=status&cols=host_name&cols=created_at"
    )
    landed = alice.get(response["Location"])
    assert landed.status_code == 200 and th_keys(landed.content.decode()) == [
        "Status",
        "Host name",
        "Created",
    ]


def test_columns_move_without_javascript_keeps_the_saved_view_and_its_changes(
    alice: Client, ctx: str, user: User, other_user: User, demo_client: ApiClient
) -> None:
    """The view the page was opened as and the unsaved changes it leads back to stay; a
    view that is not the user's own is left out, as every canonical URL leaves it out."""
    mine = make_view(user, "Mine", demo_client, "cols=host_name&cols=status")
    query = f"view={mine.pk}&cols=host_name,status&move=status:left&unsaved=search_text%3Dx"
    response = get(alice, ctx, query, "full")
    assert response.status_code == 302
    assert response["Location"] == (
        f"{LIST}?ctx={ctx}&view={mine.pk}&cols=status&cols=host_name&unsaved=search_text%3Dx"
    )
    theirs = make_view(other_user, "Theirs", demo_client, "")
    response = get(alice, ctx, f"view={theirs.pk}&cols=host_name,status&move=status:left", "full")
    assert response["Location"] == f"{LIST}?ctx={ctx}&cols=status&cols=host_name"


@every_mode
def test_columns_bad_move_is_a_message_beside_the_chooser(
    alice: Client, ctx: str, mode: str
) -> None:
    response = get(alice, ctx, "cols=host_name,status&move=archived:left", mode)
    body = check_shape(response, mode, bad_input=True)
    assert "“archived:left” is not a move of a shown column; nothing moved." in body
    assert th_keys(body) == ["Host name", "Status"]


@every_mode
def test_columns_results_update_the_chooser_out_of_band(alice: Client, ctx: str, mode: str) -> None:
    """A page or a sort changes no column: its answer refreshes only the chooser's hidden
    fields (the page it keeps); the chooser's own form gets the whole list back."""
    body = check_shape(get(alice, ctx, "offset=20&cols=host_name,owner_email", mode), mode)
    form = 'id="columns" class="col-form"'
    state = '<div id="col-state" hx-swap-oob="true">'
    if mode == "results":
        assert form not in body and state in body
        assert '<input type="hidden" name="offset" value="20">' in body
        body = check_shape(chooser_request(alice, ctx, "cols=host_name,owner_email"), mode)
        assert state not in body  # inside the form, swapped with it
    assert form in body
    tag = body[body.index(form) :]
    assert ('hx-swap-oob="true"' in tag[: tag.index(">")]) == (mode == "results")
    # The filter form carries the columns too (its own requests keep them).
    assert '<input type="hidden" name="cols" value="owner_email">' in body


def test_columns_saved_view_keeps_them(alice: Client, ctx: str) -> None:
    query = "statuses=connected&cols=owner_email&cols=host_name"
    response = alice.post(
        reverse("connections:view_create"), {"ctx": ctx, "name": "Owners", "query": query}
    )
    assert response.status_code == 302
    opened = alice.get(response["Location"])
    body = body_of(opened)
    assert th_keys(body) == ["Owner email", "Host name"]


def test_columns_export_links_follow_them(alice: Client, ctx: str) -> None:
    body = body_of(get(alice, ctx, "cols=owner_email,host_name", "full"))
    links = re.findall(r'href="(/connections/export\.csv\?[^"]+)"', body)
    assert links and all("cols=owner_email&amp;cols=host_name" in u for u in links[:3])
    every = [u for u in links if "cols" not in u]
    assert len(every) == 1  # "All columns"
    assert ">All columns</a>" in body
    csv_text = b"".join(alice.get(unescape(links[0])).streaming_content).decode()
    assert csv_text.startswith("Host organization ID,Owner email,Host name\r\n")
    assert "All columns" not in body_of(get(alice, ctx, "", "full"))


# --- the pager above the table and the results heading ----------------------------------


@every_mode
def test_pager_above_and_below_the_table_with_distinct_ids(
    alice: Client, ctx: str, mode: str
) -> None:
    body = check_shape(get(alice, ctx, "offset=20", mode), mode)
    top = body.index('aria-label="Pages (above the table)"')
    table, bottom = body.index('<table class="grid">'), body.index('aria-label="Pagination"')
    assert top < table < bottom
    base = escape(f"{LIST}?ctx={ctx}&offset=40")
    assert f'id="top-page-next" href="{base}"' in body[top:table]
    assert f'id="page-next" href="{base}"' in body[bottom:]
    ids = re.findall(r'\bid="([^"]+)"', body)
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert '<h2 id="results-heading" class="range" tabindex="-1">21–40 of 302</h2>' in body


# --- keyboard shortcuts and loading: what app.js works with ------------------------------


@page_modes
def test_shortcuts_dialog_and_loading_status_are_on_the_page(
    alice: Client, ctx: str, mode: str
) -> None:
    body = check_shape(get(alice, ctx, "", mode), mode)
    assert '<dialog id="shortcuts" class="shortcuts" aria-labelledby="shortcuts-title">' in body
    assert "<kbd>j</kbd> / <kbd>k</kbd></dt><dd>Next / previous row</dd>" in body
    assert '<form method="dialog">' in body
    assert '<span id="still-loading" role="status"></span>' in body
    assert '<button type="button" id="cancel-loading" class="btn btn-small" hidden>Cancel' in body
    assert "<script" not in body.split("</head>")[-1]  # CSP: no inline script


def test_shortcuts_dialog_not_in_the_results_partial(alice: Client, ctx: str) -> None:
    body = check_shape(get(alice, ctx, "offset=20", "results"), "results")
    assert 'id="shortcuts"' not in body  # it stays where it is; the rows change


# --- the detail page's previous and next rows -----------------------------------------


def nav_links(body: str) -> dict[str, tuple[str, str]]:
    """The detail page's previous and next row links: rel → (row id, back query)."""
    found = {}
    for href, rel in re.findall(r'<a class="btn" href="([^"]+)" rel="(prev|next)"', body):
        parts = urlsplit(unescape(href))
        host_id = parts.path.removeprefix(LIST).strip("/")
        found[rel] = (host_id, parse_qs(parts.query).get("back", [""])[0])
    return found


@pytest.mark.parametrize(
    ("back", "index", "prev", "next_"),
    [
        ("offset=20", 25, (24, "offset=20"), (26, "offset=20")),
        ("offset=20", 20, (19, ""), (21, "offset=20")),  # first of its page
        ("offset=20", 39, (38, "offset=20"), (40, "offset=40")),  # last of its page
        ("limit=100", 99, (98, "limit=100"), (100, "limit=100&offset=100")),  # two calls
        ("", 0, None, (1, "")),
    ],
)
def test_detail_previous_and_next_rows_of_the_list_view(
    alice: Client,
    sandbox: SandboxApp,
    ctx: str,
    back: str,
    index: int,
    prev: tuple[int, str] | None,
    next_: tuple[int, str] | None,
) -> None:
    rows = expected_rows(sandbox)
    response = detail(alice, ctx, rows[index]["host_organization_id"], back or "limit=20")
    assert response.status_code == 200
    found = nav_links(body_of(response))
    for rel, want in (("prev", prev), ("next", next_)):
        if want is None:
            assert rel not in found
        else:
            assert found[rel] == (rows[want[0]]["host_organization_id"], want[1])


def test_detail_last_row_has_no_next_and_no_back_no_links(
    alice: Client, sandbox: SandboxApp, ctx: str
) -> None:
    rows = expected_rows(sandbox)
    body = body_of(detail(alice, ctx, rows[-1]["host_organization_id"], "offset=300"))
    assert set(nav_links(body)) == {"prev"}
    assert nav_links(body)["prev"][0] == rows[-2]["host_organization_id"]
    body = body_of(detail(alice, ctx, rows[5]["host_organization_id"]))  # no list view
    assert nav_links(body) == {}
    # A row outside the view it claims (another search): no neighbours, the page is fine.
    response = detail(alice, ctx, rows[5]["host_organization_id"], "search_text=zzzz")
    assert response.status_code == 200 and nav_links(body_of(response)) == {}
