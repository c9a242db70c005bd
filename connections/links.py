"""Every URL the app builds, in one place (Datasette's ``url_builder``)."""

from __future__ import annotations

import uuid
from functools import cache
from urllib.parse import urlencode

from django.urls import reverse

from connections.context import OrgContext
from connections.models import SavedView
from connections.query import ListQuery


def list_url(ctx: OrgContext, query: ListQuery | None = None, view_id: int | None = None) -> str:
    """The canonical, bookmarkable URL of a list view: context first, then the query."""
    params: list[tuple[str, str]] = [("ctx", ctx.key)]
    if view_id is not None:
        params.append(("view", str(view_id)))
    if query is not None:
        params += query.to_params()
    return f"{_list_path()}?{urlencode(params)}"


@cache
def _list_path() -> str:
    return reverse("connections:list")


@cache
def _detail_path_parts() -> tuple[str, str]:
    """The detail URL before and after its id, from the URLconf: 100 rows join them
    instead of calling reverse() 100 times."""
    zero = uuid.UUID(int=0)
    before, _, after = reverse("connections:detail", args=[zero]).partition(zero.hex)
    return before, after


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
    return f"{reverse('connections:facets')}?{urlencode(params)}"
