"""UserPreferences: the model, its selector, its service and the ``prefs`` context
processor."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.test import RequestFactory

from connections import context_processors, selectors, services
from connections.models import UserPreferences


def test_preferences_get_gives_unsaved_defaults_without_writing(
    user: User, django_assert_num_queries
) -> None:
    with django_assert_num_queries(1):
        prefs = selectors.user_preferences_get(user=user)
    assert (prefs.density, prefs.time_display) == ("comfortable", "relative")
    assert prefs.pk is None and prefs.user_id == user.pk
    assert not UserPreferences.objects.exists()


def test_preferences_get_for_anonymous_asks_nothing(db, django_assert_num_queries) -> None:
    with django_assert_num_queries(0):
        prefs = selectors.user_preferences_get(user=AnonymousUser())
    assert (prefs.density, prefs.time_display) == ("comfortable", "relative")


def test_preferences_get_reads_the_saved_row(user: User, other_user: User) -> None:
    UserPreferences.objects.create(user=user, density="compact", time_display="absolute")
    mine = selectors.user_preferences_get(user=user)
    assert (mine.density, mine.time_display) == ("compact", "absolute")
    theirs = selectors.user_preferences_get(user=other_user)
    assert (theirs.density, theirs.time_display, theirs.pk) == ("comfortable", "relative", None)


def test_preferences_update_creates_the_row_then_updates_it(user: User) -> None:
    first = services.user_preferences_update(user=user, density="compact", time_display="relative")
    second = services.user_preferences_update(
        user=user, density="comfortable", time_display="absolute"
    )
    assert first.pk == second.pk
    assert list(UserPreferences.objects.values_list("user_id", "density", "time_display")) == [
        (user.pk, "comfortable", "absolute")
    ]


@pytest.mark.parametrize(
    ("density", "time_display"),
    [("huge", "relative"), ("compact", "sometimes"), ("", ""), ("Compact", "relative")],
)
def test_preferences_update_refuses_unknown_values(
    user: User, density: str, time_display: str
) -> None:
    services.user_preferences_update(user=user, density="compact", time_display="absolute")
    with pytest.raises(ValueError, match="Unknown"):
        services.user_preferences_update(user=user, density=density, time_display=time_display)
    prefs = UserPreferences.objects.get(user=user)
    assert (prefs.density, prefs.time_display) == ("compact", "absolute")


def test_preferences_deleted_with_their_user(user: User) -> None:
    services.user_preferences_update(user=user, density="compact", time_display="relative")
    user.delete()
    assert not UserPreferences.objects.exists()


def test_preferences_context_processor_is_lazy_and_asks_once(
    user: User, django_assert_num_queries
) -> None:
    services.user_preferences_update(user=user, density="compact", time_display="absolute")
    request = RequestFactory().get("/connections/")
    request.user = user
    with django_assert_num_queries(0):
        prefs = context_processors.preferences(request)["prefs"]
    with django_assert_num_queries(1):
        assert prefs.density == "compact"
        assert prefs.time_display == "absolute"


def test_preferences_context_processor_has_nothing_for_anonymous(db) -> None:
    request = RequestFactory().get("/login/")
    request.user = AnonymousUser()
    assert context_processors.preferences(request) == {}
