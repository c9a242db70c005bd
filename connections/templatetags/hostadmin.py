"""Template filters: messages placed next to the control they are about.

A view adds ``extra_tags="field:<name>"`` to a message about one control; the template
shows it there (``messages|for_field:"save-view"``) and the page-level list skips it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import template

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
