"""The connections list and the detail page."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import push_url, reswap, retarget

from connections import api, context, presenters, selectors
from connections.context import OrgContext
from connections.links import _detail_path_parts, list_url, saved_view_url
from connections.models import SavedView
from connections.query import LABELS, ORDER_FIELDS, PAGE_SIZES, SEARCH_FIELDS, ListQuery
from connections.views.access import error_status, htmx_fragment, with_org_context


@require_GET
@login_required
@vary_on_headers("HX-Request", "HX-Target")
@with_org_context
@htmx_fragment
def connection_list(request: HttpRequest, ctx: OrgContext) -> HttpResponse:
    if not request.GET:
        default = selectors.saved_view_get_default(user=request.user)
        # A default made in a context the user lost would redirect to a 403, every time.
        if default and not context.usable_client(request, default.api_client_id):
            default = None
        if default and (url := saved_view_url(default)):
            return redirect(url)
    parsed = ListQuery.parse(request.GET)
    htmx = getattr(request, "htmx", None)
    # Messages about bad input stand next to their controls, in the form: then the whole
    # content region is swapped, not only the results.
    results_only = bool(htmx and htmx.target == "results") and not parsed.messages
    page_data, status = _list_page(
        request, ctx, parsed.query, parsed.messages, with_panel=not results_only
    )
    template = "connections/list.html"
    if htmx:
        template += "#results" if results_only else "#content"
        page_data["oob"] = results_only
    response = render(request, template, page_data, status=status)
    if htmx:
        push_url(response, page_data["canonical_url"])
        if htmx.target == "results" and not results_only:
            retarget(response, "#content")
            reswap(response, "outerHTML")
    return response


def _list_page(
    request: HttpRequest,
    ctx: OrgContext,
    query: ListQuery,
    errors: dict[str, str],
    *,
    with_panel: bool = True,
) -> tuple[dict[str, Any], int]:
    """Everything the list template needs, with one upstream call. The saved-views panel
    is left out of a results-only update (it does not change with the filters)."""
    active_view = selectors.saved_view_get(user=request.user, view_id=request.GET.get("view"))
    view_id = active_view.pk if active_view else None

    def url(q: ListQuery) -> str:
        return list_url(ctx, q, view_id)

    data: dict[str, Any] = {
        "query": query,
        "errors": errors,
        # The sort's controls are the column headers: the sorted one points at its messages.
        "sort_errors": " ".join(f"err-{k}" for k in ("order_by", "order_dir") if k in errors),
        "ctx": ctx,
        "ctx_label": ctx.describe(context.target_label(request, ctx.target_org_id)),
        "canonical_url": url(query),
        "reset_url": list_url(ctx),
        "columns": presenters.columns(query, url),
        "chips": presenters.filter_chips(query, url),
        "search_fields": [(f, LABELS[f]) for f in SEARCH_FIELDS],
        "order_fields": ORDER_FIELDS,
        "page_sizes": PAGE_SIZES,
        "active_view": active_view,
        "view_modified": bool(active_view and active_view.query != query.saved_querystring()),
        **(_views_panel(request, ctx, active_view) if with_panel else {}),
    }
    try:
        page = api.list_host_connections(ctx.caller, query)
    except api.ApiError as exc:
        data["api_error"] = exc
        return data, error_status(exc)
    now = timezone.now()
    back = query.querystring() + (f"&view={view_id}" if view_id is not None else "")
    before_id, after_id = _detail_path_parts()
    detail_suffix = after_id + "?" + urlencode({"ctx": ctx.key, "back": back})
    data["rows"] = presenters.present_rows(
        page.items,
        timezone.get_current_timezone(),
        now,
        lambda host_id: f"{before_id}{host_id}{detail_suffix}",
    )
    data["rows_html"] = presenters.rows_html(data["rows"])
    data["pagination"] = presenters.pagination(query, page.total_items, len(page.items), url)
    data["export_rows"] = page.total_items
    data["export_cap"] = settings.EXPORT_MAX_ROWS
    data["export_too_big"] = page.total_items > settings.EXPORT_MAX_ROWS
    data["export_url"] = (
        reverse("connections:export") + "?" + urlencode([("ctx", ctx.key), *query.to_params()])
    )
    data["export_id"] = uuid.uuid4().hex
    return data, 200


def _views_panel(request: HttpRequest, ctx: OrgContext, active: SavedView | None) -> dict[str, Any]:
    usable = context.usable_clients(request)
    allowed = {c.pk for c in usable}
    own, shared_with_me = selectors.saved_view_list_panel(user=request.user, clients=usable)
    mine = []
    for view in own:
        ok = view.api_client_id in allowed
        parsed = ListQuery.from_querystring(view.query)
        mine.append(
            {
                "view": view,
                "url": saved_view_url(view, parsed.query) if ok else None,
                "unavailable": not ok,
                "invalid": not parsed.is_clean,
                "active": active is not None and active.pk == view.pk,
            }
        )
    shared = [{"view": v, "url": saved_view_url(v)} for v in shared_with_me]
    return {"my_views": mine, "shared_views": shared}


@require_GET
@login_required
@with_org_context
def connection_detail(
    request: HttpRequest, ctx: OrgContext, host_org_id: uuid.UUID
) -> HttpResponse:
    back_raw = request.GET.get("back", "")
    back = ListQuery.from_querystring(back_raw).query  # re-validated: no junk goes back out
    view_ids = parse_qs(back_raw).get("view", [""])
    view = selectors.saved_view_get(user=request.user, view_id=view_ids[0])
    back_url = list_url(ctx, back, view.pk if view else None)
    data: dict[str, Any] = {"ctx": ctx, "back_url": back_url, "host_org_id": host_org_id}
    try:
        item = api.get_host_connection(ctx.caller, host_org_id)
    except api.ApiError as exc:
        data["api_error"] = exc
        return render(request, "connections/detail.html", data, status=error_status(exc))
    now: datetime = timezone.now()
    data["item"] = item
    data["fields"] = presenters.detail_fields(item, timezone.get_current_timezone(), now)
    return render(request, "connections/detail.html", data)
