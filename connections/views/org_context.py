"""Switching the org context (API client and target organization).

A switch is stored in the session (and audited) only once the upstream has shown that the
API client may act on the target: a refusal is never stored, it is the switcher's error
next to the target field. A refused switch shows the switcher again, as typed: for htmx
the switcher alone, in place; without JavaScript a page whose header holds it.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from connections import api, context, targets
from connections.context import OrgContext
from connections.forms import ContextSwitchForm
from connections.links import list_url
from connections.models import ApiClient
from connections.query import ListQuery, PageParams
from connections.views.access import htmx_fragment, switch_to
from connections.views.request import HtmxHttpRequest

SWITCHER = "connections/forms.html#context_switcher"
OPTIONS = "connections/forms.html#target_options"


@require_POST
@login_required
@htmx_fragment
def switch_context(request: HtmxHttpRequest) -> HttpResponse:
    form = ContextSwitchForm(request.POST, clients=context.usable_clients(request))
    ctx = _switched(request, form)
    if ctx is None:
        template = SWITCHER if request.htmx else "connections/switch_context.html"
        return render(request, template, {"switch_form": form}, status=422)
    query, left = form.cleaned_data["query"].at_offset(0), PageParams.parse(request.POST).unsaved
    url = list_url(ctx, query, unsaved=left)  # the filters, page one; a modified view left
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@require_GET
@login_required
@htmx_fragment
def target_options(request: HtmxHttpRequest) -> HttpResponse:
    """The switcher's list of names (a ``<datalist>``'s options) for the chosen client."""
    client = context.usable_client(request, _int(request.GET.get("client", "")))
    if client is None:
        return render(request, OPTIONS, {"targets_error": "Unknown API client."}, status=404)
    try:
        found = targets.target_list(client=client)
    except api.ApiError as exc:
        return render(request, OPTIONS, {"targets_error": str(exc)})
    return render(request, OPTIONS, {"targets": targets.options(found)})


def _int(raw: str) -> int | None:
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 12 else None


def _switched(request: HtmxHttpRequest, form: ContextSwitchForm) -> OrgContext | None:
    """The form's context, stored and audited once the upstream accepts it; None (and
    the reason on the form) when the form or the upstream refuses it."""
    if not form.is_valid():
        return None
    client = context.build(request, form.cleaned_data["client"], None).client
    typed = form.cleaned_data["target"]
    try:
        target = typed and targets.target_resolve(client=client, text=typed)
        ctx = context.build(request, client.pk, target)
        label = _proven_target_name(ctx)
    except targets.TargetUnresolved as exc:
        form.add_error("target", str(exc))
        return None
    except api.ApiError as exc:
        form.add_error("target", _refusal(client, exc))
        return None
    switch_to(request, ctx, label)
    return ctx


def _proven_target_name(ctx: OrgContext) -> str:
    """The target's name, once the upstream has shown the API client may act on it;
    raises api.ApiError when it has not (api.ApiForbidden: it may not).

    The proof is a call in the target's context asking for no rows (``limit=0``, the
    contract's cheap count); the name comes from targets.target_name (cached, else one
    call in the client's own context): no one call of the contract does both, and being
    a host proves nothing (Demo Lender is a host of Harbor Finance, which may not act on
    it)."""
    if not ctx.is_self:
        api.list_host_connections(ctx.caller, ListQuery(), limit=0)
    return targets.target_name(ctx=ctx)


def _refusal(client: ApiClient, exc: api.ApiError) -> str:
    if isinstance(exc, api.ApiForbidden):
        return (
            f"{client.name} may not act on this organization (the API refused it); "
            "pick another target."
        )
    return f"The context was not changed: the API could not confirm this target. {exc}"
