from django.urls import path, re_path

from connections.views import connections, exports, org_context, saved_views

app_name = "connections"

urlpatterns = [
    path("connections/", connections.connection_list, name="list"),
    path("connections/<uuid:host_org_id>/", connections.connection_detail, name="detail"),
    re_path(  # the id as earlier versions wrote it (32 hex digits), or in capitals
        r"^connections/(?P<host_org_id>[0-9a-fA-F-]{32,36})/$",
        connections.connection_detail_hex,
        name="detail_hex",
    ),
    path("connections/export.csv", exports.export_csv, name="export"),
    path(
        "connections/export/<str:export_id>/progress/",
        exports.export_progress,
        name="export_progress",
    ),
    path(
        "connections/export/<str:export_id>/cancel/",
        exports.export_cancel,
        name="export_cancel",
    ),
    path("context/", org_context.switch_context, name="switch_context"),
    path("views/", saved_views.view_create, name="view_create"),
    path("views/<str:view_id>/rename/", saved_views.view_rename, name="view_rename"),
    path("views/<str:view_id>/update/", saved_views.view_update, name="view_update"),
    path("views/<str:view_id>/delete/", saved_views.view_delete, name="view_delete"),
    path(
        "views/<str:view_id>/confirm-delete/",
        saved_views.view_confirm_delete,
        name="view_confirm_delete",
    ),
    path("views/<str:view_id>/default/", saved_views.view_default, name="view_default"),
    path("views/<str:view_id>/share/", saved_views.view_share, name="view_share"),
    path("views/<str:view_id>/copy/", saved_views.view_copy, name="view_copy"),
]
