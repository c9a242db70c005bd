"""Template tags: the cells of the connections table's rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

from django import template
from django.utils.safestring import SafeString

from connections.presenters import DASH, Row, Stamp
from connections.query import COLUMNS, ColumnName

register = template.Library()


@register.simple_tag
def connection_cells(
    row: Row, cols: Sequence[ColumnName] = COLUMNS, time_display: str = "relative"
) -> SafeString:
    """The cells of a row of the connections table, one per shown column in its order
    (list.html loops over the rows: ``{% connection_cells row listing.query.cols ... %}``).

    Here and not as cells in the template: Django's template engine costs ~5 µs a value
    and ``format_html`` ~4 µs an argument, and a 100-row page has 1,500 values; either
    way the page took ~7 ms longer (bench/bench_list.py), a third of its budget. Every
    text is escaped with ``html.escape``, which is what Django's ``escape`` calls.

    Name and email cells are ``cut``: they may be cut off, and unfold (app.css); the host
    name's is the ``key`` (the row's link; it stays put when the table scrolls sideways).

    ``time_display`` is the user's choice (UserPreferences): "absolute" shows the exact
    local time and puts the relative one in the title, "relative" the other way round."""
    absolute = time_display == "absolute"
    # every value is escaped, or a time from _time
    return SafeString("".join([_CELLS[col](row, absolute) for col in cols]))


def _text(value: str) -> str:
    return f'<td class="cut" title="{escape(value)}">{escape(value)}</td>'


_CELLS: dict[str, Callable[[Row, bool], str]] = {
    "host_name": lambda row, _: (
        f'<td class="cut key" title="{escape(row.host_name)}">'
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
