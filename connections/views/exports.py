"""The CSV export endpoints: the streamed download, its progress and its cancel button."""

from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from connections import api, export, services
from connections.context import OrgContext
from connections.models import AuditEvent
from connections.query import ListQuery
from connections.views.access import error_status, htmx_fragment, with_org_context
from hostadmin.client_ip import client_ip


@require_GET
@login_required
@with_org_context
def export_csv(request: HttpRequest, ctx: OrgContext) -> HttpResponse | StreamingHttpResponse:
    raw_id = request.GET.get("export_id", "")  # the download's own id (progress, cancel)
    parsed = ListQuery.parse(request.GET)
    if not parsed.is_clean:
        reason = "This export link is not valid: " + " ".join(parsed.messages.values())
        return render(request, "connections/export_error.html", {"reason": reason}, status=400)
    user_id = int(request.user.pk)  # type: ignore[arg-type]
    usable = export.valid_export_id(raw_id) and export.export_id_free(raw_id, user_id)
    export_id = raw_id if usable else uuid.uuid4().hex
    user = request.user

    def audit(job: export.Export) -> None:
        services.audit_record(
            user=user,  # type: ignore[arg-type]
            action=AuditEvent.Action.EXPORT,
            context=ctx.describe(),
            ip_address=client_ip(request),
            detail={
                "query": parsed.query.querystring(),
                "scope": "all" if job.whole_view else "page",
                "rows": job.written,
                "total": job.total,
                "duration_ms": job.duration_ms,
                "outcome": job.outcome,
            },
        )

    try:
        job = export.start_export(
            caller=ctx.caller,
            query=parsed.query,
            user_id=user_id,
            export_id=export_id,
            whole_view=request.GET.get("scope") != "page",
            bom=request.GET.get("bom") == "1",
            org_label=ctx.client.name if ctx.is_self else ctx.target_org_id,
            on_finish=audit,
        )
    except export.ExportRefused as exc:
        return render(
            request, "connections/export_error.html", {"reason": str(exc)}, status=exc.status
        )
    except api.ApiError as exc:
        status = error_status(exc)  # as the list: 403 for a refused target, 429 busy, ...
        return render(request, "connections/export_error.html", {"reason": str(exc)}, status=status)
    response = StreamingHttpResponse(job.stream(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{job.filename}"'
    response["Cache-Control"] = "no-store"
    response["X-Export-Rows"] = str(job.total)
    return response


MAX_WAIT_POLLS = 20  # polls of 0.5 s for an export to start before giving up


def _progress_response(request: HttpRequest, export_id: str, status: int = 200) -> HttpResponse:
    """The progress fragment. An export that has not started yet (or is someone else's,
    which looks the same) is "starting" for a few polls, then "did not start"."""
    if not export.valid_export_id(export_id):
        raise Http404("No such export.")
    entry = export.progress_of(export_id, int(request.user.pk))  # type: ignore[arg-type]
    polls = _int(request.GET.get("polls", "0"))
    if entry is None:
        state = "starting" if polls < MAX_WAIT_POLLS else "missing"
        entry = {"state": state, "written": 0, "total": 0}
    response = render(
        request,
        "connections/export_progress.html",
        {"export_id": export_id, "p": entry, "next_poll": polls + 1},
        status=status,
    )
    return response


def _int(raw: str) -> int:
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 6 else 0


@require_GET
@login_required
@htmx_fragment
def export_progress(request: HttpRequest, export_id: str) -> HttpResponse:
    return _progress_response(request, export_id)


@require_POST
@login_required
@htmx_fragment
def export_cancel(request: HttpRequest, export_id: str) -> HttpResponse:
    if not export.request_cancel(export_id, int(request.user.pk)):  # type: ignore[arg-type]
        return _progress_response(request, export_id, status=404)
    return _progress_response(request, export_id)
