"""API clients (with encrypted secrets), saved views, the audit log and background exports."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

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
        EXPORT_START = "export_start", "Started a background export"
        EXPORT_FINISH = "export_finish", "Background export ended"
        EXPORT_DOWNLOAD = "export_download", "Downloaded a background export"
        EXPORT_CANCEL = "export_cancel", "Cancelled a background export"
        EXPORT_EXPIRE = "export_expire", "Background export expired"

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


class BackgroundExport(models.Model):
    """One export run by a task worker (connections/export/background.py): what to export
    (query, context, format), its state, and its checkpoint (``written`` rows from the
    upstream up to ``next_offset``, in the storage objects listed in ``parts``, each with
    the ids it holds: the de-duplication state)."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        EXPIRED = "expired", "Expired"

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        CSV_EXCEL = "csv_excel", "CSV for Excel"
        XLSX = "xlsx", "Excel (.xlsx)"

    ACTIVE = (State.QUEUED, State.RUNNING)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="background_exports"
    )
    api_client = models.ForeignKey(
        ApiClient, null=True, on_delete=models.SET_NULL, related_name="background_exports"
    )
    target_org_id = models.UUIDField()
    context_label = models.CharField(max_length=200, blank=True)
    query = models.TextField(blank=True, help_text="Canonical query string, without position.")
    format = models.CharField(max_length=16, choices=Format.choices, default=Format.CSV)
    time_zone = models.CharField(max_length=64, default="UTC")
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    total = models.BigIntegerField(null=True, blank=True)
    written = models.BigIntegerField(default=0)
    next_offset = models.BigIntegerField(default=0)
    parts: models.JSONField[Any, Any] = models.JSONField(default=list, blank=True)
    sheets = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    file_name = models.CharField(max_length=300, blank=True)
    download_name = models.CharField(max_length=200)
    size = models.BigIntegerField(default=0)
    worker = models.CharField(max_length=64, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # The task that is to run it (its id in the Tasks backend) and when it was queued:
    # the sweep queues it again if that task is lost or ended without claiming it.
    task_id = models.CharField(max_length=64, blank=True)
    queued_at = models.DateTimeField(default=timezone.now)
    cancel_requested = models.BooleanField(default=False)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    downloaded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["owner", "state"]),
            models.Index(fields=["state", "heartbeat_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_format_display()} export {self.pk} ({self.state})"

    @property
    def active(self) -> bool:
        return self.state in self.ACTIVE
