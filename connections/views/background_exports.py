"""Background exports: start one from the list page, the Exports page, and each export's
download (a GET: checked like any page, audited), cancel, retry and delete (POSTs)."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from connections import context, selectors, targets
from connections.context import ContextDenied, OrgContext
from connections.export import background
from connections.export.stream import ExportRefused
from connections.exports_page import ExportsPage
from connections.forms import BackgroundExportForm
from connections.links import background_exports_url, list_url
from connections.models import BackgroundExport
from connections.query import ListQuery
from connections.views.access import denied, htmx_fragment, with_org_context
from connections.views.exports import export_refused
from connections.views.request import HtmxHttpRequest
from hostadmin.client_ip import client_ip


@require_POST
@login_required
@with_org_context
def export_start(request: HtmxHttpRequest, ctx: OrgContext) -> HttpResponse:
    parsed, form = ListQuery.parse(request.GET), BackgroundExportForm(request.POST)
    back = list_url(ctx, parsed.query)
    if not parsed.is_clean or not form.is_valid():
        problems = [
            *parsed.messages.values(),
            *(["Choose CSV, CSV for Excel or Excel."] * bool(form.errors)),
        ]
        reason = "This export is not valid: " + " ".join(problems)
        return export_refused(request, back, ExportRefused(reason, 400))
    try:
        background.background_export_start(
            user=request.user,
            ctx=ctx,
            query=parsed.query,
            format=form.cleaned_data["format"],
            time_zone=timezone.get_current_timezone_name(),
            context_label=targets.context_describe(ctx=ctx),
            org_label=ctx.client.name if ctx.is_self else ctx.target_org_id,
        )
    except background.ExportNotAllowed as exc:
        return export_refused(request, back, ExportRefused(str(exc), exc.status))
    messages.success(request, "Export started: it appears below, and stays for download.")
    return HttpResponseRedirect(background_exports_url(), status=303)


@require_GET
@login_required
def export_list(request: HtmxHttpRequest) -> HttpResponse:
    return _page(request)


def _page(request: HtmxHttpRequest, error: str = "") -> HttpResponse:
    """The Exports page; for htmx (its polling, its actions) the table alone."""
    jobs = list(selectors.background_export_list(user=request.user).select_related("api_client"))
    page = ExportsPage(jobs, now=timezone.now())
    template = "connections/exports.html" + ("#exports" if request.htmx else "")
    return render(request, template, {"page": page, "error": error})


@require_POST
@login_required
def export_download(request: HtmxHttpRequest, export_id: str) -> HttpResponse | FileResponse:
    job = _own(request, export_id)
    if job.state != BackgroundExport.State.DONE or not job.file_name:
        raise Http404("This export has no file to download.")
    try:  # access to the export's context now, not only when it started
        context.build(request, job.api_client_id or 0, str(job.target_org_id))
    except ContextDenied as exc:
        return denied(request, str(exc))
    try:
        handle = background.storage().open(job.file_name, "rb")
    except FileNotFoundError:
        raise Http404("This export's file is gone; retry the export.") from None
    background.background_export_downloaded(job=job, ip_address=client_ip(request))
    return FileResponse(handle, as_attachment=True, filename=job.download_name)


@require_POST
@login_required
@htmx_fragment
def export_cancel(request: HtmxHttpRequest, export_id: str) -> HttpResponse:
    return _act(request, export_id, background.background_export_cancel, "Cancel requested.")


@require_POST
@login_required
@htmx_fragment
def export_retry(request: HtmxHttpRequest, export_id: str) -> HttpResponse:
    return _act(request, export_id, background.background_export_retry, "Export started again.")


@require_POST
@login_required
@htmx_fragment
def export_delete(request: HtmxHttpRequest, export_id: str) -> HttpResponse:
    return _act(request, export_id, background.background_export_delete, "Export deleted.")


# --- helpers ---------------------------------------------------------------------------


def _own(request: HtmxHttpRequest, export_id: str) -> BackgroundExport:
    """The user's own export, else 404 (someone else's looks the same as a missing one)."""
    job = selectors.background_export_get(user=request.user, export_id=export_id)
    if job is None:
        raise Http404("No such export.")
    return job


def _act(
    request: HtmxHttpRequest,
    export_id: str,
    action: Callable[..., object],
    done: str,
) -> HttpResponse:
    """Apply one action to the user's own export; back to the Exports page, with what
    happened (or why it could not) as a message."""
    job = _own(request, export_id)
    try:
        action(job=job)
    except background.ExportNotAllowed as exc:
        if request.htmx:  # the table is shown again: the refusal goes above it
            return _page(request, error=str(exc))
        messages.error(request, str(exc))
    else:
        if request.htmx:
            return _page(request)
        messages.success(request, done)
    return HttpResponseRedirect(background_exports_url(), status=303)
