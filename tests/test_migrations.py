"""Data migrations, run on rows written the way older code wrote them."""

from __future__ import annotations

import importlib

from django.apps import apps
from django.contrib.auth.models import User

from connections.models import ApiClient, SavedView
from tests.conftest import make_view

names_visible = importlib.import_module("connections.migrations.0003_saved_view_names_visible")


def test_migration_saved_view_names_lose_invisible_characters(
    user: User, other_user: User, demo_client: ApiClient
) -> None:
    hidden = make_view(user, "Team\u202e", demo_client)
    make_view(user, "team", demo_client)  # the cleaned name is taken: a suffix
    empty = make_view(user, "\u200b\u2028", demo_client)
    long = make_view(user, "x" * 99 + "\u200b", demo_client)
    make_view(user, "x" * 99, demo_client)
    theirs = make_view(other_user, "\u2066Team\u2069", demo_client)
    plain = make_view(other_user, "Plain", demo_client)
    names_visible.clean_names(apps, None)
    stored = dict(SavedView.objects.values_list("pk", "name"))
    assert stored[hidden.pk] == "Team (2)"
    assert stored[empty.pk] == "Unnamed view"
    assert stored[long.pk] == "x" * 96 + " (2)"
    assert stored[theirs.pk] == "Team"  # another owner's names do not collide
    assert stored[plain.pk] == "Plain"
