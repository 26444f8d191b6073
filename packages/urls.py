from django.urls import re_path

from packages import manage_views, views

app_name = "packages"

urlpatterns = [
    re_path(r"^account/Packages/?$", views.manage_packages, name="manage"),
]

# An ownership request's ID: digits that fit the database's bigint.
_REQUEST = r"(?P<request_id>[0-9]{1,18})"

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
    re_path(
        r"^packages/(?P<package_id>[^/]+)/Manage/owners/?$",
        manage_views.owner_add,
        name="owner_add",
    ),
    re_path(
        r"^packages/(?P<package_id>[^/]+)/Manage/owners/remove/?$",
        manage_views.owner_remove,
        name="owner_remove",
    ),
    re_path(
        r"^packages/(?P<package_id>[^/]+)/Manage/owners/requests/" + _REQUEST + "/cancel/?$",
        manage_views.ownership_cancel,
        name="ownership_cancel",
    ),
    # The ownership request's emailed link: its recipient accepts or declines here.
    re_path(
        r"^packages/(?P<package_id>[^/]+)/owners/requests/" + _REQUEST + "/?$",
        manage_views.ownership_answer,
        name="ownership_request",
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
