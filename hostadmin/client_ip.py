"""The client's IP address, resolved in one place for the audit log and sign-in lockout."""

from __future__ import annotations

from django.http import HttpRequest


def client_ip(request: HttpRequest | None) -> str | None:
    """The address of the client that sent ``request`` (None without a request)."""
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR")
