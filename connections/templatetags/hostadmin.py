"""Template filters: the cells of the connections table's rows."""

from __future__ import annotations

from html import escape

from django import template
from django.utils.safestring import SafeString

from connections.presenters import DASH, Row, Stamp

register = template.Library()


@register.filter
def connection_cells(row: Row, time_display: str = "relative") -> SafeString:
    """The ten cells of a row of the connections table (list.html loops over the rows).

    Here and not as cells in the template: Django's template engine costs ~5 µs a value
    and ``format_html`` ~4 µs an argument, and a 100-row page has 1,500 values; either
    way the page took ~7 ms longer (bench/bench_list.py), a third of its budget. Every
    text is escaped with ``html.escape``, which is what Django's ``escape`` calls.

    ``time_display`` is the user's choice (UserPreferences): "absolute" shows the exact
    local time and puts the relative one in the title, "relative" the other way round."""
    absolute = time_display == "absolute"
    name, host_email, owner_email = (
        escape(row.host_name),
        escape(row.host_email),
        escape(row.owner_email),
    )
    return SafeString(  # every value below is escaped, or a time from _time
        f'<td title="{name}"><a href="{escape(row.href)}">{name}</a></td>'
        f'<td title="{host_email}">{host_email}</td>'
        f'<td title="{owner_email}">{owner_email}</td>'
        f'<td><span class="badge badge-{escape(row.status)}">{escape(row.status_label)}</span></td>'
        f"<td>{escape(row.archived)}</td>"
        f"<td>{_time(row.created_at, absolute)}</td>"
        f"<td>{_time(row.updated_at, absolute)}</td>"
        f"<td>{_time(row.archived_at, absolute)}</td>"
        f"<td>{escape(row.action)}</td>"
        f"<td>{_time(row.action_updated_at, absolute)}</td>"
    )


def _time(stamp: Stamp | None, absolute: bool) -> str:
    """The relative time with the exact one as its title (or, ``absolute``, the other way
    round), in a ``<time datetime>``; or a dash."""
    if stamp is None:
        return DASH
    shown, other = (stamp.exact, stamp.relative) if absolute else (stamp.relative, stamp.exact)
    return f'<time datetime="{escape(stamp.iso)}" title="{escape(other)}">{escape(shown)}</time>'
