"""Saved views: create, rename, update, delete, default, share and copy.

After a change the user goes back to the page they were on (``next``, a path on this
site: for htmx, the page's current URL, which the results may have moved on from since
the form was drawn) or to the view just made. A name the form refuses is shown again
with its error next to the field and what was typed in it: for htmx the form alone,
swapped in place (nothing else on the page changes, unsaved filters included); without
JavaScript, a page holding that form. Success messages are Django messages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect, push_url

from connections import context, selectors, services
from connections.context import ContextDenied, OrgContext
from connections.forms import (
    SavedViewCopyForm,
    SavedViewCreateForm,
    SavedViewRenameForm,
    SavedViewUpdateForm,
    safe_next,
)
from connections.links import list_url, saved_view_url
from connections.models import SavedView
from connections.query import ListQuery
from connections.views.access import htmx_fragment
from connections.views.request import HtmxHttpRequest

T = TypeVar("T")
FORMS = "connections/forms.html"


@require_POST
@login_required
@htmx_fragment
def view_create(request: HtmxHttpRequest) -> HttpResponse:
    ctx = _posted_context(request)
    form = SavedViewCreateForm(request.POST)
    view = _write(
        form, lambda data: services.saved_view_create(owner=request.user, ctx=ctx, **data)
    )
    if view is None:
        query = form.cleaned_data.get("query") or ListQuery()
        back = list_url(ctx, query)
        return _refused(request, "save_view_form", save_form=form, ctx=ctx, query=query, back=back)
    return _done(request, f"Saved view “{view.name}”.", saved_view_url(view))


@require_POST
@login_required
@htmx_fragment
def view_rename(request: HtmxHttpRequest, view_id: int) -> HttpResponse:
    view = _own_view(request, view_id)
    form = SavedViewRenameForm(request.POST)
    if _write(form, lambda data: services.saved_view_rename(view=view, **data)) is None:
        return _refused(request, "rename_form", rename_form=form, view=view)
    return _done(request, f"Renamed to “{view.name}”.")


@require_POST
@login_required
def view_update(request: HtmxHttpRequest, view_id: int) -> HttpResponse:
    view = _own_view(request, view_id)
    ctx = _posted_context(request)
    form = SavedViewUpdateForm(request.POST)
    form.is_valid()  # a query never fails: what is not valid in it falls back
    services.saved_view_update(view=view, query=form.cleaned_data["query"], ctx=ctx)
    return _done(request, f"Updated view “{view.name}”.", saved_view_url(view))


@require_GET
@login_required
def view_confirm_delete(request: HtmxHttpRequest, view_id: int) -> HttpResponse:
    view = _own_view(request, view_id)
    back = _next(request)
    response = render(request, "connections/confirm_delete.html", {"view": view, "next_url": back})
    if request.htmx and back:  # opened in place (hx-boost): a reload keeps the way back
        push_url(response, f"{request.path}?{urlencode({'next': back})}")
    return response


@require_POST
@login_required
def view_delete(request: HtmxHttpRequest, view_id: int) -> HttpResponse:
    view = _own_view(request, view_id)
    name = view.name
    services.saved_view_delete(view=view)
    return _done(request, f"Deleted view “{name}”.")


@require_POST
@login_required
def view_default(request: HtmxHttpRequest, view_id: int) -> HttpResponse:
    view = _own_view(request, view_id)
    if request.POST.get("default") == "0":
        services.saved_view_clear_default(view=view)
        return _done(request, f"“{view.name}” is no longer your default view.")
    services.saved_view_make_default(view=view)
    return _done(request, f"“{view.name}” now opens when you visit the list.")


@require_POST
@login_required
def view_share(request: HtmxHttpRequest, view_id: int) -> HttpResponse:
    view = _own_view(request, view_id)
    shared = request.POST.get("shared") != "0"
    services.saved_view_set_shared(view=view, shared=shared)
    verb = "is now shared with" if shared else "is no longer shared with"
    return _done(request, f"“{view.name}” {verb} everyone who has access to its context.")


@require_POST
@login_required
@htmx_fragment
def view_copy(request: HtmxHttpRequest, view_id: int) -> HttpResponse:
    view = selectors.saved_view_get_shared(user=request.user, view_id=view_id)
    if view is None:
        raise Http404("No such saved view.")
    form = SavedViewCopyForm(request.POST)
    try:
        copy = _write(
            form,
            lambda data: services.saved_view_copy(view=view, owner=request.user, **data),
            refused=services.SavedViewNameTaken,
        )
    except services.SavedViewError as exc:  # no room left: no name would help
        messages.error(request, str(exc))
        return _go(request, _next(request))
    if copy is None:
        return _refused(request, "copy_form", copy_form=form, view=view)
    return _done(
        request, f"Copied “{view.name}” to your views as “{copy.name}”.", saved_view_url(copy)
    )


# --- helpers ---------------------------------------------------------------------------


def _own_view(request: HtmxHttpRequest, view_id: int) -> SavedView:
    """The user's own view; a foreign or missing one is the same 404 (as is a malformed
    id, which the URL's ``<int:…>`` does not match)."""
    view = selectors.saved_view_get(user=request.user, view_id=view_id)
    if view is None:
        raise Http404("No such saved view.")
    return view


def _posted_context(request: HtmxHttpRequest) -> OrgContext:
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


def _write(
    form: forms.Form,
    write: Callable[[dict[str, Any]], T],
    refused: type[services.SavedViewError] = services.SavedViewError,
) -> T | None:
    """``write`` the valid form's data; None when the form, or the service (a name taken,
    no room left: the ``refused`` errors), refuses it: the reason is then the form's
    error on ``name``."""
    if not form.is_valid():
        return None
    try:
        return write(form.cleaned_data)
    except refused as exc:
        form.add_error("name", str(exc))
        return None


def _refused(request: HtmxHttpRequest, partial: str, **data: Any) -> HttpResponse:
    """The refused form again (422), with its errors and what was typed: for htmx the form
    alone, in place of the one sent; without JavaScript a page with that form."""
    back = data.pop("back", None) or _next(request) or reverse("connections:list")
    data |= {"form_partial": f"{FORMS}#{partial}", "next_url": back}
    template = data["form_partial"] if request.htmx else "connections/saved_view_form.html"
    return render(request, template, data, status=422)


def _next(request: HtmxHttpRequest) -> str | None:
    """The page the user was on, if it is a path on this site: for htmx the page's
    current URL, else the form's (or the link's) ``next``."""
    host, secure = request.get_host(), request.is_secure()
    current = request.htmx.current_url_abs_path if request.htmx else None
    raw = current or request.POST.get("next") or request.GET.get("next")
    return safe_next(raw, host=host, secure=secure)


def _done(request: HtmxHttpRequest, message: str, url: str | None = None) -> HttpResponse:
    """The change is made: say so (a Django message, shown by the next page) and go to
    ``url``, else back to the page the user was on."""
    messages.success(request, message)
    return _go(request, url or _next(request))


def _go(request: HtmxHttpRequest, url: str | None) -> HttpResponse:
    """Off to ``url`` (else the list): for htmx a full-page load, so its messages show."""
    url = url or reverse("connections:list")
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
