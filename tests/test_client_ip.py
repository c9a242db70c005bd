"""hostadmin.client_ip: behind a trusted proxy, the address that proxy appended to
X-Forwarded-For; from anyone else, the connection's address. The sign-in lockout keys
on it, so one client's failures behind nginx do not lock out everyone else."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client, RequestFactory

from hostadmin.client_ip import client_ip


@pytest.fixture
def behind_nginx(settings: Any) -> None:
    settings.TRUSTED_PROXIES = frozenset({"127.0.0.1"})


@pytest.mark.usefixtures("behind_nginx")
@pytest.mark.parametrize(
    ("remote", "forwarded", "expected"),
    [
        ("127.0.0.1", "203.0.113.9, 198.51.100.7", "198.51.100.7"),  # nginx appended the last
        ("127.0.0.1", "2001:db8::1", "2001:db8::1"),
        ("127.0.0.1", "", "127.0.0.1"),  # the proxy's own request
        ("127.0.0.1", "not-an-address", "127.0.0.1"),
        ("192.0.2.50", "198.51.100.7", "192.0.2.50"),  # not a trusted proxy: header ignored
    ],
)
def test_client_ip_forwarded_only_from_trusted_proxies(
    remote: str, forwarded: str, expected: str
) -> None:
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


def test_client_ip_no_trusted_proxy_by_default() -> None:
    request = RequestFactory().get(
        "/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7"
    )
    assert client_ip(request) == "127.0.0.1"


@pytest.mark.usefixtures("behind_nginx")
def test_client_ip_lockout_keys_on_the_forwarded_address(client: Client, db: Any) -> None:
    User.objects.create_user("alice", password="correct horse battery staple")
    attacker = {"HTTP_X_FORWARDED_FOR": "198.51.100.7"}
    for _ in range(5):
        response = client.post("/login/", {"username": "alice", "password": "wrong"}, **attacker)
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()
    alice = Client()
    done = alice.post(
        "/login/",
        {"username": "alice", "password": "correct horse battery staple"},
        HTTP_X_FORWARDED_FOR="203.0.113.9",
    )
    assert done.status_code == 302
    assert done["Location"] == "/connections/"
