"""connections/presenters.py: relative times, timestamps, rows and the detail fields."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from connections import presenters
from tests.conftest import DETAIL_LABELS, NOW, host_connection

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


def test_stamp_is_local_time_to_the_second() -> None:
    value = datetime(2026, 10, 31, 23, 30, 5, tzinfo=UTC)
    s = presenters.stamp(value, ZoneInfo("America/New_York"), NOW)
    assert s == presenters.Stamp(
        iso="2026-10-31 19:30:05-04:00", exact="2026-10-31 19:30:05 EDT", relative="12 hours ago"
    )


def test_stamp_in_utc_names_the_zone() -> None:
    s = presenters.stamp(datetime(2026, 10, 29, 12, 0, 42, tzinfo=UTC), UTC, NOW)
    assert (s.iso, s.exact) == ("2026-10-29 12:00:42+00:00", "2026-10-29 12:00:42 UTC")


@pytest.mark.parametrize(
    ("value", "zone", "exact"),
    [  # where the zone would leave years 1..9999, the time stays in UTC
        (datetime(1, 1, 1, tzinfo=UTC), "America/New_York", "0001-01-01 00:00:00 UTC"),
        (datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC), "Asia/Tokyo", "9999-12-31 23:59:59 UTC"),
    ],
)
def test_stamp_at_the_edge_of_time_has_four_digit_years(
    value: datetime, zone: str, exact: str
) -> None:
    s = presenters.stamp(value, ZoneInfo(zone), NOW)
    assert s.exact == exact
    assert s.iso == exact.removesuffix(" UTC") + "+00:00"


def test_maybe_stamp_none_is_none() -> None:
    assert presenters.maybe_stamp(None, UTC, NOW) is None


# --- rows ------------------------------------------------------------------------------


def test_present_row_fills_nulls_with_none_or_dash() -> None:
    item = host_connection(updated_at="2026-10-31T12:00:00.000000")
    row = presenters.present_row(item, UTC, NOW, "/x")
    assert row.archived == "No"
    assert row.archived_at is None
    assert row.action == presenters.DASH
    assert row.action_updated_at is None
    assert row.status_label == "Connected"
    assert row.created_at.relative == "1 month ago"
    assert row.updated_at.exact == "2026-10-31 12:00:00 UTC"  # naive: read as UTC
    assert row.href == "/x"


def test_present_row_with_action_and_archive() -> None:
    item = host_connection(
        archived=True,
        status="disconnected",
        archived_at="2026-11-01T10:59:59.123456",
        active_action_type="analytics_request",
        active_action_updated_at="2026-11-01T11:58:00Z",
    )
    row = presenters.present_row(item, UTC, NOW)
    assert row.archived == "Yes"
    assert (row.status, row.status_label) == ("disconnected", "Disconnected")
    assert row.action == "Analytics request"
    assert row.archived_at is not None
    assert row.archived_at.relative == "1 hour ago"
    assert row.archived_at.exact == "2026-11-01 10:59:59 UTC"  # to the second
    assert row.action_updated_at is not None
    assert row.action_updated_at.relative == "2 minutes ago"


def test_present_row_keeps_text_as_is_for_the_template_to_escape() -> None:
    name = "<script>alert('x')</script> Lending"
    row = presenters.present_row(host_connection(host_name=name), UTC, NOW)
    assert row.host_name == name


def test_present_rows_builds_hrefs_from_ids() -> None:
    item = host_connection()
    rows = presenters.present_rows([item], UTC, NOW, lambda host_id: f"/c/{host_id}/")
    assert rows[0].href == "/c/11111111-1111-4111-8111-111111111111/"


def test_detail_fields_lists_every_field() -> None:
    item = host_connection(active_action_type="analytics_request")
    fields = presenters.detail_fields(item, UTC, NOW)
    assert [f.label for f in fields] == DETAIL_LABELS
    by_label = {f.label: f for f in fields}
    assert by_label["Host organization ID"].text == str(item.host_organization_id)
    assert by_label["Guest organization ID"].uuid is True
    assert by_label["Host name"].uuid is False
    created = by_label["Created"].stamp
    assert created is not None
    assert (created.exact, created.relative) == ("2026-10-01 12:00:00 UTC", "1 month ago")
    assert by_label["Archived at"].stamp is None
    assert by_label["Archived at"].text == presenters.DASH
    assert by_label["Active action"].text == "Analytics request"
