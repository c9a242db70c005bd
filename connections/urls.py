from django.urls import path

from connections import export_views, views

app_name = "connections"

urlpatterns = [
    path("connections/", views.connection_list, name="list"),
    path("connections/<uuid:host_org_id>/", views.connection_detail, name="detail"),
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
