"""Validation of POSTed input: a saved view's name and query, the context switcher's
client, target (a name or a UUID) and filters, the display preferences, and where to go
back to (``next``).

A bound form that fails is rendered again with its errors next to their fields; what a
form cannot know (a name already taken, a target the upstream refuses) is added to it
with ``form.add_error`` by the view that learns it.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Iterable
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.http import url_has_allowed_host_and_scheme

from connections import services
from connections.models import ApiClient, BackgroundExport, UserPreferences
from connections.query import ListQuery

MAX_NEXT = 8190  # gunicorn's longest request line: no page of ours has a longer URL


class ViewNameField(forms.CharField):
    """A saved view's name, cleaned as the service stores it (invisible characters out,
    spaces trimmed, 1 to 100 characters): the form shows the service's own reason."""

    def to_python(self, value: Any) -> str:
        if value in self.empty_values and not self.required:
            return ""
        try:
            return services.saved_view_name_clean(name=str(super().to_python(value)))
        except services.SavedViewError as exc:
            raise ValidationError(str(exc), code="invalid") from None


class ListQueryField(forms.Field):
    """A list query as a query string (the page's filters); what is not valid in it falls
    back to the nearest valid query, as a bookmark does, so it never fails."""

    def to_python(self, value: Any) -> ListQuery:
        return ListQuery.from_querystring(value if isinstance(value, str) else "").query


class TargetField(forms.CharField):
    """An organization's UUID (made canonical) or name, as typed; None for "self" (or
    nothing): the API client's own organization. A name is matched by the view, which
    knows the client's targets."""

    def to_python(self, value: Any) -> str | None:
        raw = " ".join(str(super().to_python(value)).split())
        if not raw or raw.lower() == "self":
            return None
        if any(unicodedata.category(ch) in services.INVISIBLE for ch in raw):
            raise ValidationError(
                "Type the organization name or paste its UUID (no control characters).",
                code="invalid",
            )
        try:
            return str(uuid.UUID(raw))
        except ValueError:
            return raw


class SavedViewCreateForm(forms.Form):
    name = ViewNameField()
    query = ListQueryField(required=False)


class SavedViewRenameForm(forms.Form):
    name = ViewNameField()


class SavedViewCopyForm(forms.Form):
    name = ViewNameField(required=False)  # asked for once the view's own name is taken


class SavedViewUpdateForm(forms.Form):
    query = ListQueryField(required=False)


class ContextSwitchForm(forms.Form):
    """The header's switcher: one of the user's API clients, and a target."""

    client = forms.TypedChoiceField(
        coerce=int,
        error_messages={
            "required": "Choose an API client.",
            "invalid_choice": "You do not have access to that API client.",
        },
    )
    target = TargetField(required=False, max_length=255)
    query = ListQueryField(required=False)  # the page's filters, kept across the switch

    def __init__(self, *args: Any, clients: Iterable[ApiClient], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["client"].choices = [(c.pk, c.name) for c in clients]  # type: ignore[attr-defined]


def safe_next(raw: str | None, *, host: str, secure: bool) -> str | None:
    """``raw`` if it is a path on this site to go back to, else None. Refused: another
    host, a scheme-relative ``//host``, ``javascript:`` and any other scheme, a path that
    does not start with ``/`` (``%2F%2Fhost`` arrives here decoded once, as ``//host``
    or still encoded, and is refused either way), control characters."""
    if not raw or len(raw) > MAX_NEXT or not raw.startswith("/"):
        return None
    if any(unicodedata.category(ch) in services.INVISIBLE for ch in raw):
        return None
    if not url_has_allowed_host_and_scheme(raw, allowed_hosts={host}, require_https=secure):
        return None
    return raw


class DisplayPreferencesForm(forms.Form):
    density = forms.ChoiceField(
        choices=UserPreferences.Density.choices,
        error_messages={
            "required": "Choose a row density: comfortable or compact.",
            "invalid_choice": "Choose a row density: comfortable or compact.",
        },
    )
    time_display = forms.ChoiceField(
        choices=UserPreferences.TimeDisplay.choices,
        error_messages={
            "required": "Choose how times are shown: relative or exact.",
            "invalid_choice": "Choose how times are shown: relative or exact.",
        },
    )


class BackgroundExportForm(forms.Form):
    """The list page's "Export in the background": which format."""

    format = forms.ChoiceField(
        choices=BackgroundExport.Format.choices, initial=BackgroundExport.Format.CSV
    )
