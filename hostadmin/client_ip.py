"""The client's IP address, resolved in one place for the audit log and sign-in lockout.

Behind nginx every request comes from nginx's address; the client's is the last entry
of ``X-Forwarded-For``, the one nginx appended (``$proxy_add_x_forwarded_for``). It is
believed only from a proxy in ``settings.TRUSTED_PROXIES``: entries before it are
whatever the client sent, and anyone else may send the header too.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest | None) -> str | None:
    """The address of the client that sent ``request`` (None without a request)."""
    if request is None:
        return None
    remote = request.META.get("REMOTE_ADDR")
    if remote in settings.TRUSTED_PROXIES:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").rsplit(",", 1)[-1].strip()
        try:
            return str(ipaddress.ip_address(forwarded))
        except ValueError:
            pass  # none, or not an address: the proxy's own request
    return remote
