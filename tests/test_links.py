"""connections/links.py: every URL the app builds, each read back as a browser would."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import resolve

from connections import links
from connections.context import OrgContext
from connections.models import ApiClient, SavedView
from connections.query import ListQuery, PageParams

OWN_ORG = "d52c9df1-6ab7-54c7-bdf1-00a8d0a1b950"
TARGET = "7dc8329c-9851-559a-9f04-56fc3a2d0784"
CLIENT = ApiClient(pk=3, name="Demo Lender", organization_id=uuid.UUID(OWN_ORG))
SELF = OrgContext(CLIENT, OWN_ORG)
HOST_ID = uuid.UUID("11111111-1111-4111-8111-111111111111")


def params(url: str) -> list[tuple[str, str]]:
    """A URL's query in order, as pairs."""
    query = urlsplit(url).query
    return [tuple(pair.split("=", 1)) for pair in query.split("&")] if query else []  # type: ignore[misc]


def test_list_url_context_first_then_view_then_query() -> None:
    url = links.list_url(OrgContext(CLIENT, TARGET), ListQuery(archived=True, offset=20), 7)
    assert url == f"/connections/?ctx=3.{TARGET}&view=7&archived=true&offset=20"
    assert resolve(urlsplit(url).path).url_name == "list"


def test_list_url_of_a_context_alone() -> None:
    assert links.list_url(SELF) == "/connections/?ctx=3"


def test_saved_view_url_opens_its_context_and_query() -> None:
    view = SavedView(pk=9, api_client=CLIENT, target_org_id=uuid.UUID(TARGET), query="limit=50")
    assert links.saved_view_url(view) == f"/connections/?ctx=3.{TARGET}&view=9&limit=50"


def test_saved_view_url_of_a_lost_context_is_none() -> None:
    view = SavedView(pk=9, api_client=None, target_org_id=uuid.UUID(TARGET), query="")
    assert links.saved_view_url(view) is None


def test_detail_url_is_the_uuid_with_the_list_to_go_back_to() -> None:
    back = ListQuery(search_text="a & b", offset=40)
    url = links.detail_url(SELF, HOST_ID, back, 7)
    parts = urlsplit(url)
    assert parts.path == f"/connections/{HOST_ID}/"
    match = resolve(parts.path)
    assert (match.url_name, match.kwargs) == ("detail", {"host_org_id": HOST_ID})
    query = parse_qs(parts.query)
    assert query["ctx"] == ["3"]
    page = PageParams.from_querystring(query["back"][0])  # as the detail view reads it
    assert page.view == 7
    assert ListQuery.from_querystring(query["back"][0]).query == back


def test_detail_url_without_a_list_has_only_the_context() -> None:
    assert links.detail_url(SELF, HOST_ID) == f"/connections/{HOST_ID}/?ctx=3"


def test_detail_urls_of_a_page_differ_by_id_only() -> None:
    url_of = links.detail_urls(SELF, ListQuery(limit=50), None)
    other = uuid.uuid4()
    assert url_of(HOST_ID) == links.detail_url(SELF, HOST_ID, ListQuery(limit=50))
    assert url_of(other) == url_of(HOST_ID).replace(str(HOST_ID), str(other))


@pytest.mark.parametrize(
    ("options", "extra"),
    [
        ({}, []),
        ({"scope": "page"}, [("scope", "page")]),
        ({"bom": True}, [("bom", "1")]),
    ],
)
def test_export_url_carries_context_query_and_export_id(
    options: dict[str, object], extra: list[tuple[str, str]]
) -> None:
    export = links.export_params(SELF, ListQuery(archived=False), **options)  # type: ignore[arg-type]
    url = links.export_url(export, "ab" * 16)
    assert urlsplit(url).path == "/connections/export.csv"
    assert params(url) == [("ctx", "3"), ("archived", "false"), *extra, ("export_id", "ab" * 16)]
    start = links.export_start_url(export)
    assert urlsplit(start).path == "/connections/export/start/"
    assert params(start) == [("ctx", "3"), ("archived", "false"), *extra]


def test_export_params_keep_the_saved_view() -> None:
    export = links.export_params(SELF, ListQuery(limit=50), scope="page", view_id=12)
    assert export == "ctx=3&view=12&limit=50&scope=page"


def test_export_progress_url() -> None:
    assert links.export_progress_url("ab" * 16) == f"/connections/export/{'ab' * 16}/progress/"
    assert links.export_progress_url("ab" * 16, 3).endswith("/progress/?polls=3")
