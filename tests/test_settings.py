"""Settings, read from the environment in a fresh process, as a deployment starts them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent
SETUP = "import django; django.setup(); from django.conf import settings as s; "


def run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -c code`` in a process whose environment holds only ``env`` (and PATH)."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "hostadmin.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_settings_read_numbers_and_flags_from_the_environment() -> None:
    result = run(
        SETUP + "print(s.UPSTREAM_READ_TIMEOUT, s.UPSTREAM_MAX_RETRIES, s.DEBUG, s.ALLOWED_HOSTS)",
        UPSTREAM_READ_TIMEOUT="2.5",
        UPSTREAM_MAX_RETRIES="4",
        DEBUG="false",
        ALLOWED_HOSTS=" a.example , b.example,, ",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2.5 4 False ['a.example', 'b.example']"


def test_settings_empty_variable_counts_as_unset() -> None:
    result = run(SETUP + "print(s.UPSTREAM_READ_TIMEOUT, s.DEBUG)", UPSTREAM_READ_TIMEOUT="")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "10.0 True"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("UPSTREAM_READ_TIMEOUT", "10s", "UPSTREAM_READ_TIMEOUT must be a number, not '10s'."),
        ("UPSTREAM_DEADLINE", "nan", "UPSTREAM_DEADLINE must be a finite number of 0 or more"),
        ("UPSTREAM_BACKOFF_BASE", "-1", "UPSTREAM_BACKOFF_BASE must be a finite number of 0"),
        ("UPSTREAM_MAX_RETRIES", "two", "UPSTREAM_MAX_RETRIES must be a whole number, not 'two'."),
        ("EXPORT_CONCURRENCY", "0", "EXPORT_CONCURRENCY must be at least 1, not 0."),
        ("DEBUG", "maybe", "DEBUG must be 1 or 0 (true/false, yes/no, on/off), not 'maybe'."),
        ("SECURE_SSL_REDIRECT", "2", "SECURE_SSL_REDIRECT must be 1 or 0"),
        ("DJANGO_ENV", "prod", "DJANGO_ENV must be one of development, production, not 'prod'."),
    ],
)
def test_settings_malformed_value_stops_with_its_name(name: str, value: str, message: str) -> None:
    env = {name: value}
    if name == "SECURE_SSL_REDIRECT":  # read in production only
        env.update(PRODUCTION_ENV)
    result = run(SETUP, **env)
    assert result.returncode == 1
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


# --- production ------------------------------------------------------------------------

PRODUCTION_ENV = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": "k3Yq-8xVt2NwzP9mRb7LhJs4DfGc6AeUo1iZyTnQvWrXpKdSuMl5",
    "ALLOWED_HOSTS": "hostadmin.example.com",
    "DATABASE_URL": "sqlite:////tmp/hostadmin-settings-test.sqlite3",
    "UPSTREAM_BASE_URL": "https://api.example.com/v1-beta",
    "FERNET_KEY": "x8N0o1Jt6mK0dV7cS3uQ2lP9rW4yE5aB6hG1fZ2jC0k=",
    "REDIS_URL": "redis://127.0.0.1:1/0",  # a closed port: the cache is down
}


# --- the demo (`make demo`) ------------------------------------------------------------


def demo_web_env() -> dict[str, str]:
    """The variables `make demo` sets on the web server's command line (read from a dry
    run of the Makefile, so the test follows the recipe)."""
    recipe = subprocess.run(
        ["make", "-n", "demo"], cwd=BASE_DIR, capture_output=True, text=True, check=True
    ).stdout.replace("\\\n", " ")
    line = next(part for part in recipe.split("&") if "gunicorn" in part)
    env = {}
    for word in line.split():
        if "=" not in word or word.startswith("-"):
            break
        name, _, value = word.partition("=")
        env[name] = value
    return env


DEMO_REQUESTS = (
    SETUP + "from django.test import Client; c = Client(HTTP_HOST='127.0.0.1'); "
    "print(s.DEBUG, s.ALLOWED_HOSTS); "
    "r = c.get('/static/css/app.css'); print(r.status_code); "
    "r = c.get('/no-such-page/?' + '&'.join(f'p{i}=1' for i in range(1001))); "
    "print(r.status_code, r.content.decode())"
)


def test_demo_runs_with_debug_off_and_plain_error_pages() -> None:
    env = demo_web_env()
    assert env["DEBUG"] == "0"
    result = run(DEMO_REQUESTS, **env)
    assert result.returncode == 0, result.stderr
    settings_line, static_line, page = result.stdout.split("\n", 2)
    assert settings_line == "False ['127.0.0.1', 'localhost']"
    assert static_line == "200"  # whitenoise serves static/ with DEBUG off
    assert page.startswith("404 ")
    assert "<h1>Not found</h1>" in page
    assert "URLconf" not in page  # Django's debug 404 page names the URLconf it tried


def test_production_with_safe_settings_starts() -> None:
    result = run(SETUP + "print(s.DEBUG, s.SECURE_SSL_REDIRECT)", **PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False True"


@pytest.mark.parametrize("name", ["REDIS_URL", "DATABASE_URL", "UPSTREAM_BASE_URL"])
def test_production_refuses_to_start_without_a_required_variable(name: str) -> None:
    env = {key: value for key, value in PRODUCTION_ENV.items() if key != name}
    result = run(SETUP, **env)
    assert result.returncode == 1
    assert f"ImproperlyConfigured: {name} must be set when DJANGO_ENV=production." in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DEBUG", "1", "DEBUG must be off (debug pages show code and settings to anyone)"),
        ("ALLOWED_HOSTS", "*", "ALLOWED_HOSTS must name the site's hosts, not '*'"),
        ("ALLOWED_HOSTS", "hostadmin.example.com,*", "ALLOWED_HOSTS must name the site's hosts"),
        ("SECRET_KEY", "short-key!", "SECRET_KEY must be 50 or more random characters"),
        ("SECRET_KEY", "ab" * 40, "5 or more of them different"),
        ("SECRET_KEY", "django-insecure-" + "x1Y2z3W4v5" * 5, "SECRET_KEY must be 50 or more"),
    ],
)
def test_production_refuses_unsafe_setting(name: str, value: str, message: str) -> None:
    result = run(SETUP, **{**PRODUCTION_ENV, name: value})
    assert result.returncode == 1
    assert "ImproperlyConfigured: Refusing to start with DJANGO_ENV=production: " in result.stderr
    assert message in result.stderr
    if name == "SECRET_KEY":
        assert value not in result.stderr  # the key itself is never printed


def test_production_lists_every_unsafe_setting_at_once() -> None:
    env = {**PRODUCTION_ENV, "DEBUG": "1", "ALLOWED_HOSTS": "*", "SECRET_KEY": "0123456789"}
    result = run(SETUP, **env)
    assert result.returncode == 1
    refusal = result.stderr.strip().splitlines()[-1]
    assert refusal.count("must") == 3, refusal


def test_production_deploy_check_passes_at_warning_level() -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env={"PATH": "/usr/bin:/bin", **PRODUCTION_ENV},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


PRODUCTION_REQUESTS = (
    SETUP + "from django.test import Client; c = Client(HTTP_HOST='hostadmin.example.com'); "
    "r = c.get('/healthz'); print(r.status_code, r.content.decode()); "
    "r = c.head('/healthz'); print(r.status_code); "
    "r = c.get('/readyz'); print(r.status_code, r.content.decode()); "
    "r = c.get('/login/'); print(r.status_code, r['Location']); "
    "r = c.get('/healthz', secure=True); print(r['Strict-Transport-Security'])"
)


def test_production_healthz_and_readyz_over_plain_http_and_hsts_over_https() -> None:
    result = run(PRODUCTION_REQUESTS, **PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "200 ok",  # a load balancer's plain-HTTP check is not redirected
        "200",
        # nor is the readiness check: answered, not redirected (the cache is "down" since
        # PRODUCTION_ENV's Redis is a closed port)
        '503 {"status": "down", "database": "ok", "cache": "down"}',
        "301 https://hostadmin.example.com/login/",  # every other page is
        "max-age=31536000; includeSubDomains; preload",
    ]


def test_production_hsts_from_the_environment() -> None:
    env = {**PRODUCTION_ENV, "SECURE_HSTS_SECONDS": "600", "SECURE_HSTS_PRELOAD": "0"}
    result = run(PRODUCTION_REQUESTS, **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "max-age=600; includeSubDomains"
