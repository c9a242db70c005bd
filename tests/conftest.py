"""Shared fixtures: the in-process sandbox as the upstream, users and API clients; the
builders of upstream rows for the tests of the code that presents them.

Every test talks to the upstream through ``api.use_transport(SandboxTransport(...))``:
mocking happens at the transport only, never in our own functions.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client

from connections import api
from connections.api import HostConnection
from connections.models import ApiClient, SavedView
from sandbox import ORGS_BY_SLUG, Dataset, SandboxApp, SandboxTransport

FORM_CONTENT = "application/x-www-form-urlencoded"


def pytest_configure() -> None:
    """Every test flushes the cache: with Redis, only ever its database 15."""
    from django.conf import settings

    location = str(settings.CACHES["default"].get("LOCATION", ""))
    if "redis" in settings.CACHES["default"]["BACKEND"].lower() and not location.endswith("/15"):
        pytest.exit(f"refusing to flush Redis at {location}: the tests use database 15", 2)


@pytest.fixture(autouse=True)
def fast_password_hasher(settings: Any) -> None:
    """Users are created for most tests; PBKDF2 would dominate the run (the login form
    works the same with MD5)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def sandbox() -> SandboxApp:
    """A fresh sandbox (300 rows per org, seed 7) with no faults."""
    return SandboxApp(Dataset(seed=7, rows_per_org=300))


@pytest.fixture(autouse=True)
def upstream(sandbox: SandboxApp, settings) -> Iterator[SandboxApp]:
    """Route every upstream call of this test to the in-process sandbox."""
    settings.UPSTREAM_BACKOFF_BASE = 0.001
    settings.UPSTREAM_RETRY_AFTER_CAP = 0.05
    cache.clear()
    api.use_transport(SandboxTransport(sandbox))
    yield sandbox
    api.use_transport(None)
    cache.clear()


def make_client(slug: str, **kwargs) -> ApiClient:
    org = ORGS_BY_SLUG[slug]
    client = ApiClient(
        name=kwargs.pop("name", org.name),
        client_id=org.client_id,
        organization_id=uuid.UUID(org.id),
        **kwargs,
    )
    client.set_secret(kwargs.pop("secret", org.client_secret))
    client.save()
    return client


@pytest.fixture
def demo_client(db) -> ApiClient:
    return make_client("demo-lender")


@pytest.fixture
def harbor_client(db) -> ApiClient:
    return make_client("harbor-finance")


@pytest.fixture
def user(db, demo_client: ApiClient, harbor_client: ApiClient) -> User:
    """A user with access to the Demo Lender and Harbor Finance API clients."""
    u = User.objects.create_user("alice", password="correct horse battery staple")
    demo_client.users.add(u)
    harbor_client.users.add(u)
    return u


@pytest.fixture
def other_user(db, demo_client: ApiClient) -> User:
    u = User.objects.create_user("bob", password="another long passphrase")
    demo_client.users.add(u)
    return u


@pytest.fixture
def alice(client: Client, user: User) -> Client:
    """A Django test client signed in as ``user``."""
    client.force_login(user)
    return client


def body_of(response: Any) -> str:
    """A (non-streamed) response's HTML."""
    return str(response.content.decode())


def org_id(slug: str) -> str:
    return ORGS_BY_SLUG[slug].id


def sandbox_rows(sandbox: SandboxApp, slug: str = "demo-lender", **filters: Any) -> list[dict]:
    """Every row the sandbox holds for a query (all pages, in the query's order): what a
    page or an export must show, read from the sandbox's own data."""
    query: dict[str, Any] = {
        "statuses": ("connected", "disconnected"),
        "search_field": "host_name",
        "search_text": None,
        "order_by": "host_name",
        "order_dir": "asc",
        "archived": None,
        "action_types": None,
        **filters,
    }
    return sandbox.dataset.query(org_id(slug), **query)


@pytest.fixture
def carol(db, harbor_client: ApiClient) -> User:
    """A user with access to Harbor Finance only."""
    u = User.objects.create_user("carol", password="carol long passphrase")
    harbor_client.users.add(u)
    return u


class FormClient(Client):
    """Django's test client, posting a dict URL-encoded as browsers send hostadmin's forms
    (Django's default is multipart, which every endpoint refuses: RequestBodyMiddleware)."""

    def post(self, path: str, data: Any = None, content_type: str = FORM_CONTENT, **kwargs: Any):
        if content_type == FORM_CONTENT and not isinstance(data, str | bytes):
            data = urlencode(data or {}, doseq=True)
        return super().post(path, data, content_type, **kwargs)


@pytest.fixture
def client() -> Client:
    """pytest-django's ``client``, as a FormClient."""
    return FormClient()


def make_view(
    owner: User, name: str, client: ApiClient, query: str = "", **kwargs: Any
) -> SavedView:
    """A saved view written straight to the database (no service, no checks)."""
    return SavedView.objects.create(
        owner=owner,
        name=name,
        query=query,
        api_client=client,
        target_org_id=kwargs.pop("target", str(client.organization_id)),
        **kwargs,
    )


def field_error(body: str, error_id: str) -> str:
    """The text of the error a page shows under a field (``<p … id=error_id>``)."""
    pattern = rf'<p class="error field-error[^"]*"\s+id="{error_id}" role="alert">(.*?)</p>'
    found = re.search(pattern, body, re.S)
    assert found is not None, f"no {error_id} in the page"
    return found[1]


# --- upstream rows, built without the sandbox --------------------------------------------

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
"""The "now" of rows and stamps built by the tests: ``host_connection()`` was created a
month before it and updated a day before it."""

DETAIL_LABELS = [
    "Host organization ID",
    "Guest organization ID",
    "Host name",
    "Host email",
    "Owner email",
    "Status",
    "Archived",
    "Created",
    "Updated",
    "Archived at",
    "Active action",
    "Action updated",
]
"""The detail page's fields, in order."""


def host_connection(**overrides: object) -> HostConnection:
    """One upstream row (Acme Lending, connected, not archived, no action), with
    ``overrides`` of any of its fields."""
    data: dict[str, object] = {
        "host_organization_id": "11111111-1111-4111-8111-111111111111",
        "guest_organization_id": "22222222-2222-4222-8222-222222222222",
        "host_name": "Acme Lending",
        "host_email": "contact@acme.example",
        "owner_email": "anna@acme.example",
        "status": "connected",
        "archived": False,
        "created_at": "2026-10-01T12:00:00Z",
        "updated_at": "2026-10-31T12:00:00Z",
        "archived_at": None,
        "active_action_type": None,
        "active_action_updated_at": None,
        **overrides,
    }
    return HostConnection.model_validate(data)


@pytest.fixture(autouse=True)
def tasks_and_files(settings: Any, tmp_path: Any) -> None:
    """Background exports run as they are enqueued (django-tasks' immediate backend) and
    write their files under the test's own folder."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "files")},
        },
    }
