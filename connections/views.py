"""Views: parse the input, call one function, render. Permission checks live here."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from functools import cache, wraps
from typing import Any
from urllib.parse import parse_qs, urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import push_url, reswap, retarget

from connections import api, context, presenters, selectors, services
from connections.context import ContextDenied, OrgContext
from connections.models import AuditEvent, SavedView
from connections.query import LABELS, ORDER_FIELDS, PAGE_SIZES, SEARCH_FIELDS, ListQuery
from hostadmin.client_ip import client_ip

ContextView = Callable[..., HttpResponseBase]
REJECTED_NAME_KEY = "rejected_view_name"

_API_STATUS = {
    api.ApiForbidden: 403,
    api.ApiBusy: 429,
    api.ApiUnavailable: 503,
    api.ApiNotFound: 404,
}


def error_status(exc: api.ApiError) -> int:
    for cls, status in _API_STATUS.items():
        if isinstance(exc, cls):
            return status
    return 502


# --- org context -----------------------------------------------------------------------


def with_org_context(view: ContextView) -> ContextView:
    """Resolve the org context (from ``?ctx=`` or the session) and pass it to the view.

    A ``ctx`` key the user may use switches the session to it; one they may not use gets
    a 403 page naming the missing access, and no upstream call is made."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        key = request.GET.get("ctx")
        try:
            ctx = context.from_key(request, key) if key is not None else context.current(request)
        except ContextDenied as exc:
            return _denied(request, str(exc))
        if ctx is None:
            return _denied(
                request, "Your account has no API client yet. Ask an administrator for access."
            )
        if key is not None and ctx.key != context.stored_key(request):
            _switch(request, ctx)
        request.org_ctx = ctx  # type: ignore[attr-defined]
        return view(request, ctx, *args, **kwargs)

    return wrapper


def _denied(request: HttpRequest, reason: str) -> HttpResponse:
    """The 403 page (for htmx, HtmxErrorPageMiddleware makes it replace the whole page)."""
    return render(request, "connections/denied.html", {"reason": reason}, status=403)


def _switch(request: HttpRequest, ctx: OrgContext, label: str = "") -> None:
    context.store(request, ctx, label)
    services.audit_record(
        user=request.user,  # type: ignore[arg-type]
        action=AuditEvent.Action.CONTEXT_SWITCH,
        context=ctx.describe(label),
        ip_address=client_ip(request),
        detail={"client": ctx.client.pk, "target": ctx.target_org_id},
    )


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


@require_POST
@login_required
def switch_context(request: HttpRequest) -> HttpResponse:
    raw_client = request.POST.get("client", "")
    raw_target = request.POST.get("target", "").strip()
    target: str | None = None
    if raw_target and raw_target.lower() != "self":
        try:
            target = str(uuid.UUID(raw_target))
        except ValueError:
            messages.error(
                request,
                "The target must be an organization UUID, or “self”.",
                extra_tags="field:ctx",
            )
            return redirect("connections:list")
    try:
        ctx = context.build(request, int(raw_client), target)
    except (ValueError, ContextDenied):
        messages.error(
            request, "You do not have access to that API client.", extra_tags="field:ctx"
        )
        return redirect("connections:list")
    _switch(request, ctx, _target_label(ctx))
    return redirect(list_url(ctx))


def _target_label(ctx: OrgContext) -> str:
    """The target's name where the upstream gives one (as a host of the requester)."""
    if ctx.is_self:
        return ""
    own = OrgContext(ctx.client, str(ctx.client.organization_id))
    try:
        return api.get_host_connection(own.caller, uuid.UUID(ctx.target_org_id)).host_name
    except api.ApiError:
        return ""


# --- the list --------------------------------------------------------------------------


@require_GET
@login_required
@vary_on_headers("HX-Request", "HX-Target")
@with_org_context
def connection_list(request: HttpRequest, ctx: OrgContext) -> HttpResponse:
    if not request.GET:
        default = selectors.default_view_of(request.user)
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
        response.htmx_fragment = True  # type: ignore[attr-defined]
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
    active_view = selectors.saved_view_of(request.user, request.GET.get("view", ""))
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
    own, shared_with_me = selectors.views_panel_for(request.user, usable)
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
    rejected = request.session.pop(REJECTED_NAME_KEY, "")
    return {"my_views": mine, "shared_views": shared, "rejected_name": rejected}


# --- the detail page -------------------------------------------------------------------


@require_GET
@login_required
@with_org_context
def connection_detail(
    request: HttpRequest, ctx: OrgContext, host_org_id: uuid.UUID
) -> HttpResponse:
    back_raw = request.GET.get("back", "")
    back = ListQuery.from_querystring(back_raw).query  # re-validated: no junk goes back out
    view_ids = parse_qs(back_raw).get("view", [""])
    view = selectors.saved_view_of(request.user, view_ids[0])
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


# --- saved views -----------------------------------------------------------------------


def _posted_context(request: HttpRequest) -> OrgContext:
    """The context of the page the form was on (its ``ctx`` field), re-checked; not the
    session's, which another tab may have switched since (the session's without one)."""
    key = request.POST.get("ctx")
    try:
        ctx = context.from_key(request, key) if key else context.current(request)
    except ContextDenied:
        ctx = None
    if ctx is None:
        raise Http404("No such org context.")
    return ctx


def _own_view_or_404(request: HttpRequest, view_id: str) -> SavedView:
    view = selectors.saved_view_of(request.user, view_id)
    if view is None:
        raise Http404("No such saved view.")
    return view


def _back_to_list(
    request: HttpRequest, view: SavedView | None = None, url: str | None = None
) -> HttpResponse:
    """After a change, go back to the list (htmx: a full-page redirect to it)."""
    url = url or (saved_view_url(view) if view else None) or _list_path()
    if getattr(request, "htmx", None):
        response = HttpResponse(status=204)
        response["HX-Location"] = url
        return response
    return redirect(url)


@require_POST
@login_required
def view_create(request: HttpRequest) -> HttpResponse:
    ctx = _posted_context(request)
    query = ListQuery.from_querystring(request.POST.get("query", "")).query
    try:
        view = services.saved_view_create(
            owner=request.user,  # type: ignore[arg-type]
            name=request.POST.get("name", ""),
            query=query,
            ctx=ctx,
        )
    except services.SavedViewError as exc:
        messages.error(request, str(exc), extra_tags="field:save-view")
        # Nothing lost: back to the same filters, with the rejected name in the field.
        request.session[REJECTED_NAME_KEY] = request.POST.get("name", "")[:100]
        return _back_to_list(request, url=list_url(ctx, query))
    messages.success(request, f"Saved view “{view.name}”.")
    return _back_to_list(request, view)


@require_POST
@login_required
def view_rename(request: HttpRequest, view_id: str) -> HttpResponse:
    view = _own_view_or_404(request, view_id)
    try:
        services.saved_view_rename(view=view, name=request.POST.get("name", ""))
    except services.SavedViewError as exc:
        messages.error(request, str(exc), extra_tags=f"field:{view.pk}")
    else:
        messages.success(request, f"Renamed to “{view.name}”.")
    return _back_to_list(request)


@require_POST
@login_required
def view_update(request: HttpRequest, view_id: str) -> HttpResponse:
    view = _own_view_or_404(request, view_id)
    ctx = _posted_context(request)
    query = ListQuery.from_querystring(request.POST.get("query", "")).query
    services.saved_view_update(view=view, query=query, ctx=ctx)
    messages.success(request, f"Updated view “{view.name}”.")
    return _back_to_list(request, view)


@require_GET
@login_required
def view_confirm_delete(request: HttpRequest, view_id: str) -> HttpResponse:
    view = _own_view_or_404(request, view_id)
    return render(request, "connections/confirm_delete.html", {"view": view})


@require_POST
@login_required
def view_delete(request: HttpRequest, view_id: str) -> HttpResponse:
    view = _own_view_or_404(request, view_id)
    name = view.name
    services.saved_view_delete(view=view)
    messages.success(request, f"Deleted view “{name}”.")
    return _back_to_list(request)


@require_POST
@login_required
def view_default(request: HttpRequest, view_id: str) -> HttpResponse:
    view = _own_view_or_404(request, view_id)
    if request.POST.get("default") == "0":
        services.saved_view_clear_default(view=view)
        messages.success(request, f"“{view.name}” is no longer your default view.")
    else:
        services.saved_view_make_default(view=view)
        messages.success(request, f"“{view.name}” now opens when you visit the list.")
    return _back_to_list(request)


@require_POST
@login_required
def view_share(request: HttpRequest, view_id: str) -> HttpResponse:
    view = _own_view_or_404(request, view_id)
    shared = request.POST.get("shared") != "0"
    services.saved_view_set_shared(view=view, shared=shared)
    verb = "is now shared with" if shared else "is no longer shared with"
    messages.success(request, f"“{view.name}” {verb} everyone who has access to its context.")
    return _back_to_list(request)


@require_POST
@login_required
def view_copy(request: HttpRequest, view_id: str) -> HttpResponse:
    view = selectors.shared_view_for(request.user, view_id)
    if view is None:
        raise Http404("No such saved view.")
    try:
        copy = services.saved_view_copy(view=view, owner=request.user)  # type: ignore[arg-type]
    except services.SavedViewError as exc:
        messages.error(request, str(exc))
        return _back_to_list(request)
    messages.success(request, f"Copied “{view.name}” to your views as “{copy.name}”.")
    return _back_to_list(request, copy)
