"""The user's display preferences: the header's "Display" form posts here."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRefresh

from connections import services
from connections.forms import DisplayPreferencesForm, safe_next
from connections.views.request import HtmxHttpRequest


@require_POST
@login_required
def preferences_update(request: HtmxHttpRequest) -> HttpResponse:
    form = DisplayPreferencesForm(request.POST)
    back = safe_next(request.POST.get("next"), host=request.get_host(), secure=request.is_secure())
    if not form.is_valid():  # nothing saved; the page's Display menu shows the errors
        data = {"display_form": form, "next_url": back or reverse("connections:list")}
        return render(request, "connections/preferences_refused.html", data, status=422)
    services.user_preferences_update(user=request.user, **form.cleaned_data)
    messages.success(request, "Display settings saved.")
    if request.htmx:  # reload the page's current URL (htmx may have moved it)
        return HttpResponseClientRefresh()
    return redirect(back or reverse("connections:list"))
