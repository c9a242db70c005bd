"""hostadmin settings: one file, read from environment variables.

Development defaults are safe (SQLite, local-memory cache, the sandbox upstream on
loopback, DEBUG on). With ``DJANGO_ENV=production`` every required variable must be set,
or the process refuses to start. Every variable is read by one of the ``env_*`` helpers
below: an empty variable counts as unset, and a malformed one stops the process with a
message that names it.
"""

from __future__ import annotations

import base64
import hashlib
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def _raw(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


ENVIRONMENTS = ("development", "production")
ENV = _raw("DJANGO_ENV") or "development"
if ENV not in ENVIRONMENTS:
    raise ImproperlyConfigured(f"DJANGO_ENV must be one of {', '.join(ENVIRONMENTS)}, not {ENV!r}.")
PRODUCTION = ENV == "production"


def env_str(name: str, default: str | None = None, *, required_in_production: bool = False) -> str:
    value = _raw(name)
    if value is not None:
        return value
    if PRODUCTION and required_in_production:
        raise ImproperlyConfigured(f"{name} must be set when DJANGO_ENV=production.")
    if default is None:
        raise ImproperlyConfigured(f"{name} must be set.")
    return default


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = _raw(name)
    try:
        value = int(raw) if raw is not None else default
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}.") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}.")
    return value


def env_float(name: str, default: float) -> float:
    raw = _raw(name)
    try:
        value = float(raw if raw is not None else default)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {raw!r}.") from None
    if not 0 <= value < float("inf"):
        raise ImproperlyConfigured(f"{name} must be a finite number of 0 or more, not {raw!r}.")
    return value


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def env_bool(name: str, default: bool) -> bool:
    raw = _raw(name)
    if raw is None:
        return default
    if raw.lower() in _TRUE + _FALSE:
        return raw.lower() in _TRUE
    raise ImproperlyConfigured(f"{name} must be 1 or 0 (true/false, yes/no, on/off), not {raw!r}.")


def env_list(name: str, default: str, *, required_in_production: bool = False) -> list[str]:
    """A comma-separated list; blanks around and between the commas are dropped."""
    raw = env_str(name, default, required_in_production=required_in_production)
    return [item.strip() for item in raw.split(",") if item.strip()]


SECRET_KEY = env_str(
    "SECRET_KEY", "dev-only-insecure-key-do-not-use-in-production", required_in_production=True
)
DEBUG = env_bool("DEBUG", not PRODUCTION)
ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", "127.0.0.1,localhost,testserver", required_in_production=True
)


def _unsafe_in_production() -> list[str]:
    """What Django's deploy checks only warn about, refused here: a site open to any host,
    debug pages for anyone, or a guessable signing key (W009's rule)."""
    problems = []
    if DEBUG:
        problems.append("DEBUG must be off (debug pages show code and settings to anyone)")
    if "*" in ALLOWED_HOSTS:
        problems.append("ALLOWED_HOSTS must name the site's hosts, not '*'")
    if (
        len(SECRET_KEY) < 50
        or len(set(SECRET_KEY)) < 5
        or SECRET_KEY.startswith("django-insecure-")
    ):
        problems.append(
            "SECRET_KEY must be 50 or more random characters, 5 or more of them different "
            "(make one with: python -c 'from django.core.management.utils import "
            "get_random_secret_key as k; print(k())')"
        )
    return problems


if PRODUCTION and (_problems := _unsafe_in_production()):
    raise ImproperlyConfigured(
        "Refusing to start with DJANGO_ENV=production: " + "; ".join(_problems) + "."
    )

# --- Upstream (the MyCreditApp API, or the sandbox) ------------------------------------
UPSTREAM_BASE_URL = env_str(
    "UPSTREAM_BASE_URL", "http://127.0.0.1:8100/v1-beta", required_in_production=True
)
UPSTREAM_CONNECT_TIMEOUT = env_float("UPSTREAM_CONNECT_TIMEOUT", 3)
UPSTREAM_READ_TIMEOUT = env_float("UPSTREAM_READ_TIMEOUT", 10)
UPSTREAM_DEADLINE = env_float("UPSTREAM_DEADLINE", 20)  # seconds, per call
UPSTREAM_MAX_RETRIES = env_int("UPSTREAM_MAX_RETRIES", 2)
UPSTREAM_RETRY_AFTER_CAP = env_float("UPSTREAM_RETRY_AFTER_CAP", 2)
UPSTREAM_BACKOFF_BASE = env_float("UPSTREAM_BACKOFF_BASE", 0.2)

# Key for encrypting API client secrets at rest (Fernet, urlsafe base64 of 32 bytes).
FERNET_KEY = env_str(
    "FERNET_KEY",
    base64.urlsafe_b64encode(hashlib.sha256(SECRET_KEY.encode()).digest()).decode(),
    required_in_production=not _raw("FERNET_KEYS"),  # or FERNET_KEYS (below)
)

# --- Product limits --------------------------------------------------------------------
SAVED_VIEWS_PER_USER = env_int("SAVED_VIEWS_PER_USER", 200)
# The organizations an API client may act on (the switcher's names), found by probing
# its hosts: kept this many seconds, probed this many at a time.
TARGETS_CACHE_SECONDS = env_int("TARGETS_CACHE_SECONDS", 300)
TARGETS_PROBE_CONCURRENCY = env_int("TARGETS_PROBE_CONCURRENCY", 8, minimum=1)
EXPORT_MAX_ROWS = env_int("EXPORT_MAX_ROWS", 100_000)
EXPORT_CONCURRENCY = env_int("EXPORT_CONCURRENCY", 4, minimum=1)
EXPORTS_PER_USER = env_int("EXPORTS_PER_USER", 2, minimum=1)
# Background exports (connections/export/background.py), run by `manage.py db_worker`:
# files kept this many days; per user, exports queued or running at once and the bytes of
# finished files kept; a checkpoint (a part file and the offset) every this many rows at
# most; a running export whose worker has not written a heartbeat for this many seconds
# is taken over by another worker, and an export queued this long whose task can no
# longer run it (lost, ended, or taken this long ago and never claimed) gets a new task
# (`manage.py exports_sweep`).
EXPORT_RETENTION_DAYS = env_int("EXPORT_RETENTION_DAYS", 7, minimum=1)
BACKGROUND_EXPORTS_PER_USER = env_int("BACKGROUND_EXPORTS_PER_USER", 2, minimum=1)
EXPORT_STORAGE_PER_USER_MB = env_int("EXPORT_STORAGE_PER_USER_MB", 2048, minimum=1)
EXPORT_CHECKPOINT_ROWS = min(env_int("EXPORT_CHECKPOINT_ROWS", 5000, minimum=100), 5000)
EXPORT_STALE_SECONDS = env_int("EXPORT_STALE_SECONDS", 60, minimum=5)
# A step that fetches no page (the .xlsx's close, the upload) keeps the heartbeat going this
# long at most: one hung past it (a storage that never answers) goes stale and is taken over.
EXPORT_STEP_MAX_SECONDS = env_int("EXPORT_STEP_MAX_SECONDS", 3600, minimum=1)
# An export whose worker died this many times fails instead of being queued again.
EXPORT_MAX_ATTEMPTS = env_int("EXPORT_MAX_ATTEMPTS", 3, minimum=1)
# Django's Tasks API (the django-tasks backport): the database backend, so the web
# processes enqueue into the same database the workers read; no other service.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

# Request bodies: forms only, none near this size; larger ones are refused unread
# (connections.middleware.RequestBodyMiddleware), multipart ones always.
REQUEST_BODY_MAX_BYTES = env_int("REQUEST_BODY_MAX_BYTES", 65_536, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = REQUEST_BODY_MAX_BYTES  # Django's own check, as it reads

# --- Django ----------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "csp",
    "axes",
    "django_tasks",
    "django_tasks_db",
    "connections",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.gzip.GZipMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "connections.middleware.RequestBodyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "connections.middleware.SessionLifetimeMiddleware",
    "connections.middleware.NoStoreMiddleware",
    "connections.middleware.TimezoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "connections.middleware.HtmxLoginRedirectMiddleware",
    "connections.middleware.HtmxErrorPageMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "hostadmin.urls"
WSGI_APPLICATION = "hostadmin.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "connections.context_processors.org_context",
                "connections.context_processors.preferences",
                "connections.context_processors.exports",
            ],
        },
    }
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str(
            "DATABASE_URL",
            f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}",
            required_in_production=True,
        ),
        conn_max_age=60,
        conn_health_checks=True,  # a restarted database costs no failed request
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The demo's task worker and web server write the same file: a write transaction takes
    # the lock as it begins, and waits up to 20 s for it, instead of failing half-way with
    # "database is locked"; readers never wait for the writer (WAL).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        transaction_mode="IMMEDIATE", timeout=20, init_command="PRAGMA journal_mode=WAL;"
    )

# Required in production: the local-memory fallback is one cache per process, so with
# several workers tokens, export progress and export limits would not be shared.
REDIS_URL = env_str("REDIS_URL", "", required_in_production=True)
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "connections:list"
LOGOUT_REDIRECT_URL = "login"

# Sessions: an idle timeout and an absolute lifetime (SessionLifetimeMiddleware).
SESSION_IDLE_SECONDS = env_int("SESSION_IDLE_MINUTES", 30, minimum=1) * 60
SESSION_ABSOLUTE_SECONDS = env_int("SESSION_ABSOLUTE_HOURS", 12, minimum=1) * 3600
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_SECONDS
# Sessions stay in the database (not cached_db): with per-process caches a sign-out would
# not reach the other workers' cached copies.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# The token reaches htmx from the page (base.html's hx-headers) and forms from
# {% csrf_token %}: no script reads the cookie.
CSRF_COOKIE_HTTPONLY = True
# Load balancers check /healthz and /readyz over plain HTTP: a redirect to HTTPS would
# fail them.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000)  # a year
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)

# Powerful browser features the site never uses, denied to it and to anything it embeds
# (django-permissions-policy); the detail page's copy buttons keep the clipboard.
_DENIED_FEATURES = [
    "accelerometer",
    "ambient-light-sensor",
    "autoplay",
    "bluetooth",
    "browsing-topics",
    "camera",
    "display-capture",
    "encrypted-media",
    "geolocation",
    "gyroscope",
    "hid",
    "idle-detection",
    "interest-cohort",
    "magnetometer",
    "microphone",
    "midi",
    "payment",
    "publickey-credentials-get",
    "screen-wake-lock",
    "serial",
    "usb",
    "xr-spatial-tracking",
]
PERMISSIONS_POLICY: dict[str, list[str]] = {
    **{feature: [] for feature in _DENIED_FEATURES},
    "clipboard-write": ["self"],
}

# Reverse proxies in front of the site that append to X-Forwarded-For (hostadmin/client_ip.py):
# 0 trusts none and uses the connection's address.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)

# Brute-force protection: lock a username+IP pair after N failures, for a cool-off.
AXES_CLIENT_IP_CALLABLE = "hostadmin.client_ip.client_ip"
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "hostadmin.lockout.lockout_response"  # 429, Retry-After
AXES_VERBOSE = False

# Content Security Policy: no inline scripts or styles anywhere.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [SELF],
        "object-src": [NONE],
    }
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
USE_THOUSAND_SEPARATOR = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
STORAGES = {
    # Background export files (never served as static files: the download view checks
    # access). Production may use S3 through django-storages: README, Deployment.
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": env_str("FILE_STORAGE_DIR", str(BASE_DIR / "var" / "files"))},
    },
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION
if not PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise serves from the finders

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        # httpx logs every request URL at INFO; keep it quiet.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
    },
}

# --- Observability and secrets (hostadmin/observability.py, metrics.py, connections/crypto.py)
# First middleware: it times the whole request, and its request id is current for the rest.
MIDDLEWARE.insert(0, "hostadmin.observability.RequestLogMiddleware")
TEMPLATES[0]["OPTIONS"]["context_processors"].append(  # type: ignore[index]
    "hostadmin.observability.request_id_context"
)
CSRF_FAILURE_VIEW = "hostadmin.observability.csrf_failure"
# Every log record is one JSON object; those written while serving a request carry its id.
LOGGING["filters"] = {"request_id": {"()": "hostadmin.observability.RequestIdFilter"}}
LOGGING["formatters"]["json"] = {  # type: ignore[index]
    "()": "hostadmin.observability.JsonFormatter",
    "fmt": "%(levelname)s %(name)s %(message)s",
    "rename_fields": {"levelname": "level", "name": "logger"},
    "timestamp": "time",
}
LOGGING["handlers"]["console"].update(formatter="json", filters=["request_id"])  # type: ignore[index]
# Addresses that may read /metrics (Prometheus); any other gets a 404.
METRICS_ALLOWED_IPS = env_list("METRICS_ALLOWED_IPS", "127.0.0.1,::1")
# Keys for API client secrets, newest first: new secrets use the first, any decrypts
# (MultiFernet); `manage.py rotate_secrets` re-encrypts every secret with the first.
# FERNET_KEY alone (older deployments) is a list of one.
FERNET_KEYS = env_list("FERNET_KEYS", "") or [FERNET_KEY]


def _is_fernet_key(key: str) -> bool:
    try:
        return len(base64.urlsafe_b64decode(key.encode())) == 32
    except ValueError:  # binascii.Error: not base64
        return False


if not all(_is_fernet_key(k) for k in FERNET_KEYS):
    raise ImproperlyConfigured(
        "FERNET_KEYS (or FERNET_KEY) must be Fernet keys, each the urlsafe base64 of 32 "
        "bytes (make one: python -c 'from cryptography.fernet import Fernet; "
        "print(Fernet.generate_key().decode())')."
    )

# --- Facet counts next to the filter choices (connections/facets.py) -------------------
FACET_COUNTS = env_bool("FACET_COUNTS", True)  # off: no count calls at all
FACET_CACHE_SECONDS = env_int("FACET_CACHE_SECONDS", 30)  # per org context and query
FACET_CONCURRENCY = env_int("FACET_CONCURRENCY", 5, minimum=1)  # calls in flight, per process

# --- Dependencies down (issue 14) ------------------------------------------------------
# Redis errors are cache misses (hostadmin.cache), with bounded waits on a hung Redis;
# PostgreSQL down answers a clear 503 page (hostadmin.middleware). Each outage is logged
# once per interval, not once per request.
DEPENDENCY_LOG_INTERVAL = env_float("DEPENDENCY_LOG_INTERVAL", 60)
# After a Redis error the cache answers misses at once for this long, then tries again.
CACHE_RETRY_SECONDS = env_float("CACHE_RETRY_SECONDS", 5)
if REDIS_URL:
    CACHES["default"] = {
        "BACKEND": "hostadmin.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 1.0},  # type: ignore[dict-item]
    }
# A running export refreshes its user's slot with every page: one killed with its worker
# stops counting against the user's EXPORTS_PER_USER this long after its last page.
EXPORT_SLOT_SECONDS = env_int("EXPORT_SLOT_SECONDS", 60)
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.contrib.sessions.middleware.SessionMiddleware"),
    "hostadmin.middleware.DatabaseUnavailableMiddleware",
)

# --- Plain HTTP on loopback (make cluster, tests/cluster): production settings, but no
# TLS in front, so cookies may not be Secure-only and nothing redirects to https.
if PRODUCTION and env_bool("PLAIN_HTTP", False):
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = False
    SECURE_SSL_REDIRECT = False
    SECURE_HSTS_SECONDS = 0
