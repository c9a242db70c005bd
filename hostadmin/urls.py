from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from hostadmin import metrics
from hostadmin.health import health, ready
from hostadmin.signin import SignInForm

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="connections:list"), name="home"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            authentication_form=SignInForm, redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", health, name="health"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("readyz", ready, name="ready"),
    path("admin/", admin.site.urls),
    path("", include("connections.urls")),
]

handler500 = "hostadmin.observability.server_error"  # the error page shows the request id
