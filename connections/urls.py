from django.urls import include, path, re_path, register_converter

from connections.converters import ExportIdConverter
from connections.views import (
    background_exports,
    connections,
    exports,
    facets,
    org_context,
    saved_views,
)
from connections.views.preferences import preferences_update

register_converter(ExportIdConverter, "export_id")

app_name = "connections"

# A malformed id ("abc", "-1") matches no route: the same 404 as a missing or foreign view.
saved_view_patterns = [
    path("", saved_views.view_create, name="view_create"),
    path("<int:view_id>/rename/", saved_views.view_rename, name="view_rename"),
    path("<int:view_id>/update/", saved_views.view_update, name="view_update"),
    path("<int:view_id>/delete/", saved_views.view_delete, name="view_delete"),
    path(
        "<int:view_id>/confirm-delete/",
        saved_views.view_confirm_delete,
        name="view_confirm_delete",
    ),
    path("<int:view_id>/default/", saved_views.view_default, name="view_default"),
    path("<int:view_id>/share/", saved_views.view_share, name="view_share"),
    path("<int:view_id>/copy/", saved_views.view_copy, name="view_copy"),
]

background_export_patterns = [
    path("", background_exports.export_list, name="background_exports"),
    path("start/", background_exports.export_start, name="background_export_start"),
    *(  # each export's download, cancel, retry and delete (POSTs)
        path(
            f"<uuid:export_id>/{action}/",
            getattr(background_exports, f"export_{action}"),
            name=f"background_export_{action}",
        )
        for action in ("download", "cancel", "retry", "delete")
    ),
]

urlpatterns = [
    path("connections/", connections.connection_list, name="list"),
    path("connections/<uuid:host_org_id>/", connections.connection_detail, name="detail"),
    re_path(  # the id as earlier versions wrote it (32 hex digits), or in capitals
        r"^connections/(?P<host_org_id>[0-9a-fA-F-]{32,36})/$",
        connections.connection_detail_hex,
        name="detail_hex",
    ),
    path("connections/export.csv", exports.export_csv, name="export"),
    path("connections/export/start/", exports.export_start, name="export_start"),
    path(
        "connections/export/<export_id:export_id>/progress/",
        exports.export_progress,
        name="export_progress",
    ),
    path(
        "connections/export/<export_id:export_id>/cancel/",
        exports.export_cancel,
        name="export_cancel",
    ),
    path(
        "connections/export/<export_id:export_id>/dismiss/",
        exports.export_dismiss,
        name="export_dismiss",
    ),
    path("context/", org_context.switch_context, name="switch_context"),
    path("context/targets/", org_context.target_options, name="target_options"),
    path("views/", include(saved_view_patterns)),
    path("exports/", include(background_export_patterns)),
    path("connections/facets/", facets.facet_counts, name="facets"),
    path("preferences/", preferences_update, name="preferences_update"),
]
