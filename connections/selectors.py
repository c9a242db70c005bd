"""Database reads. Views and templates call these, never the ORM directly."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Q, QuerySet

from connections.models import ApiClient, SavedView

AnyUser = User | AnonymousUser | object


def api_clients_for(user: AnyUser) -> QuerySet[ApiClient]:
    """Enabled API clients the user may use, directly or through a group."""
    if not isinstance(user, User) or not user.is_authenticated:
        return ApiClient.objects.none()
    return (
        ApiClient.objects.filter(enabled=True)
        .filter(Q(users=user) | Q(groups__user=user))
        .distinct()
        .order_by("name")
    )


def api_client_for(user: AnyUser, pk: int) -> ApiClient | None:
    return api_clients_for(user).filter(pk=pk).first()


def saved_views_of(user: AnyUser) -> QuerySet[SavedView]:
    return SavedView.objects.filter(owner_id=getattr(user, "pk", None)).select_related("api_client")


def saved_view_of(user: AnyUser, view_id: object) -> SavedView | None:
    """The user's own view, or None (for a foreign, missing or malformed id alike)."""
    try:
        pk = int(str(view_id))
    except ValueError:
        return None
    return saved_views_of(user).filter(pk=pk).first()


def shared_views_for(
    user: AnyUser, client_ids: Collection[int] | None = None
) -> QuerySet[SavedView]:
    """Views other users shared, made in a context this user has access to
    (``client_ids``: the user's usable API clients, when the caller already has them)."""
    clients: Any = api_clients_for(user) if client_ids is None else list(client_ids)
    return (
        SavedView.objects.filter(shared=True, api_client__in=clients)
        .exclude(owner_id=getattr(user, "pk", None))
        .select_related("api_client", "owner")
    )


def shared_view_for(user: AnyUser, view_id: object) -> SavedView | None:
    try:
        pk = int(str(view_id))
    except ValueError:
        return None
    return shared_views_for(user).filter(pk=pk).first()


def default_view_of(user: AnyUser) -> SavedView | None:
    return saved_views_of(user).filter(is_default=True).first()


def saved_view_count(user: AnyUser) -> int:
    return SavedView.objects.filter(owner_id=getattr(user, "pk", None)).count()
