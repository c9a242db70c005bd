"""Template filters: messages placed next to the control they are about, and times.

A view adds ``extra_tags="field:<name>"`` to a message about one control; the template
shows it there (``messages|for_field:"save-view"``) and the page-level list skips it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from connections.presenters import DASH, Stamp

register = template.Library()
FIELD = "field:"


def _field(message: Any) -> str:
    for tag in str(getattr(message, "extra_tags", "") or "").split():
        if tag.startswith(FIELD):
            return tag.removeprefix(FIELD)
    return ""


@register.filter
def for_field(messages: Iterable[Any], name: str) -> list[Any]:
    return [m for m in messages if _field(m) == str(name)]


@register.filter
def page_level(messages: Iterable[Any]) -> list[Any]:
    return [m for m in messages if not _field(m)]


@register.filter
def stamp(value: Stamp | None) -> SafeString | str:
    """A time in a table cell: the relative text, the exact time in its title and its
    ``datetime`` (a dash for none). A filter, not a partial: a page has up to 400, and a
    partial with its ``{% with %}`` renders them ~N times slower (bench/bench_list.py)."""
    if value is None:
        return DASH
    return format_html(
        '<time datetime="{}" title="{}">{}</time>', value["iso"], value["exact"], value["relative"]
    )
