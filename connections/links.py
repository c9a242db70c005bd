"""Every URL the app builds, in one place (Datasette's ``url_builder``).

A list URL is the whole state of a view: the context first, the saved view it was opened
as, then the query in its canonical form. The other pages' links carry what they need to
lead back to it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import cache
from typing import Literal
from urllib.parse import urlencode

from django.urls import reverse

from connections.context import OrgContext
from connections.models import SavedView
from connections.query import ListQuery


def list_url(
    ctx: OrgContext,
    query: ListQuery | None = None,
    view_id: int | None = None,
    *,
    unsaved: str = "",
) -> str:
    """The canonical, bookmarkable URL of a list view: context first, then the query;
    ``unsaved`` is the modified saved view this link leaves (``leaving_url``)."""
    params: list[tuple[str, str]] = [("ctx", ctx.key)]
    if view_id is not None:
        params.append(("view", str(view_id)))
    if query is not None:
        params += query.to_params()
    return leaving_url(f"{_path('list')}?{urlencode(params)}", unsaved)


def leaving_url(url: str, unsaved: str) -> str:
    """``url`` (a list URL), carrying ``unsaved``, the query string of the modified saved
    view it leaves, so that page can lead back to those changes (without JavaScript: with
    it, the links include the page's current state as they are followed)."""
    return f"{url}&{urlencode([('unsaved', unsaved)])}" if unsaved else url


def list_row_url(
    ctx: OrgContext, query: ListQuery, view_id: int | None, host_org_id: uuid.UUID
) -> str:
    """A list view with one of its rows as the fragment (``#c-<id>``): where a detail page
    leads back to; the list scrolls to that row and marks it (app.js)."""
    return f"{list_url(ctx, query, view_id)}#c-{host_org_id}"


@cache
def _path(name: str) -> str:
    """The path of a route without arguments, from ``reverse()`` once per process (the
    list page builds a dozen links on these paths)."""
    return reverse(f"connections:{name}")


def saved_view_url(view: SavedView, query: ListQuery | None = None) -> str | None:
    """Where a saved view opens; None when its context no longer exists."""
    if view.api_client is None:
        return None
    ctx = OrgContext(view.api_client, str(view.target_org_id))
    if query is None:
        query = ListQuery.from_querystring(view.query).query
    return list_url(ctx, query, view.pk)


def facets_url(ctx: OrgContext, query: ListQuery) -> str:
    """Where the list page loads its filter choices' counts from (after the rows)."""
    params = [("ctx", ctx.key), *query.to_params(include_offset=False)]
    return f"{_path('facets')}?{urlencode(params)}"


def detail_url(
    ctx: OrgContext,
    host_org_id: uuid.UUID,
    back: ListQuery | None = None,
    view_id: int | None = None,
) -> str:
    """One connection's page; ``back`` and ``view_id`` are the list view it leads back to."""
    return detail_urls(ctx, back, view_id)(host_org_id)


def detail_urls(
    ctx: OrgContext, back: ListQuery | None, view_id: int | None
) -> Callable[[uuid.UUID], str]:
    """``detail_url`` for the rows of one list page, which differ by id only. The path
    comes from ``reverse()`` once per process: 100 calls of reverse() cost ~4 ms a page,
    a fifth of its budget; these 100 links cost 0.3 ms."""
    before, after = _detail_path_parts()
    back_params = back.to_params() if back is not None else []
    if view_id is not None:
        back_params.append(("view", str(view_id)))
    params = [("ctx", ctx.key)] + ([("back", urlencode(back_params))] if back_params else [])
    suffix = f"{after}?{urlencode(params)}"
    return lambda host_org_id: f"{before}{host_org_id}{suffix}"


@cache
def _detail_path_parts() -> tuple[str, str]:
    """The detail path before and after its id, from the URLconf."""
    zero = uuid.UUID(int=0)
    before, _, after = reverse("connections:detail", args=[zero]).partition(str(zero))
    return before, after


def export_params(
    ctx: OrgContext,
    query: ListQuery,
    *,
    scope: Literal["all", "page"] = "all",
    bom: bool = False,
    view_id: int | None = None,
) -> str:
    """The query string of one export of a view (``scope="page"``: of the page shown
    only); ``view_id`` is the saved view it was asked from (a refusal leads back to it).
    Stored with the export's progress, so a failed export can be asked for again."""
    params = [("ctx", ctx.key)]
    if view_id is not None:
        params.append(("view", str(view_id)))
    params += query.to_params()
    if scope == "page":
        params.append(("scope", "page"))
    if bom:
        params.append(("bom", "1"))
    return urlencode(params)


def export_url(params: str, export_id: str) -> str:
    """The CSV download itself (a GET: the link that works without JavaScript)."""
    return f"{_path('export')}?{params}&{urlencode([('export_id', export_id)])}"


def export_start_url(params: str) -> str:
    """Where the list page's export button first asks (a POST) whether the export may
    start: the answer is its progress region, or the reason it may not, in place."""
    return f"{_path('export_start')}?{params}"


def export_progress_url(export_id: str, polls: int | None = None) -> str:
    url = reverse("connections:export_progress", args=[export_id])
    return url if polls is None else f"{url}?{urlencode([('polls', polls)])}"


def export_cancel_url(export_id: str) -> str:
    return reverse("connections:export_cancel", args=[export_id])


def export_dismiss_url(export_id: str) -> str:
    return reverse("connections:export_dismiss", args=[export_id])


def background_export_start_url(ctx: OrgContext, query: ListQuery) -> str:
    """Where the list page POSTs "Export in the background": the view in the URL."""
    params = [("ctx", ctx.key), *query.to_params(include_offset=False)]
    return f"{_path('background_export_start')}?{urlencode(params)}"


def background_exports_url() -> str:
    return reverse("connections:background_exports")


def background_export_action_url(export_id: object, action: str) -> str:
    """download, cancel, retry or delete (each a POST)."""
    return reverse(f"connections:background_export_{action}", args=[export_id])
