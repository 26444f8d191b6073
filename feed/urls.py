from django.urls import path, re_path

from feed import flatcontainer, links, registrations, token, views
from feed import search as search_views

app_name = "feed"

_FLAT = "^" + links.FLAT_CONTAINER
_ID = r"(?P<package_id>[^/]+)/"


def _registrations(prefix: str, semver2: bool) -> list:
    start, hive = "^" + prefix, {"semver2": semver2}
    suffix = "_semver2" if semver2 else ""
    return [
        re_path(start + _ID + r"index\.json$", registrations.index, hive,
                name="registration_index" + suffix),
        re_path(start + _ID + r"page/(?P<lower>[^/]+)/(?P<upper>[^/]+)\.json$",
                registrations.page, hive, name="registration_page" + suffix),
        re_path(start + _ID + r"(?P<version>[^/]+)\.json$", registrations.leaf, hive,
                name="registration_leaf" + suffix),
    ]  # fmt: skip


urlpatterns = [
    path("v3/index.json", views.service_index, name="index"),
    # Clients add a trailing slash to the PackagePublish URL; older ones do not.
    re_path(r"^api/v2/package/?$", views.push, name="push"),
    re_path(
        r"^api/v2/package/(?P<package_id>[^/]+)/(?P<version>[^/]+)/?$",
        views.unlist_or_relist,
        name="unlist_or_relist",
    ),
    # Trusted publishing: a CI job's OIDC token for a short-lived key.
    path("api/v2/token", token.token, name="token"),
    # The read protocol; links.py builds the URLs that lead here.
    re_path(_FLAT + _ID + r"index\.json$", flatcontainer.version_list, name="flat_versions"),
    re_path(
        _FLAT + _ID + r"(?P<version>[^/]+)/(?P<name>[^/]+)$",
        flatcontainer.package_file,
        name="flat_file",
    ),
    *_registrations(links.REGISTRATION, semver2=False),
    *_registrations(links.REGISTRATION_SEMVER2, semver2=True),
    # Search and autocomplete (SearchQueryService, SearchAutocompleteService).
    path("v3/search", search_views.search, name="search"),
    path("v3/autocomplete", search_views.autocomplete, name="autocomplete"),
]
