"""With PostgreSQL down, every page answers a clear 503 page, and recovers by itself.

A request with a session is checked before its session and user are loaded (its first
database use, in other middleware, where an error would become a 500): Django opens, or
health-checks, its connection there, which it would do a moment later anyway. A request
without one (the sign-in page) touches the database only in its view, whose error is
caught here too. The page is a plain template rendered without the request, so nothing
on it needs the database. ``/healthz`` (liveness) and ``/readyz`` (which reports the
database itself) are left alone.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.http import HttpRequest, HttpResponse
from django.template import loader
from django.urls import reverse

from hostadmin.outage import OutageLog

Handler = Callable[[HttpRequest], HttpResponse]
outage = OutageLog("database")
RETRY_AFTER_SECONDS = 5


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response
        self.exempt = {reverse("health"), reverse("ready")}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if settings.SESSION_COOKIE_NAME in request.COOKIES and request.path_info not in self.exempt:
            try:
                connection.close_if_health_check_failed()  # as Django's first query does
                connection.ensure_connection()
            except DatabaseError as exc:
                return unavailable(request, exc)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if isinstance(exc, OperationalError | InterfaceError):
            return unavailable(request, exc)
        return None


def unavailable(request: HttpRequest, exc: Exception) -> HttpResponse:
    outage.failed(exc)
    response = HttpResponse(loader.render_to_string("503.html"), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    if request.headers.get("HX-Request"):  # the whole page, not a fragment in the table
        response["HX-Retarget"] = "body"
        response["HX-Reswap"] = "innerHTML"
    return response
