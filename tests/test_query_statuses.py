"""Unticking both statuses (issue 11): a clear message, not every row under two empty boxes.

The filter form is to send a blank ``statuses`` from a hidden input before its two boxes,
so "none ticked" arrives as only that blank, while a link or bookmark without ``statuses``
keeps meaning "both".
"""

from __future__ import annotations

from django.http import QueryDict

from connections.query import STATUSES, ListQuery


def test_parse_no_status_ticked_is_a_message_not_every_row() -> None:
    parsed = ListQuery.parse(QueryDict("statuses=&search_text=anna"))
    assert parsed.messages == {"statuses": "Choose at least one status; showing both."}
    assert parsed.query.statuses == STATUSES
    assert parsed.query.search_text == "anna"


def test_parse_ticked_status_after_the_forms_blank_is_clean() -> None:
    parsed = ListQuery.parse(QueryDict("statuses=&statuses=connected"))
    assert parsed.is_clean
    assert parsed.query.statuses == ("connected",)


def test_parse_no_statuses_parameter_means_both_and_is_clean() -> None:
    parsed = ListQuery.parse(QueryDict("archived=true"))
    assert parsed.is_clean
    assert parsed.query.statuses == STATUSES
