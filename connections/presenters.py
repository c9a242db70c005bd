"""Display values of a connection, formatted once in Python: templates print strings.

The rows of the list and the fields of the detail page; both escape in the template.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo

from connections.api import HostConnection
from connections.query import LABELS

DASH = "—"


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ is ~2x slower (400 a page)
class Stamp:
    """A timestamp: ``<time datetime="{iso}" title="{exact}">{relative}</time>``."""

    iso: str  # 2026-10-31 19:30:00-04:00, for machines (a valid datetime attribute)
    exact: str  # 2026-10-31 19:30:00 EDT, in the user's time zone
    relative: str  # 12 hours ago


@dataclass(slots=True)
class Row:
    """One row of the table, every value a display string (or a Stamp, or None: a dash)."""

    href: str
    host_name: str
    host_email: str
    owner_email: str
    status: str  # connected | disconnected, for the badge's class
    status_label: str
    archived: str
    created_at: Stamp
    updated_at: Stamp
    archived_at: Stamp | None
    action: str
    action_updated_at: Stamp | None


def relative(value: datetime, now: datetime) -> str:
    """ "3 days ago", "in 2 hours", "just now": the largest whole unit.

    Not Django's ``timesince``: it says the same in calendar units, but costs ~30 times
    as much (translation, calendar months: ~30 µs), and a page shows up to 400 of these."""
    seconds = int((now - value).total_seconds())
    future, seconds = seconds < 0, abs(seconds)
    for unit, size in (
        ("year", 31_536_000),
        ("month", 2_592_000),
        ("day", 86_400),
        ("hour", 3600),
        ("minute", 60),
    ):
        if seconds >= size:
            count = seconds // size
            text = f"{count} {unit}{'s' if count != 1 else ''}"
            return f"in {text}" if future else f"{text} ago"
    return "just now"


def stamp(value: datetime, tz: tzinfo, now: datetime) -> Stamp:
    try:
        local = value.astimezone(tz)
    except OverflowError:  # the zone would step outside years 1 to 9999: stay in UTC
        local = value
    # isoformat, not strftime ("%Y" prints year 1 as "1") nor Django's date filter (~15
    # times the cost, and a page shows up to 400 of these).
    iso = local.isoformat(" ", "seconds")
    exact = f"{iso[:19]} {local.tzname() or ''}".rstrip()
    return Stamp(iso=iso, exact=exact, relative=relative(value, now))


def maybe_stamp(value: datetime | None, tz: tzinfo, now: datetime) -> Stamp | None:
    return None if value is None else stamp(value, tz, now)


def present_row(item: HostConnection, tz: tzinfo, now: datetime, href: str = "") -> Row:
    return Row(
        href=href,
        host_name=item.host_name or DASH,
        host_email=item.host_email or DASH,
        owner_email=item.owner_email or DASH,
        status=item.status,
        status_label=LABELS[item.status],
        archived="Yes" if item.archived else "No",
        created_at=stamp(item.created_at, tz, now),
        updated_at=stamp(item.updated_at, tz, now),
        archived_at=maybe_stamp(item.archived_at, tz, now),
        action=LABELS[item.active_action_type] if item.active_action_type else DASH,
        action_updated_at=maybe_stamp(item.active_action_updated_at, tz, now),
    )


def present_rows(
    items: list[HostConnection], tz: tzinfo, now: datetime, href: Callable[..., str]
) -> list[Row]:
    """``href`` gets each row's host organization id and gives its detail link."""
    return [present_row(item, tz, now, href(item.host_organization_id)) for item in items]


@dataclass(frozen=True)
class Field:
    """One line of the detail page: a text, an id (with a copy button) or a time."""

    label: str
    text: str = DASH
    uuid: bool = False
    stamp: Stamp | None = None


def detail_fields(item: HostConnection, tz: tzinfo, now: datetime) -> list[Field]:
    def when(label: str, value: datetime | None) -> Field:
        return Field(label, stamp=maybe_stamp(value, tz, now))

    action = LABELS[item.active_action_type] if item.active_action_type else DASH

    return [
        Field("Host organization ID", str(item.host_organization_id), uuid=True),
        Field("Guest organization ID", str(item.guest_organization_id), uuid=True),
        Field("Host name", item.host_name or DASH),
        Field("Host email", item.host_email or DASH),
        Field("Owner email", item.owner_email or DASH),
        Field("Status", LABELS[item.status]),
        Field("Archived", "Yes" if item.archived else "No"),
        when("Created", item.created_at),
        when("Updated", item.updated_at),
        when("Archived at", item.archived_at),
        Field("Active action", action),
        when("Action updated", item.active_action_updated_at),
    ]
