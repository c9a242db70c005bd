"""The org context of a request, the 403 page, and how upstream errors map to statuses."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render

from connections import api, context, services, targets
from connections.context import ContextDenied, OrgContext
from connections.links import list_url
from connections.models import AuditEvent
from hostadmin.client_ip import client_ip

ContextView = Callable[..., HttpResponseBase]

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


def render_page(
    request: HttpRequest, template: str, data: dict[str, Any], error: api.ApiError | None
) -> HttpResponse:
    """Render a page that shows an upstream error, if any, with that error's status; a
    429 says when to come back (``Retry-After``, whole seconds)."""
    status = error_status(error) if error is not None else 200
    response = render(request, template, data, status=status)
    if isinstance(error, api.ApiBusy):
        wait = error.retry_after if math.isfinite(error.retry_after) else 1.0
        response["Retry-After"] = str(max(1, math.ceil(wait)))
    return response


def with_org_context(view: ContextView) -> ContextView:
    """Resolve the page's org context and pass it to the view: the URL's ``?ctx=``, else
    the session's, checked again on every request.

    It only reads: the URL's context is that page's alone (the session and the audit log
    change only on the switcher's POST, ``switch_to``). A ``ctx`` the user may not use
    gets a 403 page naming the missing access, and no upstream call is made."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        key = request.GET.get("ctx")
        try:
            ctx = context.from_key(request, key) if key is not None else context.current(request)
        except ContextDenied as exc:
            return denied(request, str(exc))
        if ctx is None:
            return denied(
                request, "Your account has no API client yet. Ask an administrator for access."
            )
        request.org_ctx = ctx  # type: ignore[attr-defined]  # the header's switcher shows it
        return view(request, ctx, *args, **kwargs)

    return wrapper


def denied(request: HttpRequest, reason: str) -> HttpResponse:
    """The 403 page, with a way out to a context that works (never the refused one).
    For htmx, HtmxErrorPageMiddleware makes it replace the whole page."""
    way_out = context.fallback(request)
    data = {"reason": reason, "way_out": list_url(way_out) if way_out else None}
    return render(request, "connections/denied.html", data, status=403)


def switch_to(request: HttpRequest, ctx: OrgContext, label: str = "") -> None:
    """Make ``ctx`` the session's context, and audit it by its target's name: only for the
    switcher's POST (a bookmarked link brings no name: targets.target_name finds it)."""
    label = label or targets.target_name(ctx=ctx)
    context.store(request, ctx, label)
    services.audit_record(
        user=request.user,  # type: ignore[arg-type]
        action=AuditEvent.Action.CONTEXT_SWITCH,
        context=ctx.describe(label),
        ip_address=client_ip(request),
        detail={"client": ctx.client.pk, "target": ctx.target_org_id},
    )


def htmx_fragment(view: ContextView) -> ContextView:
    """For htmx, this view answers with a fragment of the page, error statuses included:
    HtmxErrorPageMiddleware leaves such responses where the page's ``hx-target`` puts
    them (a whole error page, such as the 403 of ``with_org_context``, replaces the page)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = view(request, *args, **kwargs)
        response.htmx_fragment = True  # type: ignore[attr-defined]
        return response

    return wrapper
