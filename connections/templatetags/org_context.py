"""Template tags of the org context: where a saved view was made, by name."""

from __future__ import annotations

from django import template

from connections import targets
from connections.context import OrgContext
from connections.models import SavedView

register = template.Library()


@register.simple_tag(takes_context=True)
def view_context_label(context: template.Context, view: SavedView) -> str:
    """``{% view_context_label view as label %}``: "client → target" of the context
    ``view`` was made in, when it is not the page's (``ctx``, or ``listing.ctx``); ""
    otherwise, and for a view whose API client is not loaded (one the user has no access
    to: the panel says so)."""
    current = context.get("ctx") or getattr(context.get("listing"), "ctx", None)
    if not SavedView._meta.get_field("api_client").is_cached(view) or view.api_client is None:
        return ""
    made_in = OrgContext(view.api_client, str(view.target_org_id))
    if isinstance(current, OrgContext) and made_in.key == current.key:
        return ""
    return targets.context_describe(ctx=made_in)
