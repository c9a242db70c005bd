"""Security: anonymous access, CSRF, secrets, admin, brute force, sessions, logout."""

from __future__ import annotations

import logging
import re
import traceback
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.resolvers import RegexPattern, RoutePattern

from connections import api, context
from connections.models import ApiClient, AuditEvent, SavedView
from connections.query import ListQuery
from sandbox import SandboxApp
from tests.conftest import FormClient, make_client, org_id

DEMO = org_id("demo-lender")
NORTHWIND = org_id("northwind-credit")
HARBOR = org_id("harbor-finance")
SECRETS = ("sandbox-secret-demo-lender", "sandbox-secret-harbor-finance")
PASSWORD = "correct horse battery staple"


# --- walking every URL of the project --------------------------------------------------

SAMPLES = {
    "int": "1",
    "str": "1",
    "path": "1",
    "slug": "x",
    "uuid": str(uuid.uuid4()),
    "export_id": uuid.uuid4().hex,
}
REGEX_CANDIDATES = ("1", "connections", "auth", "x", uuid.uuid4().hex)
_ROUTE_PARAM = re.compile(r"<(?:(?P<conv>[^>:]+):)?(?P<name>[^>]+)>")
_REGEX_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>(?P<body>[^()]*)\)")


def _fill_regex(regex: str) -> str:
    def sample(match: re.Match[str]) -> str:
        for candidate in REGEX_CANDIDATES:
            if re.fullmatch(match["body"], candidate):
                return candidate
        raise AssertionError(f"no sample value for {match[0]}")

    return _REGEX_GROUP.sub(sample, regex).lstrip("^").rstrip("$")


def _fill(pattern: object) -> str:
    if isinstance(pattern, RoutePattern):
        return _ROUTE_PARAM.sub(lambda m: SAMPLES[m["conv"] or "str"], str(pattern))
    if isinstance(pattern, RegexPattern):
        return _fill_regex(str(pattern))
    raise AssertionError(f"unknown pattern type {type(pattern)}")


def _walk(patterns: list, prefix: str, namespace: str) -> Iterator[tuple[str, str]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry.url_patterns, prefix + _fill(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}{entry.name}" if entry.name else f"{namespace}<unnamed>"
            yield name, "/" + prefix + _fill(entry.pattern)


def project_urls() -> list[tuple[str, str]]:
    urls = []
    for name, path in _walk(get_resolver().url_patterns, "", ""):
        resolve(path)  # every sample path must really reach a view
        urls.append((name, path))
    return urls


ALL_URLS = project_urls()
ALLOW_ANONYMOUS = {"login", "health", "ready", "admin:login", "metrics"}  # metrics: by address


def test_url_walk_covers_the_project() -> None:
    names = {name for name, _ in ALL_URLS}
    assert {"connections:list", "connections:view_copy", "logout", "admin:index"} <= names
    assert len(ALL_URLS) > 60


def _login_paths() -> tuple[str, ...]:
    return ("/login/", "/admin/login/")


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize(("name", "path"), [u for u in ALL_URLS if u[0] not in ALLOW_ANONYMOUS])
def test_anonymous_every_url_redirects_to_login_or_is_refused(
    client: Client, db, upstream: SandboxApp, name: str, path: str, method: str
) -> None:
    response = getattr(client, method)(path, follow=True)
    if response.redirect_chain:
        final = response.request["PATH_INFO"]
        assert final in _login_paths(), f"{name} {path} ended at {final}"
        assert response.status_code == 200
        if final == "/login/":
            assert "next=" in response.redirect_chain[-1][0] or name == "logout"
    else:
        assert response.status_code in (401, 403, 405), f"{name} {path}: {response.status_code}"
    assert list(upstream.seen) == []
    assert not SavedView.objects.exists()


@pytest.mark.parametrize(("name", "path"), [u for u in ALL_URLS if u[0] in ALLOW_ANONYMOUS])
def test_anonymous_allow_list_answers(client: Client, db, name: str, path: str) -> None:
    assert client.get(path).status_code == 200


def test_anonymous_static_files_are_served(client: Client, db) -> None:
    response = client.get("/static/css/app.css")
    assert response.status_code == 200


def test_anonymous_htmx_request_gets_hx_redirect_to_login(
    client: Client, db, upstream: SandboxApp
) -> None:
    response = client.get("/connections/?order_dir=desc", HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert response["HX-Redirect"].startswith("/login/?next=/connections/")
    assert response.content == b""
    assert list(upstream.seen) == []


def test_anonymous_htmx_post_gets_hx_redirect_to_login(client: Client, db) -> None:
    response = client.post("/views/", {"name": "x"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert response["HX-Redirect"].startswith("/login/")
    assert not SavedView.objects.exists()


# --- CSRF ------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "path"), ALL_URLS)
def test_csrf_enforced_on_every_post(
    db, user: User, upstream: SandboxApp, name: str, path: str
) -> None:
    browser = FormClient(enforce_csrf_checks=True)
    browser.force_login(user)
    response = browser.post(path, {"name": "csrf", "client": "1", "target": "self"})
    assert response.status_code == 403, f"{name} {path}"
    assert "The form expired" in response.content.decode()
    assert "_auth_user_id" in browser.session  # logout did not happen either
    assert not SavedView.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.CONTEXT_SWITCH).exists()
    assert list(upstream.seen) == []


def test_csrf_enforced_on_login(db, user: User) -> None:
    browser = FormClient(enforce_csrf_checks=True)
    response = browser.post("/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 403
    assert "_auth_user_id" not in browser.session


def test_csrf_token_header_as_sent_by_htmx_is_accepted(db, user: User) -> None:
    browser = FormClient(enforce_csrf_checks=True)
    browser.force_login(user)
    page = browser.get("/connections/")
    token = page.context["csrf_token"]
    assert f'"X-CSRFToken": "{token}"' in page.content.decode()
    response = browser.post(
        "/views/", {"name": "With token"}, HTTP_X_CSRFTOKEN=str(token), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith("/connections/?ctx=")
    assert SavedView.objects.filter(name="With token").exists()


# --- the API client secret never leaks -------------------------------------------------


def _all_text(response) -> str:
    body = (
        b"".join(response.streaming_content)
        if getattr(response, "streaming", False)
        else response.content
    )
    headers = "\n".join(f"{k}: {v}" for k, v in response.items())
    return headers + "\n" + body.decode(errors="replace")


def _log_text(records: list[logging.LogRecord]) -> str:
    parts = []
    for record in records:
        parts.append(record.getMessage())
        parts.append(repr(record.args))
        if record.exc_info:
            parts.append("".join(traceback.format_exception(*record.exc_info)))
        if record.exc_text:
            parts.append(record.exc_text)
    return "\n".join(parts)


@pytest.fixture
def staff(db, user: User) -> User:
    user.is_staff = True
    user.is_superuser = True
    user.save()
    return user


def test_secret_never_in_responses_logs_or_session(
    client: Client,
    staff: User,
    demo_client: ApiClient,
    harbor_client: ApiClient,
    upstream: SandboxApp,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "axes", "django", "connections"):
        caplog.set_level(logging.DEBUG, logger=name)
    texts: list[str] = []

    def visit(path: str, method: str = "get", data: dict | None = None, **extra) -> None:
        response = getattr(client, method)(path, data or {}, **extra)
        texts.append(_all_text(response))

    # Signing in (a failure first), then the pages, their failures and the admin.
    visit("/login/", "post", {"username": "alice", "password": "wrong"})
    visit("/login/", "post", {"username": "alice", "password": PASSWORD})
    visit("/connections/")
    visit("/connections/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results")
    visit(f"/connections/?ctx={demo_client.pk}.{NORTHWIND}")
    visit(f"/connections/?ctx={harbor_client.pk}.{DEMO}")  # upstream 403
    visit(f"/connections/{HARBOR}/?ctx={demo_client.pk}")
    visit(f"/connections/{uuid.uuid4()}/?ctx={demo_client.pk}")  # upstream 404
    visit(f"/connections/export.csv?ctx={demo_client.pk}&scope=page")
    for kind in ("status_500", "timeout", "drop", "bad_json", "bad_shape", "expire_tokens"):
        upstream.faults.add(kind, times=None)
        visit("/connections/?order_dir=desc")
        visit(f"/connections/{HARBOR}/")
        upstream.faults.clear()
    upstream.faults.add("status_429", times=None, seconds=30)
    visit("/connections/?order_dir=desc")
    upstream.faults.clear()
    visit("/context/", "post", {"client": demo_client.pk, "target": HARBOR})
    visit("/context/", "post", {"client": "abc", "target": "nope"})
    visit("/views/", "post", {"name": "Mine", "query": "order_dir=desc"})
    visit("/admin/")
    visit("/admin/connections/apiclient/")
    visit(f"/admin/connections/apiclient/{demo_client.pk}/change/")
    visit(f"/admin/connections/apiclient/{demo_client.pk}/history/")
    visit(f"/admin/connections/apiclient/{demo_client.pk}/delete/")
    visit("/admin/connections/apiclient/add/")
    visit("/admin/connections/auditevent/")
    visit("/admin/connections/savedview/")
    # The admin re-shows a form with errors: a typed secret must not come back.
    visit(
        "/admin/connections/apiclient/add/",
        "post",
        {"name": "", "client_id": "x", "organization_id": "bad", "new_secret": SECRETS[0]},
    )
    # A client whose stored secret the upstream refuses: a token failure, logged.
    demo_client.set_secret("sandbox-secret-demo-lender-rotated")
    demo_client.save()
    visit(f"/connections/?ctx={demo_client.pk}&order_dir=desc")
    visit("/logout/", "post")

    assert len(texts) > 30
    assert any("Could not load the connections" in t for t in texts)  # failures were seen
    assert any(r.levelno >= logging.WARNING for r in caplog.records)
    secrets = (*SECRETS, "sandbox-secret-demo-lender-rotated")
    logs = _log_text(caplog.records)
    sessions = "\n".join(str(s.get_decoded()) for s in Session.objects.all())
    audit = "\n".join(f"{e.username} {e.context} {e.detail}" for e in AuditEvent.objects.all())
    for secret in secrets:
        for text in texts:
            assert secret not in text
        assert secret not in logs
        assert secret not in sessions
        assert secret not in audit


@pytest.mark.parametrize(
    "fault", ["status_500", "timeout", "drop", "bad_json", "bad_shape", "status_429"]
)
def test_secret_never_in_api_exceptions(
    demo_client: ApiClient, upstream: SandboxApp, fault: str
) -> None:
    upstream.faults.add(fault, times=None, seconds=30)
    ctx = context.OrgContext(demo_client, DEMO)
    with pytest.raises(api.ApiError) as info:
        api.list_host_connections(ctx.caller, ListQuery())
    text = "".join(traceback.format_exception(info.value)) + repr(info.value)
    text += repr(info.value.args) + repr(vars(info.value)) + repr(ctx) + repr(ctx.caller)
    assert SECRETS[0] not in text


def test_secret_never_in_token_failure_exception(
    demo_client: ApiClient, upstream: SandboxApp
) -> None:
    demo_client.set_secret("sandbox-secret-wrong-one")
    demo_client.save()
    ctx = context.OrgContext(demo_client, DEMO)
    with pytest.raises(api.ApiAuthError) as info:
        api.list_host_connections(ctx.caller, ListQuery())
    text = "".join(traceback.format_exception(info.value)) + repr(vars(info.value))
    assert "sandbox-secret-wrong-one" not in text
    assert upstream.seen[-1].path.endswith("/oauth2/token")


# --- admin: the API client secret is write-only ----------------------------------------


def _admin_form_data(**overrides) -> dict:
    data = {
        "name": "Quiet Bank",
        "client_id": "sandbox-quiet-bank",
        "organization_id": org_id("quiet-bank"),
        "enabled": "on",
        "new_secret": "",
    }
    data.update(overrides)
    return data


def test_admin_change_form_never_renders_secret(
    client: Client, staff: User, demo_client: ApiClient
) -> None:
    client.force_login(staff)
    response = client.get(f"/admin/connections/apiclient/{demo_client.pk}/change/")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="new_secret"' in body
    assert 'type="password"' in body
    assert SECRETS[0] not in body
    assert demo_client.secret_ciphertext not in body
    assert "secret_ciphertext" not in body


def test_admin_new_client_requires_secret(client: Client, staff: User) -> None:
    client.force_login(staff)
    response = client.post("/admin/connections/apiclient/add/", _admin_form_data())
    assert response.status_code == 200
    assert "A new API client needs its secret." in response.content.decode()
    assert not ApiClient.objects.filter(name="Quiet Bank").exists()


def test_admin_save_encrypts_secret(client: Client, staff: User) -> None:
    client.force_login(staff)
    plaintext = "sandbox-secret-quiet-bank"
    response = client.post(
        "/admin/connections/apiclient/add/", _admin_form_data(new_secret=plaintext)
    )
    assert response.status_code == 302
    saved = ApiClient.objects.get(name="Quiet Bank")
    assert saved.secret_ciphertext
    assert saved.secret_ciphertext != plaintext
    assert plaintext not in saved.secret_ciphertext
    assert saved.secret() == plaintext


def test_admin_change_without_secret_keeps_it(
    client: Client, staff: User, demo_client: ApiClient
) -> None:
    client.force_login(staff)
    before = demo_client.secret_ciphertext
    response = client.post(
        f"/admin/connections/apiclient/{demo_client.pk}/change/",
        _admin_form_data(
            name="Demo Lender renamed",
            client_id=demo_client.client_id,
            organization_id=str(demo_client.organization_id),
        ),
    )
    assert response.status_code == 302
    demo_client.refresh_from_db()
    assert demo_client.name == "Demo Lender renamed"
    assert demo_client.secret_ciphertext == before
    assert demo_client.secret() == SECRETS[0]


def test_admin_change_with_new_secret_replaces_it(
    client: Client, staff: User, demo_client: ApiClient
) -> None:
    client.force_login(staff)
    response = client.post(
        f"/admin/connections/apiclient/{demo_client.pk}/change/",
        _admin_form_data(
            name=demo_client.name,
            client_id=demo_client.client_id,
            organization_id=str(demo_client.organization_id),
            new_secret="a-brand-new-secret",
        ),
    )
    assert response.status_code == 302
    demo_client.refresh_from_db()
    assert demo_client.secret() == "a-brand-new-secret"
    assert "a-brand-new-secret" not in demo_client.secret_ciphertext


def test_admin_form_error_does_not_echo_typed_secret(client: Client, staff: User) -> None:
    client.force_login(staff)
    response = client.post(
        "/admin/connections/apiclient/add/",
        _admin_form_data(organization_id="not-a-uuid", new_secret="typed-secret-value"),
    )
    assert response.status_code == 200
    assert "typed-secret-value" not in response.content.decode()


# --- brute force: django-axes ----------------------------------------------------------

_CSRF = re.compile(r'(name="csrfmiddlewaretoken" value="|"X-CSRFToken": ")[^"]+')


def _normalised(response, username: str) -> tuple[int, str]:
    body = _CSRF.sub(r"\1TOKEN", response.content.decode()).replace(username, "USERNAME")
    return response.status_code, body


def _fail_logins(client: Client, username: str, times: int) -> list[tuple[int, str]]:
    return [
        _normalised(
            client.post("/login/", {"username": username, "password": f"wrong-{i}"}), username
        )
        for i in range(times)
    ]


def test_axes_locks_out_after_five_failures(client: Client, user: User, settings) -> None:
    assert settings.AXES_FAILURE_LIMIT == 5
    responses = _fail_logins(client, "alice", 5)
    assert [status for status, _ in responses[:4]] == [200] * 4
    assert all("Please enter a correct username and password" in b for _, b in responses[:4])
    locked = client.post("/login/", {"username": "alice", "password": PASSWORD})
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get("/connections/").status_code == 302


def test_axes_lockout_is_per_username(client: Client, user: User, other_user: User) -> None:
    _fail_logins(client, "alice", 5)
    response = client.post("/login/", {"username": "bob", "password": "another long passphrase"})
    assert response.status_code == 302
    assert "_auth_user_id" in client.session


def test_axes_same_responses_for_real_and_unknown_usernames(user: User, settings) -> None:
    real = _fail_logins(FormClient(), "alice", 7)
    unknown = _fail_logins(FormClient(), "mallory-unknown", 7)
    assert real == unknown
    assert real[-1][0] == 429


def test_axes_below_limit_success_resets_counter(client: Client, user: User) -> None:
    _fail_logins(client, "alice", 4)
    assert client.post("/login/", {"username": "alice", "password": PASSWORD}).status_code == 302
    client.post("/logout/")
    _fail_logins(client, "alice", 4)
    assert client.post("/login/", {"username": "alice", "password": PASSWORD}).status_code == 302


# --- audit of sign-ins, sign-outs ------------------------------------------------------


def test_audit_login_success(client: Client, user: User) -> None:
    client.post("/login/", {"username": "alice", "password": PASSWORD}, REMOTE_ADDR="10.1.2.3")
    event = AuditEvent.objects.get(action=AuditEvent.Action.LOGIN)
    assert event.user == user
    assert event.username == "alice"
    assert event.ip_address == "10.1.2.3"
    assert PASSWORD not in f"{event.context} {event.detail}"


@pytest.mark.parametrize("username", ["alice", "nobody-here"])
def test_audit_login_failure(client: Client, user: User, username: str) -> None:
    client.post("/login/", {"username": username, "password": "hunter2-wrong"})
    event = AuditEvent.objects.get(action=AuditEvent.Action.LOGIN_FAILED)
    assert event.user is None
    assert event.username == username
    assert "hunter2-wrong" not in f"{event.username} {event.context} {event.detail}"
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.LOGIN).exists()


def test_audit_logout(alice: Client, user: User) -> None:
    response = alice.post("/logout/")
    assert response.status_code == 302
    event = AuditEvent.objects.get(action=AuditEvent.Action.LOGOUT)
    assert event.user == user


def test_audit_context_switch_never_contains_secret(
    alice: Client, demo_client: ApiClient, harbor_client: ApiClient
) -> None:
    alice.post("/context/", {"client": demo_client.pk, "target": NORTHWIND})
    alice.post("/context/", {"client": harbor_client.pk, "target": "self"})
    events = AuditEvent.objects.filter(action=AuditEvent.Action.CONTEXT_SWITCH)
    assert events.count() == 2
    for event in events:
        text = f"{event.username} {event.context} {event.detail} {event.ip_address}"
        for secret in SECRETS:
            assert secret not in text
        assert demo_client.secret_ciphertext not in text
        assert harbor_client.secret_ciphertext not in text


# --- logout ----------------------------------------------------------------------------


def test_logout_get_is_405(alice: Client) -> None:
    response = alice.get("/logout/")
    assert response.status_code == 405
    assert "_auth_user_id" in alice.session
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.LOGOUT).exists()


def test_logout_post_ends_session(alice: Client, upstream: SandboxApp) -> None:
    response = alice.post("/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert "_auth_user_id" not in alice.session
    upstream.seen.clear()
    assert alice.get("/connections/").status_code == 302
    assert list(upstream.seen) == []


def test_login_disabled_api_client_user_still_signs_in(
    client: Client, db, upstream: SandboxApp
) -> None:
    # Signing in never needs the upstream; the list then explains the missing access.
    quiet = make_client("quiet-bank", enabled=False)
    u = User.objects.create_user("erin", password=PASSWORD)
    quiet.users.add(u)
    assert client.post("/login/", {"username": "erin", "password": PASSWORD}).status_code == 302
    assert client.get("/connections/").status_code == 403
    assert list(upstream.seen) == []


# --- response headers, the CSRF cookie and the health endpoint ------------------------


def test_permissions_policy_denies_unused_browser_features(client: Client, db) -> None:
    response = client.get("/login/")
    assert response.status_code == 200
    policy = dict(item.strip().split("=", 1) for item in response["Permissions-Policy"].split(","))
    for feature in ("camera", "microphone", "geolocation", "payment", "usb", "serial"):
        assert policy[feature] == "()", feature
    assert policy["clipboard-write"] == "(self)"  # the detail page's copy buttons


def test_csrf_cookie_is_httponly_and_the_token_is_in_the_page(alice: Client) -> None:
    response = alice.get("/connections/")
    assert response.status_code == 200
    cookie = response.cookies["csrftoken"]
    assert cookie["httponly"] is True
    token = response.context["csrf_token"]
    body = response.content.decode()
    htmx_headers = f' hx-headers=\'{{"X-CSRFToken": "{token}"}}\'>'
    assert re.search(r"<body[^>]*" + re.escape(htmx_headers), body)  # what htmx sends
    assert 'name="csrfmiddlewaretoken"' in body  # what the forms send


def test_healthz_answers_head_and_refuses_post(client: Client, db) -> None:
    head = client.head("/healthz")
    assert head.status_code == 200
    assert head["Content-Type"] == "text/plain"
    response = client.post("/healthz")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"


def test_axes_lockout_says_how_long_with_retry_after(client: Client, user: User) -> None:
    _fail_logins(client, "alice", 5)
    locked = client.post("/login/", {"username": "alice", "password": PASSWORD})
    assert locked.status_code == 429
    assert locked["Retry-After"] == "900"  # AXES_COOLOFF_MINUTES' default, 15
    assert "Too many failed sign-ins. Try again in 15 minutes," in locked.content.decode()


def test_axes_lockout_retry_after_follows_the_cool_off(
    client: Client, user: User, settings
) -> None:
    settings.AXES_COOLOFF_TIME = timedelta(seconds=45)
    _fail_logins(client, "alice", 5)
    locked = client.post("/login/", {"username": "alice", "password": PASSWORD})
    assert locked.status_code == 429
    assert locked["Retry-After"] == "45"
    assert "Try again in 1 minute," in locked.content.decode()
