from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from connections import context, selectors, targets


def org_context(request: HttpRequest) -> dict[str, Any]:
    """The header's context switcher: the user's API clients, the current context, its
    target's name, and recently used targets."""
    if not request.user.is_authenticated:
        return {}

    def target_name() -> str:
        ctx = getattr(request, "org_ctx", None) or context.current(request)
        return targets.target_name(ctx=ctx) if ctx is not None else ""

    # Lazy: fragments (the htmx results, the export progress polled every 0.5 s) never
    # print the header, so they never pay for its query or session reads.
    return {
        "org_clients": SimpleLazyObject(lambda: context.usable_clients(request)),
        "org_ctx": SimpleLazyObject(
            lambda: getattr(request, "org_ctx", None) or context.current(request)
        ),
        "org_recent": SimpleLazyObject(lambda: context.recent_targets(request)),
        "org_target_name": SimpleLazyObject(target_name),
    }


def preferences(request: HttpRequest) -> dict[str, Any]:
    """``prefs``: the signed-in user's display preferences (row density, time display),
    read at most once per page and only when a template asks; none for anonymous users."""
    if not request.user.is_authenticated:
        return {}
    return {"prefs": SimpleLazyObject(lambda: selectors.user_preferences_get(user=request.user))}


def exports(request: HttpRequest) -> dict[str, Any]:
    """``exports_unseen``: the header's badge, finished exports not downloaded yet (one
    query, only on pages that print the header)."""
    if not request.user.is_authenticated:
        return {}
    user = request.user
    return {
        "exports_unseen": SimpleLazyObject(
            lambda: selectors.background_export_unseen_count(user=user)
        )
    }
