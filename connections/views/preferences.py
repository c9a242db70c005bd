"""The user's display preferences: the header's "Display" form posts here."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRefresh

from connections import services
from connections.preference_forms import DisplayPreferencesForm


@require_POST
@login_required
def preferences_update(request: HttpRequest) -> HttpResponse:
    form = DisplayPreferencesForm(request.POST)
    if form.is_valid():
        services.user_preferences_update(
            user=request.user,  # type: ignore[arg-type]
            density=form.cleaned_data["density"],
            time_display=form.cleaned_data["time_display"],
        )
        messages.success(request, "Display settings saved.")
    else:  # nothing saved; each message stands next to its radio group
        for field, errors in form.errors.items():
            messages.error(request, " ".join(map(str, errors)), extra_tags=f"field:display-{field}")
    if getattr(request, "htmx", None):  # reload the page's current URL (htmx may have moved it)
        return HttpResponseClientRefresh()
    return redirect(_next_or_list(request))


def _next_or_list(request: HttpRequest) -> str:
    """The page the form was on (``next``): a path on this site, or else the list."""
    url = request.POST.get("next", "")
    safe = (
        url.startswith("/")
        and url.isprintable()
        and " " not in url
        and url_has_allowed_host_and_scheme(
            url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
    )
    return url if safe else reverse("connections:list")
