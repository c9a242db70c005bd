"""The CSV export endpoints: the streamed download, the list page's "may it start?", its
progress, its cancel button and the exports panel's dismiss.

The list page's export buttons first POST to ``export_start``, which answers with the
export's progress region (and an ``hostadmin:download`` event that makes the page follow
the download link) or with the reason it may not start, in place, next to the buttons.
Without JavaScript the same buttons are plain links to the download, and a refusal is a
page that leads back to the exact list the link came from.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from connections import api, export, links, selectors, services, targets
from connections.context import OrgContext
from connections.forms import safe_next
from connections.listing import export_status
from connections.models import AuditEvent
from connections.query import ListQuery, PageParams, ParsedQuery
from connections.views.access import error_status, htmx_fragment, with_org_context
from connections.views.request import HtmxHttpRequest
from hostadmin.client_ip import client_ip

BUSY_RETRY = 5.0  # seconds a refused export suggests waiting (Retry-After) without a better figure
PROGRESS = "connections/export_progress.html"
DOWNLOAD_EVENT = "hostadmin:download"  # static/js/app.js follows its url

Refusal = export.ExportRefused | api.ApiError


@require_GET
@login_required
@with_org_context
def export_csv(request: HtmxHttpRequest, ctx: OrgContext) -> HttpResponse | StreamingHttpResponse:
    parsed, page = ListQuery.parse(request.GET), PageParams.parse(request.GET)
    back = _back(request, ctx, parsed.query, page)
    if not parsed.is_clean:
        return export_refused(request, back, _invalid(parsed))
    export_id = _export_id(request, page)
    try:
        job = _start(request, ctx, parsed, page, export_id)
    except (export.ExportRefused, api.ApiError) as exc:
        export.mark_refused(export_id, request.user.pk, str(exc), **_details(ctx, parsed, page))
        return export_refused(request, back, exc)
    response = StreamingHttpResponse(job.stream(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{job.filename}"'
    response["Cache-Control"] = "no-store"
    response["X-Export-Rows"] = str(job.total)
    return response


@require_POST
@login_required
@with_org_context
@htmx_fragment
def export_start(request: HtmxHttpRequest, ctx: OrgContext) -> HttpResponse:
    parsed, page = ListQuery.parse(request.GET), PageParams.parse(request.GET)
    back = _back(request, ctx, parsed.query, page)
    if not parsed.is_clean:
        return export_refused(request, back, _invalid(parsed))
    try:
        export.export_check(
            caller=ctx.caller,
            query=parsed.query,
            user_id=request.user.pk,
            whole_view=page.scope == "all",
        )
    except (export.ExportRefused, api.ApiError) as exc:
        return export_refused(request, back, exc)
    export_id, details = uuid.uuid4().hex, _details(ctx, parsed, page)
    export.mark_requested(export_id, request.user.pk, **details)
    return _download(request, export_id, links.export_url(details["params"], export_id))


@require_GET
@login_required
@htmx_fragment
def export_progress(request: HtmxHttpRequest, export_id: str) -> HttpResponse:
    polls = PageParams.parse(request.GET).polls
    status = export_status(export_id, export.progress_of(export_id, request.user.pk), polls=polls)
    return render(request, PROGRESS, {"s": status})


@require_POST
@login_required
@htmx_fragment
def export_cancel(request: HtmxHttpRequest, export_id: str) -> HttpResponse:
    cancelled = export.request_cancel(export_id, request.user.pk)
    status = export_status(export_id, export.progress_of(export_id, request.user.pk))
    return render(request, PROGRESS, {"s": status}, status=200 if cancelled else 404)


@require_POST
@login_required
def export_dismiss(request: HtmxHttpRequest, export_id: str) -> HttpResponse:
    """Take a finished export off the user's list (its region goes: an empty answer)."""
    if not export.forget_export(export_id, request.user.pk):
        raise Http404("No such export.")
    if request.htmx:
        return HttpResponse("")
    host, secure = request.get_host(), request.is_secure()
    back = safe_next(request.POST.get("next"), host=host, secure=secure)
    return redirect(back or reverse("connections:list"))


# --- helpers ---------------------------------------------------------------------------


def _export_id(request: HtmxHttpRequest, page: PageParams) -> str:
    """The download's own id (progress, cancel): the link's, unless another user's
    export holds it."""
    raw = page.export_id
    usable = export.valid_export_id(raw) and export.export_id_free(raw, request.user.pk)
    return raw if usable else uuid.uuid4().hex


def _start(
    request: HtmxHttpRequest, ctx: OrgContext, parsed: ParsedQuery, page: PageParams, export_id: str
) -> export.Export:
    """Start the export the link asks for. Raises export.ExportRefused or api.ApiError."""
    return export.start_export(
        caller=ctx.caller,
        query=parsed.query,
        user_id=request.user.pk,
        export_id=export_id,
        whole_view=page.scope == "all",
        bom=page.bom,
        org_label=ctx.client.name if ctx.is_self else ctx.target_org_id,
        on_finish=_audit(request, ctx, parsed.query),
        details=_details(ctx, parsed, page),
    )


def _details(ctx: OrgContext, parsed: ParsedQuery, page: PageParams) -> dict[str, str]:
    """What the exports panel shows of an export, and how to ask for it again."""
    scope = "This page" if page.scope == "page" else "Whole view"
    params = links.export_params(
        ctx, parsed.query, scope=page.scope, bom=page.bom, view_id=page.view
    )
    label = f"{scope}{' for Excel' if page.bom else ''}, {targets.context_describe(ctx=ctx)}"
    return {"label": label, "params": params}


def _audit(
    request: HtmxHttpRequest, ctx: OrgContext, query: ListQuery
) -> Callable[[export.Export], None]:
    """What writes the export's audit row when it ends (complete, cancelled or failed)."""
    user, ip_address = request.user, client_ip(request)

    def audit(job: export.Export) -> None:
        services.audit_record(
            user=user,
            action=AuditEvent.Action.EXPORT,
            context=targets.context_describe(ctx=ctx),
            ip_address=ip_address,
            detail={
                "query": query.querystring(),
                "scope": "all" if job.whole_view else "page",
                "rows": job.written,
                "total": job.total,
                "duration_ms": job.duration_ms,
                "outcome": job.outcome,
            },
        )

    return audit


def _back(request: HtmxHttpRequest, ctx: OrgContext, query: ListQuery, page: PageParams) -> str:
    """The list the export was asked from, as near as it can be: its query parsed again,
    and its saved view if it is the user's own."""
    view = selectors.saved_view_get(user=request.user, view_id=page.view)
    return links.list_url(ctx, query, view.pk if view else None)


def _invalid(parsed: ParsedQuery) -> export.ExportRefused:
    reason = "This export link is not valid: " + " ".join(parsed.messages.values())
    return export.ExportRefused(reason, 400)


def export_refused(request: HtmxHttpRequest, back: str, exc: Refusal) -> HttpResponse:
    """The export did not start: why, and a way back to the list it was asked from (for
    htmx, in place in the exports panel); a 429 says when to try again (``Retry-After``,
    whole seconds). The background export's start refuses through it too."""
    status = exc.status if isinstance(exc, export.ExportRefused) else error_status(exc)
    template = f"{PROGRESS}#refused" if request.htmx else "connections/export_error.html"
    response = render(request, template, {"reason": str(exc), "back_url": back}, status=status)
    if status == 429:
        wait = exc.retry_after if isinstance(exc, api.ApiBusy) else BUSY_RETRY
        wait = wait if math.isfinite(wait) else BUSY_RETRY
        response["Retry-After"] = str(max(1, math.ceil(wait)))
    return response


def _download(request: HtmxHttpRequest, export_id: str, url: str) -> HttpResponse:
    """For htmx the export's progress region, and the event that starts its download;
    without JavaScript (the retry button's form), the download itself."""
    if not request.htmx:
        return redirect(url)
    status = export_status(export_id, export.progress_of(export_id, request.user.pk))
    response = render(request, f"{PROGRESS}#item", {"s": status})
    return trigger_client_event(response, DOWNLOAD_EVENT, {"url": url})
