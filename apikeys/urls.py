from django.urls import path, re_path

from apikeys import secret_scanning, views

app_name = "apikeys"

urlpatterns = [
    re_path(r"^account/apikeys/?$", views.api_keys, name="list"),
    path("account/apikeys/<int:pk>/edit", views.api_key_edit, name="edit"),
    path("account/apikeys/<int:pk>/regenerate", views.api_key_regenerate, name="regenerate"),
    path("account/apikeys/<int:pk>/revoke", views.api_key_revoke, name="revoke"),
    path("account/apikeys/<int:pk>/delete", views.api_key_delete, name="delete"),
    # An organization's keys, and every key that acts for it: its administrators only.
    re_path(
        r"^organization/(?P<name>[^/]+)/apikeys/?$",
        views.organization_keys,
        name="organization_keys",
    ),
    path(
        "organization/<str:name>/apikeys/<int:pk>/edit",
        views.organization_key_edit,
        name="organization_key_edit",
    ),
    path(
        "organization/<str:name>/apikeys/<int:pk>/regenerate",
        views.organization_key_regenerate,
        name="organization_key_regenerate",
    ),
    path(
        "organization/<str:name>/apikeys/<int:pk>/revoke",
        views.organization_key_revoke,
        name="organization_key_revoke",
    ),
    path(
        "organization/<str:name>/apikeys/<int:pk>/delete",
        views.organization_key_delete,
        name="organization_key_delete",
    ),
    re_path(
        r"^api/secret-scanning/github/?$",
        secret_scanning.github_report,
        name="secret_scanning_github",
    ),
]
