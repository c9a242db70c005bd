"""Switching the org context (API client and target organization)."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from connections import api, context
from connections.context import ContextDenied, OrgContext
from connections.links import list_url
from connections.views.access import switch_to


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
    switch_to(request, ctx, _target_label(ctx))
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
