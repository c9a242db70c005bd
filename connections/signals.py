"""Sign-ins, failed sign-ins and sign-outs go to the audit log."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from connections.models import AuditEvent
from connections.services import audit_record
from hostadmin.client_ip import client_ip


@receiver(user_logged_in)
def _on_login(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    audit_record(user=user, action=AuditEvent.Action.LOGIN, ip_address=client_ip(request))


@receiver(user_logged_out)
def _on_logout(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    if user is not None:
        audit_record(user=user, action=AuditEvent.Action.LOGOUT, ip_address=client_ip(request))


@receiver(user_login_failed)
def _on_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    # ``credentials`` has the password scrubbed by Django; only the username is kept.
    audit_record(
        user=None,
        username=str(credentials.get("username", ""))[:150],
        action=AuditEvent.Action.LOGIN_FAILED,
        ip_address=client_ip(request),
    )
