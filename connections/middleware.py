"""Session lifetime, htmx-aware login redirects and the user's time zone."""

from __future__ import annotations

import time
import zoneinfo
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django.utils import timezone

Handler = Callable[[HttpRequest], HttpResponse]
STARTED_KEY = "session_started"


class SessionLifetimeMiddleware:
    """Ends a session after an absolute lifetime, however active it is (the idle timeout
    is Django's own SESSION_COOKIE_AGE with SESSION_SAVE_EVERY_REQUEST). Also activates
    the time zone the browser reported in the ``tz`` cookie."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            started = request.session.get(STARTED_KEY)
            now = time.time()
            if started is None:
                request.session[STARTED_KEY] = now
            elif now - float(started) > settings.SESSION_ABSOLUTE_SECONDS:
                logout(request)
        tz = request.COOKIES.get("tz", "")
        try:
            timezone.activate(zoneinfo.ZoneInfo(tz)) if tz else timezone.deactivate()
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            timezone.deactivate()
        return self.get_response(request)


class HtmxLoginRedirectMiddleware:
    """An htmx request from an expired session gets a full-page redirect (HX-Redirect),
    not the login form swapped into the table."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            request.headers.get("HX-Request") == "true"
            and response.status_code == 302
            and response["Location"].startswith(resolve_url(settings.LOGIN_URL))
        ):
            redirect = HttpResponse(status=204)
            redirect["HX-Redirect"] = response["Location"]
            return redirect
        return response
