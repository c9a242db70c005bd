"""The request every view gets: through django-htmx's middleware, from a signed-in user."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    """``request.htmx`` is set by ``HtmxMiddleware``; ``request.user`` is a ``User`` in
    views behind ``login_required`` (django-stubs' advice for both)."""

    htmx: HtmxDetails
    user: User
