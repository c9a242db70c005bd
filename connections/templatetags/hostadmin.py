"""hostadmin's template tags and filters (none yet: form errors are rendered from the
forms, by ``templates/connections/forms.html#field_error``)."""

from __future__ import annotations

from django import template

register = template.Library()
