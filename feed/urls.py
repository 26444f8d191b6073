from django.urls import path, re_path

from feed import views

app_name = "feed"

urlpatterns = [
    path("v3/index.json", views.service_index, name="index"),
    # Clients add a trailing slash to the PackagePublish URL; older ones do not.
    re_path(r"^api/v2/package/?$", views.push, name="push"),
    re_path(
        r"^api/v2/package/(?P<package_id>[^/]+)/(?P<version>[^/]+)/?$",
        views.unlist_or_relist,
        name="unlist_or_relist",
    ),
]
