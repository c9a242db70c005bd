"""Database writes: saved views, the audit log, API client secrets. Named
``<entity>_<action>`` with keyword-only arguments; no HTTP."""

from __future__ import annotations

import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.db.models.functions import Lower

from connections import crypto, selectors
from connections.context import OrgContext
from connections.models import ApiClient, AuditEvent, SavedView, UserPreferences
from connections.query import ListQuery


class SavedViewError(Exception):
    """A user-facing reason a saved view could not be written."""


class SavedViewNameTaken(SavedViewError):
    """The owner already has a view of that name (another name would do)."""


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


MAX_NAME = 100  # SavedView.name's max_length
# Characters that show nothing but change what the text around them shows, or where it
# goes: control characters (Cc), format characters (Cf: the bidi override U+202E, the
# zero-width space U+200B, ...) and the line and paragraph separators (Zl, Zp).
INVISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp"})


def saved_view_name_clean(*, name: str) -> str:
    """A view's name as it is stored and shown to everyone it is shared with: invisible
    characters removed, spaces trimmed. Raises SavedViewError for an empty or long one."""
    visible = "".join(ch for ch in name or "" if unicodedata.category(ch) not in INVISIBLE)
    cleaned = visible.strip()
    if not cleaned:
        raise SavedViewError("Give the view a name.")
    if len(cleaned) > MAX_NAME:
        raise SavedViewError(f"A view name is at most {MAX_NAME} characters.")
    return cleaned


def _name_taken(owner: User, name: str, exclude_pk: int | None = None) -> bool:
    views = SavedView.objects.filter(owner=owner).annotate(lname=Lower("name"))
    if exclude_pk is not None:
        views = views.exclude(pk=exclude_pk)
    return views.filter(lname=name.lower()).exists()


def _check_room(owner: User) -> None:
    if selectors.saved_view_count(user=owner) >= settings.SAVED_VIEWS_PER_USER:
        raise SavedViewError(
            f"You have reached the limit of {settings.SAVED_VIEWS_PER_USER} saved views; "
            "delete one first."
        )


def _duplicate(name: str) -> SavedViewError:
    return SavedViewNameTaken(f"You already have a view named “{name}”; choose another name.")


def _insert(*, owner: User, name: str, **fields: Any) -> SavedView:
    """A new view of ``owner`` named ``name`` (already cleaned); SavedViewNameTaken when
    they have one of that name, whatever its case."""
    if _name_taken(owner, name):
        raise _duplicate(name)
    try:
        with transaction.atomic():
            return SavedView.objects.create(owner=owner, name=name, **fields)
    except IntegrityError:  # a concurrent save of the same name won the race
        raise _duplicate(name) from None


def saved_view_create(*, owner: User, name: str, query: ListQuery, ctx: OrgContext) -> SavedView:
    name = saved_view_name_clean(name=name)
    _check_room(owner)
    return _insert(
        owner=owner,
        name=name,
        query=query.saved_querystring(),
        api_client=ctx.client,
        target_org_id=ctx.target_org_id,
    )


def saved_view_rename(*, view: SavedView, name: str) -> SavedView:
    name = saved_view_name_clean(name=name)
    if _name_taken(view.owner, name, exclude_pk=view.pk):
        raise _duplicate(name)
    old, view.name = view.name, name
    try:
        with transaction.atomic():
            view.save(update_fields=["name", "updated_at"])
    except IntegrityError:
        view.name = old
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


def saved_view_copy(*, view: SavedView, owner: User, name: str = "") -> SavedView:
    """Copy a view shared with ``owner`` into their own views, under ``name`` (the view's
    own name when empty). Raises SavedViewNameTaken when they have a view of that name:
    the user then picks another, nothing is named "(2)" behind their back."""
    _check_room(owner)
    name = saved_view_name_clean(name=name or view.name)
    return _insert(
        owner=owner,
        name=name,
        query=view.query,
        api_client=view.api_client,
        target_org_id=view.target_org_id,
    )


# --- API client secrets ----------------------------------------------------------------


@dataclass(frozen=True)
class SecretRotation:
    rotated: int  # re-encrypted with the newest key
    current: int  # already encrypted with it
    unreadable: list[int]  # ids of API clients whose secret no key decrypts


def api_client_secrets_rotate() -> SecretRotation:
    """Re-encrypt every API client secret with the newest key (settings.FERNET_KEYS[0]).

    Idempotent: a secret already under the newest key is left as it is. Each write is
    conditional on the ciphertext read, so a secret changed meanwhile is not overwritten,
    and it leaves ``updated_at`` alone (the API client itself did not change)."""
    rotated, current, unreadable = 0, 0, []
    rows = ApiClient.objects.order_by("pk").values_list("pk", "secret_ciphertext")
    for pk, ciphertext in rows.iterator():
        if crypto.uses_newest_key(ciphertext):
            current += 1
            continue
        try:
            fresh = crypto.rotate(ciphertext)
        except crypto.SecretUnreadable:
            unreadable.append(pk)
            continue
        same = ApiClient.objects.filter(pk=pk, secret_ciphertext=ciphertext)
        rotated += same.update(secret_ciphertext=fresh)
    return SecretRotation(rotated=rotated, current=current, unreadable=unreadable)


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
