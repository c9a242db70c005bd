"""API clients (with encrypted secrets), saved views and the audit log."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models.functions import Lower

from connections import crypto


class ApiClient(models.Model):
    """Credentials of one MyCreditApp API client; it belongs to one organization."""

    name = models.CharField(max_length=100, unique=True)
    client_id = models.CharField(max_length=128)
    secret_ciphertext = models.TextField(editable=False)
    organization_id = models.UUIDField(
        help_text="The requester organization: the one this API client belongs to."
    )
    enabled = models.BooleanField(default=True)
    users = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="api_clients")
    groups = models.ManyToManyField(Group, blank=True, related_name="api_clients")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = [Lower("name"), "id"]  # as the access rule lists them (selectors.py)
        verbose_name = "API client"

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<ApiClient {self.pk} {self.name!r}>"

    def set_secret(self, plaintext: str) -> None:
        self.secret_ciphertext = crypto.encrypt(plaintext)

    def secret(self) -> str:
        return crypto.decrypt(self.secret_ciphertext)


class SavedView(models.Model):
    """A named, per-user set of filters, sort and page size, made in one org context."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views"
    )
    name = models.CharField(max_length=100)
    query = models.TextField(blank=True, help_text="Canonical query string, without position.")
    api_client = models.ForeignKey(
        ApiClient, null=True, on_delete=models.SET_NULL, related_name="saved_views"
    )
    target_org_id = models.UUIDField()
    shared = models.BooleanField(default=False)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = [Lower("name")]
        constraints = [
            models.UniqueConstraint(Lower("name"), "owner", name="saved_view_unique_name"),
            models.UniqueConstraint(
                "owner", condition=models.Q(is_default=True), name="saved_view_one_default"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class AuditEvent(models.Model):
    """Who did what, when, in which context. Never row data, never secrets."""

    class Action(models.TextChoices):
        LOGIN = "login", "Signed in"
        LOGIN_FAILED = "login_failed", "Sign-in failed"
        LOGOUT = "logout", "Signed out"
        CONTEXT_SWITCH = "context_switch", "Switched context"
        EXPORT = "export", "Exported CSV"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    username = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=32, choices=Action.choices)
    context = models.CharField(max_length=200, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    detail: models.JSONField[Any, Any] = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.username} {self.action}"


class UserPreferences(models.Model):
    """How one user likes the pages shown. Created on the user's first save; until then
    ``selectors.user_preferences_get`` gives an unsaved instance with the defaults."""

    class Density(models.TextChoices):
        COMFORTABLE = "comfortable", "Comfortable"
        COMPACT = "compact", "Compact"

    class TimeDisplay(models.TextChoices):
        RELATIVE = "relative", "Relative (3 days ago)"
        ABSOLUTE = "absolute", "Exact date and time"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preferences"
    )
    density = models.CharField(max_length=16, choices=Density.choices, default=Density.COMFORTABLE)
    time_display = models.CharField(
        max_length=16, choices=TimeDisplay.choices, default=TimeDisplay.RELATIVE
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "user preferences"

    def __str__(self) -> str:
        return f"{self.density}, {self.time_display}"
