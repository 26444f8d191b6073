from django.urls import re_path

from packages import manage_views, views

app_name = "packages"

urlpatterns = [
    re_path(r"^account/Packages/?$", views.manage_packages, name="manage"),
]

# The owner's pages. They come before the public package pages, whose
# /packages/{id}/{version} would otherwise take "Manage" and "manage/upload".
urlpatterns = [
    re_path(r"^packages/manage/upload/?$", manage_views.upload, name="upload"),
    re_path(r"^packages/manage/verify-upload/?$", manage_views.upload_verify, name="upload_verify"),
    re_path(r"^packages/manage/cancel-upload/?$", manage_views.upload_cancel, name="upload_cancel"),
    re_path(
        r"^packages/(?P<package_id>[^/]+)/Manage/?$",
        manage_views.manage_package,
        name="manage_package",
    ),
    *urlpatterns,
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
