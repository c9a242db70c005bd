"""Saved views: create, rename, update, delete, default, share and copy."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from connections import context, selectors, services
from connections.context import ContextDenied, OrgContext
from connections.links import _list_path, list_url, saved_view_url
from connections.models import SavedView
from connections.query import ListQuery
from connections.views.connections import REJECTED_NAME_KEY


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
