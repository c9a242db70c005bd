"""Template filters: the cells of the connections table's rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from django import template
from django.utils.safestring import SafeString

from connections.presenters import DASH, Row, Stamp
from connections.query import COLUMNS, ColumnName

register = template.Library()


@dataclass(frozen=True, slots=True)
class CellSpec:
    """What every row of a page shares: its columns, in order, and the time display."""

    cols: Sequence[ColumnName]
    absolute: bool


@register.filter
def cell_spec(cols: Sequence[ColumnName], time_display: str = "relative") -> CellSpec:
    """``{% with spec=listing.query.cols|cell_spec:prefs.time_display %}``, once a page:
    the rows' filter then takes one argument, as cheap to pass as Django allows."""
    return CellSpec(tuple(cols), time_display == "absolute")


@register.filter
def connection_cells(row: Row, spec: CellSpec | str = "relative") -> SafeString:
    """The cells of a row of the connections table, one per shown column in its order
    (list.html loops over the rows: ``{{ row|connection_cells:spec }}``; a time display
    alone means every column).

    Here and not as cells in the template: Django's template engine costs ~5 µs a value
    and ``format_html`` ~4 µs an argument, and a 100-row page has 1,500 values; either
    way the page took ~7 ms longer (bench/bench_list.py), a third of its budget. A filter
    and not a simple tag: a tag's arguments cost ~20 µs a row more (2 ms a page). Every
    text is escaped with ``html.escape``, which is what Django's ``escape`` calls.

    Name and email cells have their value as a title: the stylesheet finds them by it (they
    may be cut off, and unfold); the host name's is the one cell with a link (the row's; it
    stays put when the table scrolls sideways). No classes: bytes on every row.

    The time display is the user's choice (UserPreferences): "absolute" shows the exact
    local time and puts the relative one in the title, "relative" the other way round."""
    if isinstance(spec, str):
        spec = cell_spec(COLUMNS, spec)
    absolute = spec.absolute
    # every value is escaped, or a time from _time
    return SafeString("".join([_CELLS[col](row, absolute) for col in spec.cols]))


def _text(value: str) -> str:
    return f'<td title="{escape(value)}">{escape(value)}</td>'


_CELLS: dict[str, Callable[[Row, bool], str]] = {
    "host_name": lambda row, _: (
        f'<td title="{escape(row.host_name)}">'
        f'<a href="{escape(row.href)}">{escape(row.host_name)}</a></td>'
    ),
    "host_email": lambda row, _: _text(row.host_email),
    "owner_email": lambda row, _: _text(row.owner_email),
    "status": lambda row, _: (
        f'<td><span class="badge badge-{escape(row.status)}">{escape(row.status_label)}</span></td>'
    ),
    "archived": lambda row, _: f"<td>{escape(row.archived)}</td>",
    "created_at": lambda row, absolute: f"<td>{_time(row.created_at, absolute)}</td>",
    "updated_at": lambda row, absolute: f"<td>{_time(row.updated_at, absolute)}</td>",
    "archived_at": lambda row, absolute: f"<td>{_time(row.archived_at, absolute)}</td>",
    "active_action_type": lambda row, _: f"<td>{escape(row.action)}</td>",
    "active_action_updated_at": lambda row, absolute: (
        f"<td>{_time(row.action_updated_at, absolute)}</td>"
    ),
}


def _time(stamp: Stamp | None, absolute: bool) -> str:
    """The relative time with the exact one as its title (or, ``absolute``, the other way
    round), in a ``<time datetime>``; or a dash."""
    if stamp is None:
        return DASH
    shown, other = (stamp.exact, stamp.relative) if absolute else (stamp.relative, stamp.exact)
    return f'<time datetime="{escape(stamp.iso)}" title="{escape(other)}">{escape(shown)}</time>'
