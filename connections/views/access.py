"""The org context of a request, the 403 page, and how upstream errors map to statuses."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render

from connections import api, context, services, targets
from connections.context import ContextDenied, OrgContext
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
            switch_to(request, ctx)
        request.org_ctx = ctx  # type: ignore[attr-defined]
        return view(request, ctx, *args, **kwargs)

    return wrapper


def _denied(request: HttpRequest, reason: str) -> HttpResponse:
    """The 403 page (for htmx, HtmxErrorPageMiddleware makes it replace the whole page)."""
    return render(request, "connections/denied.html", {"reason": reason}, status=403)


def switch_to(request: HttpRequest, ctx: OrgContext, label: str = "") -> None:
    """Store ``ctx`` in the session and audit it by its target's name (a bookmarked
    link brings no name: targets.target_name finds it)."""
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
