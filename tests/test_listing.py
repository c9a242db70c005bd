"""connections/listing.py: one list page as an object (sort headers, chips, pager, rows,
export links, the saved view's state), built from an upstream page without HTTP."""

from __future__ import annotations

import uuid
from datetime import UTC
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.paginator import Paginator

from connections import api
from connections.api import HostConnectionPage
from connections.context import OrgContext
from connections.export import progress
from connections.listing import (
    SHOWN_SECONDS,
    START_WAIT_SECONDS,
    ConnectionList,
    Pager,
    export_status,
    exports_panel,
    page_numbers,
)
from connections.models import ApiClient, SavedView
from connections.query import ListQuery
from tests.conftest import NOW, host_connection

OWN_ORG = "d52c9df1-6ab7-54c7-bdf1-00a8d0a1b950"
CTX = OrgContext(ApiClient(pk=3, name="Demo Lender", organization_id=uuid.UUID(OWN_ORG)), OWN_ORG)
ITEM = host_connection()


def make(
    query: ListQuery | None = None,
    total: int = 302,
    shown: int | None = None,
    view: SavedView | None = None,
) -> ConnectionList:
    query = query or ListQuery()
    if shown is None:
        shown = max(0, min(query.limit, total - query.offset))
    page = HostConnectionPage(items=[ITEM] * shown, total_items=total)
    return ConnectionList(CTX, query, page=page, view=view, tz=UTC, now=NOW)


def rest(url: str | None) -> str | None:
    """A list URL of CTX, read back as "?<the query>" (its path and context dropped)."""
    if url is None:
        return None
    prefix = "/connections/?ctx=3"
    assert url.startswith(prefix), url
    return "?" + url.removeprefix(prefix).removeprefix("&")


def pager_of(listing: ConnectionList) -> Pager:
    assert listing.pager is not None
    return listing.pager


# --- sort headers ----------------------------------------------------------------------


def test_columns_mark_the_sorted_column() -> None:
    cols = {c.key: c for c in make(ListQuery(order_by="created_at")).columns}
    assert cols["created_at"].aria_sort == "ascending"
    assert cols["host_name"].aria_sort == ""
    assert rest(cols["created_at"].url) == "?order_by=created_at&order_dir=desc"
    assert rest(cols["host_name"].url) == "?"
    assert cols["status"].url == ""  # not sortable


def test_columns_descending_header_toggles_back_to_ascending() -> None:
    query = ListQuery(order_by="host_email", order_dir="desc", offset=40, limit=50)
    cols = {c.key: c for c in make(query).columns}
    assert cols["host_email"].aria_sort == "descending"
    assert rest(cols["host_email"].url) == "?order_by=host_email&limit=50"
    assert rest(cols["updated_at"].url) == "?order_by=updated_at&limit=50"


def test_columns_sortable_set_matches_the_contract() -> None:
    assert [c.key for c in make().columns if c.url] == [
        "host_name",
        "host_email",
        "owner_email",
        "created_at",
        "updated_at",
        "archived_at",
        "active_action_updated_at",
    ]


def test_columns_keep_the_saved_view() -> None:
    view = SavedView(pk=7, name="Mine", query="")
    cols = {c.key: c for c in make(view=view).columns}
    assert parse_qs(urlsplit(cols["host_name"].url).query)["view"] == ["7"]


def test_sort_errors_point_at_the_sort_messages() -> None:
    page = HostConnectionPage(items=[], total_items=0)
    listing = ConnectionList(CTX, ListQuery(), page=page, errors={"order_dir": "x", "limit": "y"})
    assert listing.sort_errors == "err-order_dir"


# --- the pager -------------------------------------------------------------------------


def labels(p: Pager) -> list[str]:
    return [("[" + link.label + "]") if link.current else link.label for link in p.links]


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        (1, ["[1]", "2", "3", "…", "51"]),
        (2, ["1", "[2]", "3", "4", "…", "51"]),
        (5, ["1", "2", "3", "4", "[5]", "6", "7", "…", "51"]),
        (6, ["1", "…", "4", "5", "[6]", "7", "8", "…", "51"]),
        (26, ["1", "…", "24", "25", "[26]", "27", "28", "…", "51"]),
        (47, ["1", "…", "45", "46", "[47]", "48", "49", "50", "51"]),
        (51, ["1", "…", "49", "50", "[51]"]),
    ],
)
def test_pager_elides_pages(page: int, expected: list[str]) -> None:
    assert labels(pager_of(make(ListQuery(offset=(page - 1) * 20), total=1010))) == expected


def test_page_numbers_as_djangos_elided_page_range() -> None:
    """The same numbers and gaps as Django's Paginator, for every page of 1 to 40 pages."""
    for count in range(1, 41):
        paginator: Paginator[int] = Paginator(range(count * 10), 10)
        for current in range(1, count + 1):
            django = paginator.get_elided_page_range(current, on_each_side=2, on_ends=1)
            expected = [None if n == Paginator.ELLIPSIS else n for n in django]
            assert page_numbers(current, count) == expected, (current, count)


def test_pager_few_pages_are_all_listed() -> None:
    assert labels(pager_of(make(ListQuery(offset=40), total=120))) == [
        "1",
        "2",
        "[3]",
        "4",
        "5",
        "6",
    ]


def test_pager_single_page_has_no_links() -> None:
    p = pager_of(make(total=20))
    assert p.links == []
    assert p.first is None and p.previous is None
    assert p.next is None and p.last is None


def test_pager_page_links_point_at_offsets() -> None:
    p = pager_of(make(ListQuery(limit=50, archived=True), total=1000))
    by_label = {link.label: rest(link.url) for link in p.links}
    assert by_label["2"] == "?archived=true&limit=50&offset=50"
    assert by_label["20"] == "?archived=true&limit=50&offset=950"
    assert by_label["1"] is None  # the current page is not a link


def test_pager_labels_have_thousands_separators_ids_do_not() -> None:
    p = pager_of(make(ListQuery(limit=20), total=25_000))
    assert (p.links[-1].label, p.links[-1].number) == ("1,250", 1250)
    assert rest(p.links[-1].url) == "?offset=24980"


def test_pager_first_page_has_only_forward_links() -> None:
    p = pager_of(make(total=302))
    assert (p.first_row, p.last_row, p.total) == (1, 20, 302)
    assert p.first is None and p.previous is None
    assert rest(p.next) == "?offset=20"
    assert rest(p.last) == "?offset=300"
    assert p.past_end is False


def test_pager_middle_page_links() -> None:
    p = pager_of(make(ListQuery(offset=20), total=302))
    assert (p.first_row, p.last_row) == (21, 40)
    assert rest(p.first) == "?"
    assert rest(p.previous) == "?"
    assert rest(p.next) == "?offset=40"
    assert rest(p.last) == "?offset=300"


def test_pager_last_page_is_short() -> None:
    p = pager_of(make(ListQuery(offset=300), total=302))
    assert (p.first_row, p.last_row) == (301, 302)
    assert p.next is None and p.last is None
    assert rest(p.previous) == "?offset=280"
    assert rest(p.first) == "?"


def test_pager_misaligned_offset_previous_clamps_to_zero() -> None:
    p = pager_of(make(ListQuery(offset=5), total=302))
    assert (p.first_row, p.last_row) == (6, 25)
    assert rest(p.previous) == "?"


@pytest.mark.parametrize(("offset", "total"), [(1000, 302), (40, 5), (10**30, 302)])
def test_pager_past_the_end(offset: int, total: int) -> None:
    p = pager_of(make(ListQuery(offset=offset), total=total))
    assert p.past_end is True
    assert p.first_row == 0
    last_offset = (total - 1) // 20 * 20
    assert rest(p.last_page_url) == ("?offset=" + str(last_offset) if last_offset else "?")
    assert p.next is None
    assert not any(link.current for link in p.links)


def test_pager_no_rows_at_all_is_not_past_end() -> None:
    p = pager_of(make(total=0))
    assert p.past_end is False
    assert (p.first_row, p.last_row, p.total) == (0, 0, 0)
    assert p.links == []
    assert rest(p.last_page_url) == "?"


def test_pager_no_rows_with_offset_does_not_crash() -> None:
    p = pager_of(make(ListQuery(offset=40), total=0))
    assert p.past_end is False
    assert p.links == []


@pytest.mark.parametrize("total", [2**63, 2**63 + 1, 2**64 + 5, 10**100])
def test_pager_counts_any_total_the_contract_allows(total: int) -> None:
    """Django's Paginator raises OverflowError from 2**63 rows: the pager does not."""
    last_offset = (total - 1) // 100 * 100
    p = pager_of(make(ListQuery(limit=100), total=total))
    assert labels(p)[:4] == ["[1]", "2", "3", "…"]
    assert p.links[-1].number == last_offset // 100 + 1
    assert p.links[-1].label == f"{last_offset // 100 + 1:,}"
    assert rest(p.last) == f"?limit=100&offset={last_offset}"
    near_end = pager_of(make(ListQuery(limit=100, offset=last_offset - 100), total=total))
    assert (near_end.first_row, near_end.last_row) == (last_offset - 99, last_offset)
    assert rest(near_end.next) == f"?limit=100&offset={last_offset}"


# --- filter chips ----------------------------------------------------------------------


def test_filter_chips_none_for_default() -> None:
    assert make().chips == []


def test_filter_chips_each_clears_only_itself() -> None:
    query = ListQuery(
        statuses=("disconnected",),
        search_field="owner_email",
        search_text="anna",
        archived=True,
        active_action_types=("analytics_request",),
        limit=50,
        offset=100,
    )
    chips = {c.label: rest(c.clear_url) for c in make(query).chips}
    assert chips == {
        "Status: Disconnected": (
            "?search_field=owner_email&search_text=anna&archived=true"
            "&active_action_types=analytics_request&limit=50"
        ),
        "Owner email contains “anna”": (
            "?statuses=disconnected&archived=true&active_action_types=analytics_request&limit=50"
        ),
        "Archived only": (
            "?statuses=disconnected&search_field=owner_email&search_text=anna"
            "&active_action_types=analytics_request&limit=50"
        ),
        "Active action: Analytics request": (
            "?statuses=disconnected&search_field=owner_email&search_text=anna"
            "&archived=true&limit=50"
        ),
    }


def test_filter_chips_not_archived_label() -> None:
    assert [(c.label, rest(c.clear_url)) for c in make(ListQuery(archived=False)).chips] == [
        ("Not archived", "?")
    ]


def test_filter_chips_search_field_alone_is_no_chip() -> None:
    assert make(ListQuery(search_field="host_email")).chips == []


# --- rows, export links, the saved view's state ----------------------------------------


def test_rows_link_to_the_detail_page_and_back() -> None:
    query = ListQuery(statuses=("connected",), offset=20)
    listing = make(query, view=SavedView(pk=7, name="Mine", query=""))
    assert len(listing.rows) == 20
    href = urlsplit(listing.rows[0].href)
    assert href.path == f"/connections/{ITEM.host_organization_id}/"
    assert parse_qs(href.query) == {"ctx": ["3"], "back": ["statuses=connected&offset=20&view=7"]}
    assert listing.rows[0].created_at.relative == "1 month ago"


def test_export_links_carry_the_query_and_one_export_id() -> None:
    export = make(ListQuery(archived=False, offset=40), total=302).export
    assert export is not None
    assert (export.rows, export.too_big) == (302, False)
    links = {"whole": export.whole, "excel": export.excel, "page": export.page}
    params = {name: parse_qs(urlsplit(link.href).query) for name, link in links.items()}
    assert params["whole"]["archived"] == ["false"]
    assert "scope" not in params["whole"] and "bom" not in params["whole"]
    assert params["page"]["scope"] == ["page"]
    assert params["excel"]["bom"] == ["1"]
    ids = {p["export_id"][0] for p in params.values()}
    assert len(ids) == 1
    for name, link in links.items():  # the POST that asks first: the same export, no id
        start = urlsplit(link.start)
        assert start.path == "/connections/export/start/"
        assert {**parse_qs(start.query), "export_id": list(ids)} == params[name]


def test_export_too_big_above_the_cap(settings) -> None:
    settings.EXPORT_MAX_ROWS = 300
    export = make(total=302).export
    assert export is not None
    assert (export.too_big, export.cap) == (True, 300)


@pytest.mark.parametrize(("saved", "modified"), [("archived=true", False), ("", True)])
def test_view_modified_when_the_query_differs(saved: str, modified: bool) -> None:
    view = SavedView(pk=7, name="Mine", query=saved)
    listing = make(ListQuery(archived=True, offset=40), view=view)
    assert listing.view_modified is modified
    assert rest(listing.canonical_url) == "?view=7&archived=true&offset=40"


def test_without_a_view_nothing_is_modified() -> None:
    assert make(ListQuery(archived=True)).view_modified is False


def test_api_error_leaves_no_rows_pager_or_export() -> None:
    error = api.ApiUnavailable("The API is under maintenance.", status=503)
    listing = ConnectionList(CTX, ListQuery(), page=error)
    assert listing.api_error is error
    assert (listing.rows, listing.pager, listing.export, listing.total) == ([], None, None, 0)
    assert rest(listing.canonical_url) == "?"


def test_context_label_and_the_way_to_the_own_organization() -> None:
    target = "7dc8329c-9851-559a-9f04-56fc3a2d0784"
    ctx = OrgContext(CTX.client, target)
    page = HostConnectionPage(items=[], total_items=0)
    listing = ConnectionList(ctx, ListQuery(), page=page, target_label="Quiet Bank")
    assert listing.ctx_label == "Demo Lender → Quiet Bank"
    assert listing.own_org_url == "/connections/?ctx=3"
    assert listing.reset_url == f"/connections/?ctx=3.{target}"


# --- the exports panel ----------------------------------------------------------------

AT = 1_800_000_000.0
EXPORT_ID = "ab" * 16


@pytest.mark.parametrize(
    ("entry", "polls", "state"),
    [
        (None, 0, "preparing"),  # not started yet (or someone else's: the same)
        (None, 20, "missing"),
        ({"state": "starting", "started": AT - 1}, 1, "preparing"),
        ({"state": "starting", "started": AT - START_WAIT_SECONDS - 1}, 0, "missing"),
        ({"state": "running", "total": None, "written": 0}, 3, "preparing"),  # never 0 of 0
        ({"state": "running", "total": 300, "written": 100, "updated": AT - 1}, 3, "running"),
        ({"state": "running", "total": 300, "written": 100, "updated": AT - 61}, 3, "failed"),
        ({"state": "complete", "total": 300, "written": 300}, 3, "complete"),
    ],
)
def test_export_status_states(entry: dict | None, polls: int, state: str) -> None:
    status = export_status(EXPORT_ID, entry, polls=polls, now=AT)
    assert status.state == state
    assert status.polling is (state in ("preparing", "running"))
    if state == "failed":
        assert status.reason == "the export stopped answering"


def test_export_status_announced_first_every_tenth_and_at_the_end() -> None:
    running = {"state": "running", "total": 3000, "written": 100, "updated": AT}
    heard = [p for p in range(0, 31) if export_status(EXPORT_ID, running, polls=p, now=AT).announce]
    assert heard == [1, 11, 21]
    done = {"state": "complete", "total": 3000, "written": 3000}
    assert export_status(EXPORT_ID, done, polls=7, now=AT).announce


def test_export_status_retry_asks_again_with_the_same_params() -> None:
    failed = {"state": "failed", "total": None, "reason": "busy", "params": "ctx=3&scope=page"}
    status = export_status(EXPORT_ID, failed, now=AT)
    assert status.retry_url == "/connections/export/start/?ctx=3&scope=page"
    assert export_status(EXPORT_ID, {"state": "failed"}, now=AT).retry_url is None


def test_exports_panel_hides_exports_that_ended_long_ago() -> None:
    ids = [uuid.uuid4().hex for _ in range(3)]
    progress.write_progress(ids[0], 9, 10, 10, "complete", ended=AT - SHOWN_SECONDS - 1)
    progress.write_progress(ids[1], 9, 10, 10, "complete", ended=AT - 5)
    progress.write_progress(ids[2], 9, 5, 10, "running", updated=AT)
    for export_id in ids:
        progress.remember_export(export_id, 9)
    assert [s.export_id for s in exports_panel(user_id=9, now=AT)] == ids[1:]
