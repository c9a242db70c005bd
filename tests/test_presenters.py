"""Presenters: relative times, timestamps, rows, sort headers, pagination and chips."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils.html import escape

from connections import presenters
from connections.api import HostConnection
from connections.query import MAX_OFFSET, ListQuery

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def qs(query: ListQuery) -> str:
    """A url_for that makes every link easy to read back."""
    return "?" + query.querystring()


# --- relative time ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(0), "just now"),
        (timedelta(seconds=59), "just now"),
        (timedelta(seconds=60), "1 minute ago"),
        (timedelta(seconds=119), "1 minute ago"),
        (timedelta(minutes=2), "2 minutes ago"),
        (timedelta(minutes=59, seconds=59), "59 minutes ago"),
        (timedelta(hours=1), "1 hour ago"),
        (timedelta(hours=23, minutes=59), "23 hours ago"),
        (timedelta(days=1), "1 day ago"),
        (timedelta(days=29), "29 days ago"),
        (timedelta(days=30), "1 month ago"),
        (timedelta(days=364), "12 months ago"),
        (timedelta(days=365), "1 year ago"),
        (timedelta(days=365 * 3 + 10), "3 years ago"),
    ],
)
def test_relative_past(delta: timedelta, expected: str) -> None:
    assert presenters.relative(NOW - delta, NOW) == expected


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(seconds=30), "just now"),
        (timedelta(minutes=1), "in 1 minute"),
        (timedelta(hours=5), "in 5 hours"),
        (timedelta(days=2), "in 2 days"),
        (timedelta(days=400), "in 1 year"),
    ],
)
def test_relative_future(delta: timedelta, expected: str) -> None:
    assert presenters.relative(NOW + delta, NOW) == expected


def test_relative_compares_instants_across_time_zones() -> None:
    value = datetime(2026, 11, 1, 13, 0, tzinfo=ZoneInfo("Europe/Berlin"))  # 12:00 UTC
    assert presenters.relative(value, NOW) == "just now"


# --- stamps ----------------------------------------------------------------------------


def test_stamp_none_is_none_and_cell_is_dash() -> None:
    assert presenters.stamp(None, UTC, NOW) is None
    assert presenters.stamp_cell(None, UTC, NOW) == f"<td>{presenters.DASH}</td>"


def test_stamp_exact_is_local_time() -> None:
    value = datetime(2026, 10, 31, 23, 30, tzinfo=UTC)
    s = presenters.stamp(value, ZoneInfo("America/New_York"), NOW)
    assert s is not None
    assert s.exact == "2026-10-31 19:30:00 EDT"
    assert s.relative == "12 hours ago"


def test_stamp_cell_is_relative_with_the_minute_on_hover() -> None:
    value = NOW - timedelta(days=3) + timedelta(seconds=42)
    html = presenters.stamp_cell(value, UTC, NOW)
    assert html == '<td title="2026-10-29 12:00 UTC">2 days ago</td>'


# --- rows ------------------------------------------------------------------------------


def make_item(**overrides: object) -> HostConnection:
    data: dict[str, object] = {
        "host_organization_id": "11111111-1111-4111-8111-111111111111",
        "guest_organization_id": "22222222-2222-4222-8222-222222222222",
        "host_name": "Acme Lending",
        "host_email": "contact@acme.example",
        "owner_email": "anna@acme.example",
        "status": "connected",
        "archived": False,
        "created_at": "2026-10-01T12:00:00Z",
        "updated_at": "2026-10-31T12:00:00.000000",
        "archived_at": None,
        "active_action_type": None,
        "active_action_updated_at": None,
    }
    data.update(overrides)
    return HostConnection.model_validate(data)


def test_present_row_fills_nulls_with_dash() -> None:
    row = presenters.present_row(make_item(), UTC, NOW, "/x")
    assert row.archived == "No"
    assert row.archived_at == "<td>—</td>"
    assert row.action == presenters.DASH
    assert row.action_updated_at == "<td>—</td>"
    assert row.status_label == "Connected"
    assert "1 month ago" in row.created_at
    assert "1 day ago" in row.updated_at
    assert row.href == "/x"


def test_present_row_with_action_and_archive() -> None:
    item = make_item(
        archived=True,
        status="disconnected",
        archived_at="2026-11-01T10:59:59.123456",
        active_action_type="analytics_request",
        active_action_updated_at="2026-11-01T11:58:00Z",
    )
    row = presenters.present_row(item, UTC, NOW)
    assert row.archived == "Yes"
    assert row.status_label == "Disconnected"
    assert row.action == "Analytics request"
    assert "1 hour ago" in row.archived_at
    assert "2 minutes ago" in row.action_updated_at


@pytest.mark.parametrize(
    "name",
    ["<script>alert('x')</script> Lending", '"><img src=x onerror=alert(1)>', "Müller & Söhne"],
)
def test_present_row_html_escapes_text(name: str) -> None:
    item = make_item(host_name=name, owner_email="<o>@x.example")
    row = presenters.present_row(item, UTC, NOW, '/c/?a=1&b="2"')
    html = str(row.html)
    assert name not in html
    assert escape(name) in html
    assert "<o>" not in html
    assert 'href="/c/?a=1&amp;b=&quot;2&quot;"' in html
    assert '<td title="2026-10-01 12:00 UTC">1 month ago</td>' in html  # stamps stay HTML


def test_present_row_html_has_no_tooltips_on_text_cells() -> None:
    """app.js adds a title only to a cell that is cut off; the HTML carries none."""
    item = make_item(host_name="Acme Lending", owner_email="owner@acme.example")
    html = str(presenters.present_row(item, UTC, NOW, "/c/").html)
    assert '<td><a href="/c/">Acme Lending</a></td>' in html
    assert "<td>owner@acme.example</td>" in html
    assert html.count("<td title=") == 2  # created and updated only


def test_present_rows_builds_hrefs_from_ids() -> None:
    item = make_item()
    rows = presenters.present_rows([item], UTC, NOW, lambda host_id: f"/c/{host_id}/")
    assert rows[0].href == f"/c/{item.host_organization_id.hex}/"


def test_detail_fields_lists_every_field() -> None:
    item = make_item(active_action_type="analytics_request")
    fields = presenters.detail_fields(item, UTC, NOW)
    labels = [label for label, _, _ in fields]
    assert labels == [
        "Host organization ID",
        "Guest organization ID",
        "Host name",
        "Host email",
        "Owner email",
        "Status",
        "Archived",
        "Created",
        "Updated",
        "Archived at",
        "Active action",
        "Action updated",
    ]
    values = dict((label, value) for label, value, _ in fields)
    assert values["Host organization ID"] == str(item.host_organization_id)
    assert values["Created"] == "2026-10-01 12:00:00 UTC (1 month ago)"
    assert values["Archived at"] == presenters.DASH
    assert values["Active action"] == "Analytics request"
    kinds = {label: kind for label, _, kind in fields}
    assert kinds["Guest organization ID"] == "uuid"
    assert kinds["Host name"] == "text"


# --- sort headers ----------------------------------------------------------------------


def test_columns_mark_the_sorted_column() -> None:
    cols = {c.key: c for c in presenters.columns(ListQuery(order_by="created_at"), qs)}
    assert cols["created_at"].aria_sort == "ascending"
    assert cols["host_name"].aria_sort == ""
    assert cols["created_at"].url == "?order_by=created_at&order_dir=desc"
    assert cols["host_name"].url == "?"
    assert cols["status"].sortable is False
    assert cols["status"].url == ""


def test_columns_descending_header_toggles_back_to_ascending() -> None:
    query = ListQuery(order_by="host_email", order_dir="desc", offset=40, limit=50)
    cols = {c.key: c for c in presenters.columns(query, qs)}
    assert cols["host_email"].aria_sort == "descending"
    assert cols["host_email"].url == "?order_by=host_email&limit=50"
    assert cols["updated_at"].url == "?order_by=updated_at&limit=50"


def test_columns_sortable_set_matches_the_contract() -> None:
    sortable = [c.key for c in presenters.columns(ListQuery(), qs) if c.sortable]
    assert sortable == [
        "host_name",
        "host_email",
        "owner_email",
        "created_at",
        "updated_at",
        "archived_at",
        "active_action_updated_at",
    ]


# --- pagination ------------------------------------------------------------------------


def labels(p: presenters.Pagination) -> list[str]:
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
def test_pagination_elides_pages(page: int, expected: list[str]) -> None:
    query = ListQuery(offset=(page - 1) * 20)
    p = presenters.pagination(query, 1010, 20 if page < 51 else 10, qs)
    assert labels(p) == expected


def test_pagination_few_pages_are_all_listed() -> None:
    p = presenters.pagination(ListQuery(offset=40), 120, 20, qs)
    assert labels(p) == ["1", "2", "[3]", "4", "5", "6"]


def test_pagination_single_page_has_no_links() -> None:
    p = presenters.pagination(ListQuery(), 20, 20, qs)
    assert p.links == []
    assert p.first is None and p.previous is None
    assert p.next is None and p.last is None


def test_pagination_page_links_point_at_offsets() -> None:
    p = presenters.pagination(ListQuery(limit=50, archived=True), 1000, 50, qs)
    by_label = {link.label: link.url for link in p.links}
    assert by_label["2"] == "?archived=true&limit=50&offset=50"
    assert by_label["20"] == "?archived=true&limit=50&offset=950"
    assert by_label["1"] is None  # the current page is not a link


def test_pagination_labels_have_thousands_separators() -> None:
    p = presenters.pagination(ListQuery(limit=20), 25_000, 20, qs)
    assert p.links[-1].label == "1,250"
    assert p.links[-1].url == "?offset=24980"


def test_pagination_first_page_has_only_forward_links() -> None:
    p = presenters.pagination(ListQuery(), 302, 20, qs)
    assert (p.first_row, p.last_row, p.total) == (1, 20, 302)
    assert p.first is None and p.previous is None
    assert p.next == "?offset=20"
    assert p.last == "?offset=300"
    assert p.past_end is False


def test_pagination_middle_page_links() -> None:
    p = presenters.pagination(ListQuery(offset=20), 302, 20, qs)
    assert (p.first_row, p.last_row) == (21, 40)
    assert p.first == "?"
    assert p.previous == "?"
    assert p.next == "?offset=40"
    assert p.last == "?offset=300"


def test_pagination_last_page_is_short() -> None:
    p = presenters.pagination(ListQuery(offset=300), 302, 2, qs)
    assert (p.first_row, p.last_row) == (301, 302)
    assert p.next is None and p.last is None
    assert p.previous == "?offset=280"
    assert p.first == "?"


def test_pagination_misaligned_offset_previous_clamps_to_zero() -> None:
    p = presenters.pagination(ListQuery(offset=5), 302, 20, qs)
    assert (p.first_row, p.last_row) == (6, 25)
    assert p.previous == "?"


@pytest.mark.parametrize(("offset", "total"), [(1000, 302), (40, 5), (MAX_OFFSET, 302)])
def test_pagination_past_the_end(offset: int, total: int) -> None:
    p = presenters.pagination(ListQuery(offset=offset), total, 0, qs)
    assert p.past_end is True
    assert p.first_row == 0
    last_offset = (total - 1) // 20 * 20
    assert p.last_page_url == ("?offset=" + str(last_offset) if last_offset else "?")
    assert p.next is None
    assert not any(link.current for link in p.links)


def test_pagination_no_rows_at_all_is_not_past_end() -> None:
    p = presenters.pagination(ListQuery(), 0, 0, qs)
    assert p.past_end is False
    assert (p.first_row, p.last_row, p.total) == (0, 0, 0)
    assert p.links == []
    assert p.last_page_url == "?"


def test_pagination_no_rows_with_offset_does_not_crash() -> None:
    p = presenters.pagination(ListQuery(offset=40), 0, 0, qs)
    assert p.past_end is False
    assert p.links == []


# --- filter chips ----------------------------------------------------------------------


def test_filter_chips_none_for_default() -> None:
    assert presenters.filter_chips(ListQuery(), qs) == []


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
    chips = {c.label: c.clear_url for c in presenters.filter_chips(query, qs)}
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
    chips = presenters.filter_chips(ListQuery(archived=False), qs)
    assert [(c.label, c.clear_url) for c in chips] == [("Not archived", "?")]


def test_filter_chips_search_field_alone_is_no_chip() -> None:
    assert presenters.filter_chips(ListQuery(search_field="host_email"), qs) == []


def test_present_row_id_is_the_host_uuid() -> None:
    host_id = uuid.uuid4()
    row = presenters.present_row(make_item(host_organization_id=str(host_id)), UTC, NOW)
    assert row.id == str(host_id)


def test_stamp_cell_title_in_local_zone() -> None:
    value = datetime(2026, 10, 31, 23, 30, tzinfo=UTC)
    html = presenters.stamp_cell(value, ZoneInfo("America/New_York"), NOW)
    assert ">12 hours ago</td>" in html
    assert 'title="2026-10-31 19:30 EDT"' in html
    assert presenters.stamp_cell(None, UTC, NOW) == "<td>—</td>"
