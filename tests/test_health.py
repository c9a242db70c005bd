"""/healthz (liveness) and /readyz (database and cache), both answering GET and HEAD."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
from django.test import Client


def closed_port() -> int:
    """A loopback port nothing listens on: connecting to it is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def redis_down(settings: Any) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "hostadmin.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }


def test_health_liveness_answers_get_and_head(client: Client) -> None:
    get, head = client.get("/healthz"), client.head("/healthz")
    assert (get.status_code, get.content, get["Content-Type"]) == (200, b"ok", "text/plain")
    assert (head.status_code, head.content) == (200, b"")
    assert client.post("/healthz").status_code == 405


@pytest.mark.django_db
def test_health_ready_reports_each_dependency(client: Client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert json.loads(response.content) == {"status": "ok", "database": "ok", "cache": "ok"}
    assert client.head("/readyz").status_code == 200
    assert client.post("/readyz").status_code == 405


@pytest.mark.django_db
def test_health_ready_fails_when_the_cache_is_down(client: Client, redis_down: None) -> None:
    response = client.get("/readyz")
    assert response.status_code == 503
    assert json.loads(response.content) == {"status": "down", "database": "ok", "cache": "down"}
    assert client.head("/readyz").status_code == 503


def test_health_liveness_ignores_a_cache_that_is_down(client: Client, redis_down: None) -> None:
    assert client.get("/healthz").status_code == 200
