"""The CSV export endpoints: the streamed download, its progress and its cancel button."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from connections import api, export, services, targets
from connections.context import OrgContext
from connections.links import list_url
from connections.models import AuditEvent
from connections.query import ListQuery, PageParams
from connections.views.access import error_status, htmx_fragment, with_org_context
from connections.views.request import HtmxHttpRequest
from hostadmin.client_ip import client_ip

MAX_WAIT_POLLS = 20  # polls of 0.5 s for an export to start before giving up
BUSY_RETRY = 5.0  # seconds a refused export suggests waiting (Retry-After) without a better figure


@require_GET
@login_required
@with_org_context
def export_csv(request: HtmxHttpRequest, ctx: OrgContext) -> HttpResponse | StreamingHttpResponse:
    parsed = ListQuery.parse(request.GET)
    back = list_url(ctx, parsed.query)  # the list the link came from, as near as it can be
    if not parsed.is_clean:
        reason = "This export link is not valid: " + " ".join(parsed.messages.values())
        return _refused(request, back, reason, status=400, retry_after=0)
    try:
        job = _start(request, ctx, parsed.query)
    except export.ExportRefused as exc:  # a 429 here: the user's exports running at once
        return _refused(request, back, str(exc), status=exc.status, retry_after=BUSY_RETRY)
    except api.ApiError as exc:  # as the list: 403 for a refused target, 429 busy, ...
        wait = exc.retry_after if isinstance(exc, api.ApiBusy) else BUSY_RETRY
        return _refused(request, back, str(exc), status=error_status(exc), retry_after=wait)
    response = StreamingHttpResponse(job.stream(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{job.filename}"'
    response["Cache-Control"] = "no-store"
    response["X-Export-Rows"] = str(job.total)
    return response


@require_GET
@login_required
@htmx_fragment
def export_progress(request: HtmxHttpRequest, export_id: str) -> HttpResponse:
    return _progress(request, export_id)


@require_POST
@login_required
@htmx_fragment
def export_cancel(request: HtmxHttpRequest, export_id: str) -> HttpResponse:
    cancelled = export.request_cancel(export_id, request.user.pk)
    return _progress(request, export_id, status=200 if cancelled else 404)


# --- helpers ---------------------------------------------------------------------------


def _start(request: HtmxHttpRequest, ctx: OrgContext, query: ListQuery) -> export.Export:
    """Start the export the link asks for. Raises export.ExportRefused or api.ApiError."""
    user_id, page = request.user.pk, PageParams.parse(request.GET)
    raw_id = page.export_id  # the download's own id (progress, cancel)
    usable = export.valid_export_id(raw_id) and export.export_id_free(raw_id, user_id)
    return export.start_export(
        caller=ctx.caller,
        query=query,
        user_id=user_id,
        export_id=raw_id if usable else uuid.uuid4().hex,
        whole_view=page.scope == "all",
        bom=page.bom,
        org_label=ctx.client.name if ctx.is_self else ctx.target_org_id,
        on_finish=_audit(request, ctx, query),
    )


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


def _refused(
    request: HtmxHttpRequest, back: str, reason: str, *, status: int, retry_after: float
) -> HttpResponse:
    """The export did not start: why, and a way back to the list it was asked from; a 429
    says when to try again (``Retry-After``, whole seconds)."""
    data = {"reason": reason, "back_url": back}
    response = render(request, "connections/export_error.html", data, status=status)
    if status == 429:
        wait = retry_after if math.isfinite(retry_after) else BUSY_RETRY
        response["Retry-After"] = str(max(1, math.ceil(wait)))
    return response


def _progress(request: HtmxHttpRequest, export_id: str, status: int = 200) -> HttpResponse:
    """The progress fragment. An export that has not started yet (or is someone else's,
    which looks the same) is "starting" for a few polls, then "did not start"."""
    entry = export.progress_of(export_id, request.user.pk)
    polls = PageParams.parse(request.GET).polls
    if entry is None:
        state = "starting" if polls < MAX_WAIT_POLLS else "missing"
        entry = {"state": state, "written": 0, "total": 0}
    data = {"export_id": export_id, "p": entry, "next_poll": polls + 1}
    return render(request, "connections/export_progress.html", data, status=status)
