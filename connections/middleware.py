"""Session lifetime, htmx-aware login redirects and the user's time zone."""

from __future__ import annotations

import time
import zoneinfo
from collections.abc import Callable
from urllib.parse import unquote

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django_htmx.http import reswap, retarget

Handler = Callable[[HttpRequest], HttpResponse]
STARTED_KEY = "session_started"
SEEN_KEY = "session_seen"


class SessionLifetimeMiddleware:
    """Ends a session after an idle timeout and after an absolute lifetime, however
    active it is. The last-seen time is written at most once a minute, so a busy user
    does not cost a session write per request."""

    TOUCH_EVERY = 60.0

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = time.time()
            started = float(request.session.get(STARTED_KEY, now))
            seen = float(request.session.get(SEEN_KEY, now))
            if (
                now - started > settings.SESSION_ABSOLUTE_SECONDS
                or now - seen > settings.SESSION_IDLE_SECONDS
            ):
                logout(request)
            else:
                if STARTED_KEY not in request.session:
                    request.session[STARTED_KEY] = now
                if now - seen >= self.TOUCH_EVERY or SEEN_KEY not in request.session:
                    request.session[SEEN_KEY] = now
        return self.get_response(request)


class TimezoneMiddleware:
    """Render times in the zone the browser reported in the ``tz`` cookie (app.js sets it);
    an unknown or malformed zone falls back to settings.TIME_ZONE."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        name = unquote(request.COOKIES.get("tz", ""))  # older pages wrote it URL-encoded
        try:
            zone = zoneinfo.ZoneInfo(name) if name and len(name) < 64 else None
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            zone = None
        if zone is None:
            timezone.deactivate()
        else:
            timezone.activate(zone)
        return self.get_response(request)


class RequestBodyMiddleware:
    """No endpoint takes files and no form needs more than a few kilobytes. A multipart
    body is refused (415) and a body over ``REQUEST_BODY_MAX_BYTES`` too (413), both from
    the headers alone: runs before the CSRF check, which would read and parse the body."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (request.content_type or "").startswith("multipart/"):
            refused = _plain(415, "hostadmin takes no file uploads: send forms URL-encoded.")
            refused["Accept-Post"] = "application/x-www-form-urlencoded"
            return refused
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0:
            return _plain(400, "The request's Content-Length is not a number of bytes.")
        if length > settings.REQUEST_BODY_MAX_BYTES:
            limit = settings.REQUEST_BODY_MAX_BYTES
            return _plain(413, f"The request body is larger than the {limit} bytes allowed.")
        return self.get_response(request)


def _plain(status: int, message: str) -> HttpResponse:
    return HttpResponse(message + "\n", status=status, content_type="text/plain; charset=utf-8")


class NoStoreMiddleware:
    """Pages of signed-in users hold credit data: never cached, by the browser's history
    included, so after signing out the back button shows no data."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.user.is_authenticated and not response.has_header("Cache-Control"):
            add_never_cache_headers(response)
        return response


class HtmxLoginRedirectMiddleware:
    """An htmx request from an expired session gets a full-page redirect (HX-Redirect),
    not the login form swapped into the table."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            getattr(request, "htmx", False)  # django_htmx's HtmxMiddleware runs first
            and response.status_code == 302
            and response["Location"].startswith(resolve_url(settings.LOGIN_URL))
        ):
            redirect = HttpResponse(status=204)
            redirect["HX-Redirect"] = response["Location"]
            return redirect
        return response


class HtmxErrorPageMiddleware:
    """htmx swaps error responses (the results region shows upstream trouble), but a whole
    error page (404, 403, 500) must replace the page, not land inside the table. Views
    that answer htmx with a fragment mark the response with ``htmx_fragment = True``."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            getattr(request, "htmx", False)
            and response.status_code >= 400
            and not getattr(response, "htmx_fragment", False)
        ):
            retarget(response, "body")
            reswap(response, "innerHTML")
        return response
