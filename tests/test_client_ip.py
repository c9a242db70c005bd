"""The client IP behind trusted reverse proxies: for the audit log and the sign-in lockout."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client, RequestFactory

from connections.models import AuditEvent
from hostadmin.client_ip import client_ip
from tests.conftest import FormClient
from tests.test_settings import SETUP, run

PROXY = "10.0.0.2"  # the reverse proxy's address, as the web server sees it
PASSWORD = "correct horse battery staple"


def resolved(forwarded: str | None, remote: str = PROXY) -> str | None:
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_ip(RequestFactory().get("/", **extra))


def test_client_ip_without_request_is_none() -> None:
    assert client_ip(None) is None


def test_client_ip_no_trusted_proxy_ignores_forwarded_for(settings) -> None:
    assert settings.TRUSTED_PROXY_COUNT == 0  # the default
    assert resolved("198.51.100.9") == PROXY
    assert resolved("198.51.100.9, 203.0.113.7") == PROXY


@pytest.mark.parametrize(
    ("count", "forwarded", "expected"),
    [
        (1, "203.0.113.7", "203.0.113.7"),
        (1, "198.51.100.9, 203.0.113.7", "203.0.113.7"),  # the left one is the client's own
        (1, "198.51.100.9,203.0.113.7", "203.0.113.7"),
        (2, "198.51.100.9, 203.0.113.7, 10.0.0.9", "203.0.113.7"),
        (1, "2001:DB8::1", "2001:db8::1"),
        (2, "203.0.113.7", PROXY),  # shorter than the proxy chain
        (1, None, PROXY),
        (1, "", PROXY),
        (1, "198.51.100.9, not-an-ip", PROXY),
        (1, "198.51.100.9, 203.0.113.7:4711", PROXY),
    ],
)
def test_client_ip_behind_trusted_proxies(
    settings, count: int, forwarded: str | None, expected: str
) -> None:
    settings.TRUSTED_PROXY_COUNT = count
    assert resolved(forwarded) == expected


def test_client_ip_trusted_proxy_count_is_read_from_the_environment() -> None:
    result = run(SETUP + "print(s.TRUSTED_PROXY_COUNT)", TRUSTED_PROXY_COUNT="2")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2"


# --- through sign-ins: the audit log and django-axes -----------------------------------


def sign_in(client: Client, forwarded: str, password: str) -> int:
    response = client.post(
        "/login/",
        {"username": "alice", "password": password},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=forwarded,
    )
    return response.status_code


def test_client_ip_audit_records_the_client_behind_the_proxy(
    client: Client, user: User, settings
) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    assert sign_in(client, "198.51.100.9, 203.0.113.7", "wrong") == 200
    assert sign_in(client, "203.0.113.8", PASSWORD) == 302
    rows = AuditEvent.objects.order_by("pk").values_list("action", "ip_address")
    assert list(rows) == [
        (AuditEvent.Action.LOGIN_FAILED, "203.0.113.7"),
        (AuditEvent.Action.LOGIN, "203.0.113.8"),
    ]


def test_client_ip_audit_ignores_forwarded_for_without_trusted_proxy(
    client: Client, user: User
) -> None:
    assert sign_in(client, "203.0.113.7", "wrong") == 200
    assert AuditEvent.objects.get().ip_address == PROXY


def test_client_ip_lockout_of_one_client_leaves_others_behind_the_proxy(
    user: User, settings
) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    attacker, colleague = FormClient(), FormClient()
    for i in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(attacker, "203.0.113.7", f"guess-{i}") == 200
    assert sign_in(attacker, "203.0.113.7", "last-guess") == 429
    assert sign_in(attacker, "203.0.113.7", PASSWORD) == 429
    # Forging the header does not get the attacker out: the proxy appends the real address.
    assert sign_in(attacker, "198.51.100.9, 203.0.113.7", PASSWORD) == 429
    assert sign_in(colleague, "198.51.100.9", PASSWORD) == 302


def test_client_ip_lockout_ignores_forged_header_without_trusted_proxy(
    user: User, settings
) -> None:
    attacker = FormClient()
    for i in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(attacker, f"203.0.113.{i}", f"guess-{i}") == 200
    assert sign_in(attacker, "203.0.113.99", "last-guess") == 429
    assert sign_in(attacker, "198.51.100.9", PASSWORD) == 429
