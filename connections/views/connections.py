"""The connections list and the detail page."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseBase
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import push_url, reswap, retarget

from connections import api, context, links, presenters, selectors, targets
from connections.context import ContextDenied, OrgContext
from connections.listing import (
    ConnectionList,
    UnsavedChanges,
    ViewsPanel,
    detail_neighbours,
    exports_panel,
    views_panel,
)
from connections.models import SavedView
from connections.query import ListQuery, PageParams, ParsedQuery
from connections.views.access import htmx_fragment, render_page, with_org_context
from connections.views.request import HtmxHttpRequest

LIST_TEMPLATE = "connections/list.html"


@require_GET
@login_required
@vary_on_headers("HX-Request", "HX-Target", "HX-Trigger")  # HX-Trigger: list.html#results
@with_org_context
@htmx_fragment
def connection_list(request: HtmxHttpRequest, ctx: OrgContext) -> HttpResponseBase:
    parsed, page, user = ListQuery.parse(request.GET), PageParams.parse(request.GET), request.user
    if elsewhere := _redirect_url(request, ctx, parsed, page):
        return redirect(elsewhere)
    view = selectors.saved_view_get(user=user, view_id=page.view)
    listing = ConnectionList.load(
        ctx,
        parsed.query,
        errors=parsed.messages,
        view=view,
        target_label="" if ctx.is_self else targets.target_name(ctx=ctx),
    )
    partial = _partial(request, parsed)
    data: dict[str, object] = {"listing": listing, "oob": partial == "results"}
    unsaved = None
    if partial != "results":  # the saved-views and exports panels stay as filters change
        unsaved = _unsaved_changes(request, page.unsaved, listing)
        panel = _views_panel(request, view, listing.unsaved_state)
        data.update(panel=panel, exports=exports_panel(user_id=user.pk), unsaved=unsaved)
    template = f"{LIST_TEMPLATE}#{partial}" if partial else LIST_TEMPLATE
    response = render_page(request, template, data, listing.api_error)
    return _htmx_headers(request, response, listing, partial, unsaved)


def _redirect_url(
    request: HtmxHttpRequest, ctx: OrgContext, parsed: ParsedQuery, page: PageParams
) -> str | None:
    """Where a list request goes instead: the bare list URL opens the user's default view;
    a column move sent without htmx (the chooser's form as a plain GET) lands on the view's
    canonical URL, so a reload or a bookmark does not move the column once more."""
    if not request.GET:
        return _default_view_url(request)
    if "move" in request.GET and not request.htmx and parsed.is_clean:
        view = selectors.saved_view_get(user=request.user, view_id=page.view)  # the user's own
        return links.list_url(ctx, parsed.query, view.pk if view else None, unsaved=page.unsaved)
    return None


def _default_view_url(request: HtmxHttpRequest) -> str | None:
    """Where the bare list URL opens: the user's default view, if its context still works
    (one made in a context the user lost would redirect to a 403, every time)."""
    default = selectors.saved_view_get_default(user=request.user)
    if default is None or not context.usable_client(request, default.api_client_id):
        return None
    return links.saved_view_url(default)


def _partial(request: HtmxHttpRequest, parsed: ParsedQuery) -> str | None:
    """The part of list.html an htmx request gets: only the results for a change of the
    filters, sort or page; the whole content region when there are messages about bad
    input, which stand next to their controls in the form."""
    if not request.htmx:
        return None
    return "results" if request.htmx.target == "results" and parsed.is_clean else "content"


def _htmx_headers(
    request: HtmxHttpRequest,
    response: HttpResponse,
    listing: ConnectionList,
    partial: str | None,
    unsaved: UnsavedChanges | None,
) -> HttpResponse:
    """htmx puts the canonical URL in the address bar (with the unsaved changes the page
    leads back to, so a reload still does); a results request answered with the whole
    content region (messages about bad input) is told to swap that instead."""
    if partial is None:
        return response
    push_url(response, links.leaving_url(listing.canonical_url, unsaved.left if unsaved else ""))
    if request.htmx.target == "results" and partial == "content":
        retarget(response, "#content")
        reswap(response, "outerHTML")
    return response


def _unsaved_changes(
    request: HtmxHttpRequest, left: str, listing: ConnectionList
) -> UnsavedChanges | None:
    """The modified saved view the user left for this page (``left``: that list's query
    string, from the link that left it), if it is the user's own, in a context they may
    still use, and still differs from what is saved: the panel leads back to it."""
    view = selectors.saved_view_get(
        user=request.user, view_id=PageParams.from_querystring(left).view
    )
    key = parse_qs(left).get("ctx", [""])[0]
    try:
        ctx = context.from_key(request, key) if view is not None else None
    except ContextDenied:
        return None
    query = ListQuery.from_querystring(left).query
    if ctx is None or view is None or view.query == query.saved_querystring():
        return None
    url = links.list_url(ctx, query, view.pk)
    return None if url == listing.canonical_url else UnsavedChanges(view.name, url, left)


def _views_panel(request: HtmxHttpRequest, active: SavedView | None, unsaved: str) -> ViewsPanel:
    return views_panel(
        user=request.user,
        clients=context.usable_clients(request),
        active=active,
        unsaved=unsaved,
    )


@require_GET
@login_required
@with_org_context
def connection_detail(
    request: HtmxHttpRequest, ctx: OrgContext, host_org_id: uuid.UUID
) -> HttpResponse:
    back = PageParams.parse(request.GET).back  # the list view the link came from
    view_param = PageParams.from_querystring(back).view
    view = selectors.saved_view_get(user=request.user, view_id=view_param)
    # Parsed again: nothing but a valid list query of the user's own view goes back out.
    query, view_id = ListQuery.from_querystring(back).query, view.pk if view else None
    data: dict[str, object] = {
        "ctx": ctx,
        "host_org_id": host_org_id,
        "back_url": links.list_row_url(ctx, query, view_id, host_org_id),
        "own_org_url": links.list_url(ctx.own),
    }
    try:
        item = api.get_host_connection(ctx.caller, host_org_id)
    except api.ApiError as exc:
        return render_page(request, "connections/detail.html", {**data, "api_error": exc}, exc)
    tz, now = timezone.get_current_timezone(), timezone.now()
    data.update(item=item, fields=presenters.detail_fields(item, tz, now))
    if back:  # opened from a list view: its previous and next rows
        data["neighbours"] = detail_neighbours(ctx, query, view_id, host_org_id)
    return render_page(request, "connections/detail.html", data, None)


@require_GET
@login_required
def connection_detail_hex(request: HtmxHttpRequest, host_org_id: str) -> HttpResponse:
    """Links of earlier versions wrote the id as 32 hex digits (or in capitals): they
    lead to the page's one address, with the same query."""
    try:
        url = reverse("connections:detail", args=[uuid.UUID(host_org_id)])
    except ValueError:
        raise Http404("No such connection.") from None
    query = request.GET.urlencode()
    return redirect(f"{url}?{query}" if query else url, permanent=True)
