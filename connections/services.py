"""Database writes: saved views and the audit log. Small named functions, no HTTP."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.db.models.functions import Lower

from connections import selectors
from connections.context import OrgContext
from connections.models import AuditEvent, SavedView, UserPreferences
from connections.query import CONTROL_CHARS, ListQuery


class SavedViewError(Exception):
    """A user-facing reason a saved view could not be written."""


# --- audit -----------------------------------------------------------------------------


def audit_record(
    *,
    user: User | None,
    action: str,
    username: str = "",
    context: str = "",
    ip_address: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    return AuditEvent.objects.create(
        user=user if user is not None and user.pk else None,
        username=(username or (user.get_username() if user is not None else ""))[:150],
        action=action,
        context=context[:200],
        ip_address=ip_address,
        detail=detail or {},
    )


# --- saved views -----------------------------------------------------------------------


def clean_view_name(raw: str) -> str:
    name = CONTROL_CHARS.sub("", raw or "").strip()
    if not name:
        raise SavedViewError("Give the view a name.")
    if len(name) > 100:
        raise SavedViewError("A view name is at most 100 characters.")
    return name


def _name_taken(owner: User, name: str, exclude_pk: int | None = None) -> bool:
    views = SavedView.objects.filter(owner=owner).annotate(lname=Lower("name"))
    if exclude_pk is not None:
        views = views.exclude(pk=exclude_pk)
    return views.filter(lname=name.lower()).exists()


def _duplicate(name: str) -> SavedViewError:
    return SavedViewError(f"You already have a view named “{name}”; choose another name.")


def saved_view_create(*, owner: User, name: str, query: ListQuery, ctx: OrgContext) -> SavedView:
    name = clean_view_name(name)
    if selectors.saved_view_count(owner) >= settings.SAVED_VIEWS_PER_USER:
        raise SavedViewError(
            f"You have reached the limit of {settings.SAVED_VIEWS_PER_USER} saved views; "
            "delete one first."
        )
    if _name_taken(owner, name):
        raise _duplicate(name)
    try:
        with transaction.atomic():
            return SavedView.objects.create(
                owner=owner,
                name=name,
                query=query.saved_querystring(),
                api_client=ctx.client,
                target_org_id=ctx.target_org_id,
            )
    except IntegrityError:  # a concurrent save of the same name won the race
        raise _duplicate(name) from None


def saved_view_rename(*, view: SavedView, name: str) -> SavedView:
    name = clean_view_name(name)
    if _name_taken(view.owner, name, exclude_pk=view.pk):
        raise _duplicate(name)
    view.name = name
    try:
        with transaction.atomic():
            view.save(update_fields=["name", "updated_at"])
    except IntegrityError:
        raise _duplicate(name) from None
    return view


def saved_view_update(*, view: SavedView, query: ListQuery, ctx: OrgContext) -> SavedView:
    view.query = query.saved_querystring()
    view.api_client = ctx.client
    view.target_org_id = uuid.UUID(ctx.target_org_id)
    view.save(update_fields=["query", "api_client", "target_org_id", "updated_at"])
    return view


def saved_view_delete(*, view: SavedView) -> None:
    view.delete()


def saved_view_make_default(*, view: SavedView) -> SavedView:
    """Make ``view`` its owner's one default. The owner's views are locked first, so two
    such changes at once run one after the other (on PostgreSQL the second would
    otherwise not see the first's new default, and break the one-default constraint)."""
    with transaction.atomic():
        mine = SavedView.objects.filter(owner_id=view.owner_id)
        if connection.features.has_select_for_update:  # SQLite writes one at a time anyway
            list(mine.select_for_update().values_list("pk", flat=True))  # take the locks
        mine.filter(is_default=True).exclude(pk=view.pk).update(is_default=False)
        view.is_default = True
        view.save(update_fields=["is_default", "updated_at"])
    return view


def saved_view_clear_default(*, view: SavedView) -> SavedView:
    view.is_default = False
    view.save(update_fields=["is_default", "updated_at"])
    return view


def saved_view_set_shared(*, view: SavedView, shared: bool) -> SavedView:
    view.shared = shared
    view.save(update_fields=["shared", "updated_at"])
    return view


def saved_view_copy(*, view: SavedView, owner: User) -> SavedView:
    """Copy a view shared with ``owner`` into their own views, under a free name."""
    if selectors.saved_view_count(owner) >= settings.SAVED_VIEWS_PER_USER:
        raise SavedViewError(
            f"You have reached the limit of {settings.SAVED_VIEWS_PER_USER} saved views; "
            "delete one first."
        )
    base = view.name[:90]
    name = base
    for n in range(2, 1000):
        if not _name_taken(owner, name):
            break
        name = f"{base} ({n})"
    try:
        with transaction.atomic():
            return SavedView.objects.create(
                owner=owner,
                name=name,
                query=view.query,
                api_client=view.api_client,
                target_org_id=view.target_org_id,
            )
    except IntegrityError:
        raise _duplicate(name) from None


# --- user preferences ------------------------------------------------------------------


def user_preferences_update(*, user: User, density: str, time_display: str) -> UserPreferences:
    """Save the user's display preferences, creating their row on the first save."""
    if density not in UserPreferences.Density.values:
        raise ValueError(f"Unknown density {density!r}")
    if time_display not in UserPreferences.TimeDisplay.values:
        raise ValueError(f"Unknown time display {time_display!r}")
    prefs, _ = UserPreferences.objects.update_or_create(
        user=user, defaults={"density": density, "time_display": time_display}
    )
    return prefs
