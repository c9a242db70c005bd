"""The facet counts next to the list's filter choices, loaded after the rows."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from connections import api, facets
from connections.context import OrgContext
from connections.query import ListQuery
from connections.views.access import htmx_fragment, with_org_context


@require_GET
@login_required
@htmx_fragment  # outside with_org_context: even a 403 never takes over the page
@with_org_context
def facet_counts(request: HttpRequest, ctx: OrgContext) -> HttpResponse:
    """Out-of-band swaps that fill the count spans; 204 (nothing to swap) when the counts
    are switched off. A count that failed is an empty span: never an error status."""
    query = ListQuery.parse(request.GET).query  # bad input: the nearest valid query's counts
    try:
        counts = facets.facet_counts_get(caller=ctx.caller, ctx_key=ctx.key, query=query)
    except api.ApiError:  # the stored secret cannot be read: no counts, and no error
        counts = facets.FacetCounts.absent()
    if not counts.enabled:
        return HttpResponse(status=204)
    return render(request, "connections/facets.html", {"facets": counts})
