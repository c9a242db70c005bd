"""hostadmin's template tags and filters (form errors are rendered from the forms, by
``templates/connections/forms.html#field_error``)."""

from __future__ import annotations

from django import template

from connections import targets
from connections.context import OrgContext
from connections.models import SavedView

register = template.Library()


@register.simple_tag
def view_context_label(view: SavedView, current: OrgContext | None) -> str:
    """``{% view_context_label view ctx as label %}``: "client → target" of the context
    ``view`` was made in, when it is not ``current``; "" otherwise, and for a view whose
    API client is not loaded (one the user has no access to: the panel says so)."""
    if not SavedView._meta.get_field("api_client").is_cached(view) or view.api_client is None:
        return ""
    made_in = OrgContext(view.api_client, str(view.target_org_id))
    if current is not None and made_in.key == current.key:
        return ""
    return targets.context_describe(ctx=made_in)
