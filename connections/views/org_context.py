"""Switching the org context (API client and target organization).

A switch is stored in the session (and audited) only once the upstream has shown that the
API client may act on the target: a refusal is never stored, it is the switcher's error
next to the target field. A refused switch shows the switcher again, as typed: for htmx
the switcher alone, in place; without JavaScript a page whose header holds it.
"""

from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from connections import api, context
from connections.context import OrgContext
from connections.forms import ContextSwitchForm
from connections.links import list_url
from connections.query import ListQuery
from connections.views.access import htmx_fragment, switch_to
from connections.views.request import HtmxHttpRequest

SWITCHER = "connections/forms.html#context_switcher"


@require_POST
@login_required
@htmx_fragment
def switch_context(request: HtmxHttpRequest) -> HttpResponse:
    form = ContextSwitchForm(request.POST, clients=context.usable_clients(request))
    ctx = _switched(request, form)
    if ctx is None:
        template = SWITCHER if request.htmx else "connections/switch_context.html"
        return render(request, template, {"switch_form": form}, status=422)
    url = list_url(ctx)
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _switched(request: HtmxHttpRequest, form: ContextSwitchForm) -> OrgContext | None:
    """The form's context, stored and audited once the upstream accepts it; None (and
    the reason on the form) when the form or the upstream refuses it."""
    if not form.is_valid():
        return None
    ctx = context.build(request, form.cleaned_data["client"], form.cleaned_data["target"])
    try:
        label = _proven_target_name(request, ctx)
    except api.ApiError as exc:
        form.add_error("target", _refusal(ctx, exc))
        return None
    switch_to(request, ctx, label)
    return ctx


def _proven_target_name(request: HtmxHttpRequest, ctx: OrgContext) -> str:
    """The target's name (or ""), once the upstream has shown the API client may act on
    it; raises api.ApiError when it has not (api.ApiForbidden: it may not).

    The proof is a call in the target's context asking for no rows (``limit=0``, the
    contract's cheap count). The name needs a second call, in the client's own context
    (the target as one of its hosts), unless the session remembers it: no one call of the
    contract does both, and being a host proves nothing (Demo Lender is a host of Harbor
    Finance, which may not act on it)."""
    if ctx.is_self:
        return ""
    api.list_host_connections(ctx.caller, ListQuery(), limit=0)
    return context.target_label(request, ctx.target_org_id) or _target_label(ctx)


def _target_label(ctx: OrgContext) -> str:
    """The target's name where the upstream gives one (as a host of the requester)."""
    own = OrgContext(ctx.client, str(ctx.client.organization_id))
    try:
        return api.get_host_connection(own.caller, uuid.UUID(ctx.target_org_id)).host_name
    except api.ApiError:
        return ""


def _refusal(ctx: OrgContext, exc: api.ApiError) -> str:
    if isinstance(exc, api.ApiForbidden):
        return (
            f"{ctx.client.name} may not act on this organization (the API refused it); "
            "pick another target."
        )
    return f"The context was not changed: the API could not confirm this target. {exc}"
