from django.urls import re_path

from packages import views

app_name = "packages"

urlpatterns = [
    re_path(r"^account/Packages/?$", views.manage_packages, name="manage"),
]

# The gallery: anyone may browse (see packages.selectors.gallery_readable_by). A version
# starts with a digit, so "/packages/{id}/Manage" and "/packages/manage/..." stay the
# owner pages' whatever the order.
_VERSION = r"(?P<version>\d[^/]*)"
urlpatterns += [
    re_path(r"^packages/?$", views.package_list, name="list"),
    re_path(r"^packages/(?P<package_id>[^/]+)/?$", views.package_detail, name="detail"),
    re_path(
        r"^packages/(?P<package_id>[^/]+)/" + _VERSION + "/?$",
        views.package_detail,
        name="version_detail",
    ),
    re_path(
        r"^packages/(?P<package_id>[^/]+)/" + _VERSION + "/icon$",
        views.package_icon,
        name="icon",
    ),
    re_path(r"^profiles/(?P<username>[^/]+)/?$", views.profile, name="profile"),
]
