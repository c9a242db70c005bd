import uuid

from django.urls import path, register_converter

from connections import export_views, views


class HostIdConverter:
    """A host organization id in a URL. Links use the 32 hex digits (in a 100-row table
    the hyphens cost ~3 gzip'd bytes a row); the hyphenated form, pasted by hand, works
    too. Either way the view gets a ``uuid.UUID``."""

    regex = (
        "[0-9a-fA-F]{32}"
        "|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    )

    def to_python(self, value: str) -> uuid.UUID:
        return uuid.UUID(value)

    def to_url(self, value: uuid.UUID | str) -> str:
        return uuid.UUID(str(value)).hex


register_converter(HostIdConverter, "host_id")

app_name = "connections"

urlpatterns = [
    path("connections/", views.connection_list, name="list"),
    path("connections/<host_id:host_org_id>/", views.connection_detail, name="detail"),
    path("connections/export.csv", export_views.export_csv, name="export"),
    path(
        "connections/export/<str:export_id>/progress/",
        export_views.export_progress,
        name="export_progress",
    ),
    path(
        "connections/export/<str:export_id>/cancel/",
        export_views.export_cancel,
        name="export_cancel",
    ),
    path("context/", views.switch_context, name="switch_context"),
    path("views/", views.view_create, name="view_create"),
    path("views/<str:view_id>/rename/", views.view_rename, name="view_rename"),
    path("views/<str:view_id>/update/", views.view_update, name="view_update"),
    path("views/<str:view_id>/delete/", views.view_delete, name="view_delete"),
    path(
        "views/<str:view_id>/confirm-delete/",
        views.view_confirm_delete,
        name="view_confirm_delete",
    ),
    path("views/<str:view_id>/default/", views.view_default, name="view_default"),
    path("views/<str:view_id>/share/", views.view_share, name="view_share"),
    path("views/<str:view_id>/copy/", views.view_copy, name="view_copy"),
]
