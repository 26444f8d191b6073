"""Registrations (``RegistrationsBaseUrl``): a package's versions with their metadata.

What ``nuget install``, packages.config and Visual Studio read to resolve
dependencies. Two hives, as on nuget.org: ``v3/registration/`` (SemVer 1
clients; SemVer 2 versions left out) and ``v3/registration-semver2/`` (all).

- ``{id}/index.json``: the pages. While a package has at most ``INLINE_LIMIT``
  versions, one page with its items inline; beyond, pages of ``PAGE_SIZE``
  versions without items, each with ``lower``/``upper`` (clients pick pages by
  them) and an ``@id`` that answers with the items.
- ``{id}/page/{lower}/{upper}.json``: one page with its items.
- ``{id}/{version}.json``: one leaf.

Unlisted versions are in every answer, ``listed: false`` and published in
1900 as nuget.org shows them, so restoring an exact unlisted version works.
There is no catalog: a catalog entry's ``@id`` is its leaf's URL.
"""

import json

from django.db.models.functions import Lower
from django.http import HttpResponse
from django.views.decorators.http import require_http_methods

from feed.access import read_denied
from feed.flatcontainer import not_found
from feed.links import Links
from packages import ids, versions
from packages.models import PackageVersion

INLINE_LIMIT = 128
PAGE_SIZE = 64
MAX_AGE = 60
UNLISTED_PUBLISHED = "1900-01-01T00:00:00+00:00"
_CATALOG_FIELDS = (
    "pk", "version", "normalized_version", "listed", "pushed_at", "authors", "description",
    "summary", "title", "tags", "project_url", "icon_url", "icon_path", "license_expression",
    "license_url", "readme_path", "require_license_acceptance", "min_client_version",
    "language", "dependencies",
)  # fmt: skip


def _json(request, data: dict) -> HttpResponse:
    body = json.dumps(data, separators=(",", ":")).encode()
    response = HttpResponse(
        b"" if request.method == "HEAD" else body,
        content_type="application/json",
        headers={"Cache-Control": f"max-age={MAX_AGE}"},
    )
    response["Content-Length"] = str(len(body))
    return response


def _versions(package_id: str, semver2: bool, lower: str = "", upper: str = ""):
    """``(display ID, [(pk, normalized version)] in NuGet's order)`` in one query on
    three columns, ordered by the (package, sort_key) index; only the versions from
    ``lower`` to ``upper`` (normalized, inclusive) when given. ``(None, [])`` for an
    unknown ID or an empty range."""
    if not ids.is_valid(package_id):
        return None, []
    rows = PackageVersion.objects.annotate(name_lower=Lower("package__name")).filter(
        name_lower=package_id.lower()
    )
    if not semver2:
        rows = rows.filter(is_semver2=False)
    if lower and upper:
        rows = rows.filter(
            sort_key__gte=versions.sort_string(lower), sort_key__lte=versions.sort_string(upper)
        )
    found = list(rows.order_by("sort_key").values_list("pk", "normalized_version", "package__name"))
    if not found:
        return None, []
    return found[0][2], [(pk, normalized) for pk, normalized, _name in found]


def _pages(ordered: list) -> list[list]:
    return [ordered[start : start + PAGE_SIZE] for start in range(0, len(ordered), PAGE_SIZE)]


def _leaf_items(links: Links, display_id: str, pks: list[int]) -> list[dict]:
    rows = {row.pk: row for row in PackageVersion.objects.filter(pk__in=pks).only(*_CATALOG_FIELDS)}
    return [_leaf(links, display_id, rows[pk]) for pk in pks]


def _page(links: Links, page: list, *, items: list[dict] | None) -> dict:
    lower, upper = page[0][1], page[-1][1]
    data = {
        "@id": links.registration_page(lower, upper),
        "@type": "catalog:CatalogPage",
        "count": len(page),
        "lower": lower,
        "upper": upper,
        "parent": links.registration_index,
    }
    if items is not None:
        data["items"] = items
    return data


def _leaf(links: Links, display_id: str, row: PackageVersion) -> dict:
    leaf_url = links.registration_leaf(row.normalized_version)
    package_content = links.package_content(row.normalized_version)
    entry = {
        "@id": leaf_url,
        "@type": "PackageDetails",
        "id": display_id,
        # The full version: normalized, with the build metadata it was pushed with.
        "version": versions.parse(row.version).normalized_with_metadata,
        "listed": row.listed,
        "published": _published(row),
        "authors": row.authors,
        "description": row.description,
        "summary": row.summary,
        "title": row.title,
        "tags": row.tags,
        "projectUrl": row.project_url,
        "licenseExpression": row.license_expression,
        "licenseUrl": row.license_url,
        "requireLicenseAcceptance": row.require_license_acceptance,
        "minClientVersion": row.min_client_version,
        "language": row.language,
        "packageContent": package_content,
        "dependencyGroups": [_dependency_group(group) for group in row.dependencies],
    }
    # A package icon file wins over the deprecated iconUrl, as on nuget.org.
    if row.icon_path:
        entry["iconUrl"] = links.icon(row.normalized_version)
    elif row.icon_url:
        entry["iconUrl"] = row.icon_url
    if row.readme_path:
        entry["readmeUrl"] = links.readme(row.normalized_version)
    return {
        "@id": leaf_url,
        "@type": "Package",
        "catalogEntry": entry,
        "packageContent": package_content,
        "registration": links.registration_index,
    }


def _dependency_group(group: dict) -> dict:
    data = {
        "@type": "PackageDependencyGroup",
        "dependencies": [
            {"@type": "PackageDependency", "id": dependency["id"],
             "range": versions.range_text(dependency["range"])}
            for dependency in group["dependencies"]
        ],
    }  # fmt: skip
    # No targetFramework means "any framework" to clients.
    if group["target_framework"]:
        data["targetFramework"] = group["target_framework"]
    return data


def _published(row: PackageVersion) -> str:
    return row.pushed_at.isoformat() if row.listed else UNLISTED_PUBLISHED


@require_http_methods(["GET", "HEAD"])
def index(request, package_id: str, semver2: bool):
    if denial := read_denied(request, package_id):
        return denial
    display_id, ordered = _versions(package_id, semver2)
    if not ordered:
        return not_found(f"Package '{package_id[:100]}' was not found.")
    links = Links(request, package_id, semver2=semver2)
    if len(ordered) <= INLINE_LIMIT:
        items = _leaf_items(links, display_id, [pk for pk, _version in ordered])
        pages = [_page(links, ordered, items=items)]
    else:
        pages = [_page(links, page, items=None) for page in _pages(ordered)]
    return _json(request, {"@id": links.registration_index, "count": len(pages), "items": pages})


@require_http_methods(["GET", "HEAD"])
def page(request, package_id: str, lower: str, upper: str, semver2: bool):
    if denial := read_denied(request, package_id):
        return denial
    lowest, highest = versions.parse(lower), versions.parse(upper)
    display_id, found = (
        _versions(package_id, semver2, lowest.normalized, highest.normalized)
        if lowest and highest
        else (None, [])
    )
    if not found:
        return not_found(f"Package '{package_id[:100]}' has no such page.")
    links = Links(request, package_id, semver2=semver2)
    items = _leaf_items(links, display_id, [pk for pk, _version in found])
    return _json(request, _page(links, found, items=items))


@require_http_methods(["GET", "HEAD"])
def leaf(request, package_id: str, version: str, semver2: bool):
    if denial := read_denied(request, package_id):
        return denial
    parsed = versions.parse(version)
    rows = (
        PackageVersion.objects.annotate(
            name_lower=Lower("package__name"), version_lower=Lower("normalized_version")
        ).filter(name_lower=package_id.lower(), version_lower=parsed.normalized.lower())
        if parsed is not None and ids.is_valid(package_id)
        else PackageVersion.objects.none()
    )
    if not semver2:
        rows = rows.filter(is_semver2=False)
    row = rows.only("normalized_version", "listed", "pushed_at").first()
    if row is None:
        return not_found(f"Package '{package_id[:100]}' version '{version[:64]}' was not found.")
    links = Links(request, package_id, semver2=semver2)
    leaf_url = links.registration_leaf(row.normalized_version)
    return _json(
        request,
        {
            "@id": leaf_url,
            "@type": ["Package", "http://schema.nuget.org/catalog#Permalink"],
            "catalogEntry": leaf_url,
            "listed": row.listed,
            "packageContent": links.package_content(row.normalized_version),
            "published": _published(row),
            "registration": links.registration_index,
        },
    )
