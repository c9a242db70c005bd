from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from connections import context


def org_context(request: HttpRequest) -> dict[str, Any]:
    """The header's context switcher: the user's API clients, the current context, and
    recently used targets."""
    if not request.user.is_authenticated:
        return {}
    return {
        "org_clients": context.usable_clients(request),
        "org_ctx": getattr(request, "org_ctx", None) or context.current(request),
        "org_recent": context.recent_targets(request),
    }
