"""Django admin: API clients (secret write-only) and the read-only audit log."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from connections.models import ApiClient, AuditEvent, SavedView


class ApiClientForm(forms.ModelForm):
    new_secret = forms.CharField(
        label="Client secret",
        required=False,
        max_length=64,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only: the stored secret is never shown. Leave empty to keep it.",
    )

    class Meta:
        model = ApiClient
        fields = ["name", "client_id", "organization_id", "enabled", "users", "groups"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.instance.pk and not data.get("new_secret"):
            self.add_error("new_secret", "A new API client needs its secret.")
        return data

    def save(self, commit: bool = True) -> ApiClient:
        client: ApiClient = super().save(commit=False)
        if self.cleaned_data.get("new_secret"):
            client.set_secret(self.cleaned_data["new_secret"])
        if commit:
            client.save()
            self.save_m2m()
        return client


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    form = ApiClientForm
    list_display = ["name", "client_id", "organization_id", "enabled"]
    list_filter = ["enabled"]
    search_fields = ["name", "client_id"]
    filter_horizontal = ["users", "groups"]


@admin.register(SavedView)
class SavedViewAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "api_client", "shared", "is_default", "updated_at"]
    list_filter = ["shared", "is_default"]
    search_fields = ["name", "owner__username"]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "username", "action", "context", "ip_address"]
    list_filter = ["action"]
    search_fields = ["username", "context"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
