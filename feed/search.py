"""NuGet search and autocomplete (SearchQueryService, SearchAutocompleteService).

The views parse the request, ask packages.search, and shape the answer as nuget.org
does. Which packages a reader may see is ``read_scope(request)``'s to say.
"""

from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_http_methods

from feed import access, links
from packages import search as package_search

SEARCH_TYPES = ("SearchQueryService", "/3.0.0-beta", "/3.0.0-rc", "/3.5.0")
AUTOCOMPLETE_TYPES = ("SearchAutocompleteService", "/3.0.0-beta", "/3.0.0-rc")
# The version types NuGet matches are suffixes of the first one.
_SEARCH_PATH = "/v3/search"
_AUTOCOMPLETE_PATH = "/v3/autocomplete"


def service_resources(request) -> list[dict]:
    """The service index's entries for search and autocomplete, with absolute URLs."""
    base = links.base_url(request)
    resources = []
    for path, types, comment in (
        (_SEARCH_PATH, SEARCH_TYPES, "Query endpoint of NuGet Search service."),
        (_AUTOCOMPLETE_PATH, AUTOCOMPLETE_TYPES, "Autocomplete endpoint of NuGet Search service."),
    ):
        first, *versions = types
        for suffix in ("", *versions):
            resources.append({"@id": base + path, "@type": first + suffix, "comment": comment})
    return resources


def read_scope(request):
    """The package IDs this request may see (a ``packages.search.Scope`` or a key's
    grant), or None for all of them: ``feed.access`` decides."""
    return access.read_scope(request)


def _json(request, data) -> HttpResponse:
    response = JsonResponse(data)
    if request.method == "HEAD":
        response["Content-Length"] = str(len(response.content))
        response.content = b""
    return response


def _bad_request(reason: str) -> HttpResponse:
    # NuGet clients show the reason phrase; a status line is one line of Latin-1.
    response = HttpResponse(status=400, content_type="text/plain; charset=utf-8")
    response.reason_phrase = " ".join(reason.split()).encode("ascii", "replace").decode()
    response.content = (reason + "\n").encode()
    return response


def _query(request) -> tuple[package_search.SearchQuery | None, HttpResponse | None]:
    """The request's query, or the answer that refuses it (no read access, a bad parameter)."""
    denied = access.read_denied(request)
    if denied is not None:
        return None, denied
    try:
        return package_search.SearchQuery.from_params(request.GET, scope=read_scope(request)), None
    except package_search.BadParameter as error:
        return None, _bad_request(str(error))


@require_http_methods(["GET", "HEAD"])
def search(request):
    query, refusal = _query(request)
    if refusal is not None:
        return refusal
    results = package_search.search(query)
    return _json(
        request,
        {
            "totalHits": results.total,
            "data": [_package(request, hit, semver2=query.semver2) for hit in results.hits],
        },
    )


def _package(request, hit, *, semver2: bool) -> dict:
    # The registration hive the client can read: SemVer 2 only when it said so.
    urls = links.Links(request, hit.package_id, semver2=semver2)
    registration = urls.registration_index
    latest = hit.latest
    return {
        "@id": registration,
        "@type": "Package",
        "registration": registration,
        "id": hit.package_id,
        "version": hit.versions[-1][0],
        "description": latest.description,
        "summary": latest.summary,
        "title": latest.title or hit.package_id,
        # A package icon file wins over the deprecated iconUrl, as in registrations.
        "iconUrl": urls.icon(latest.normalized_version) if latest.icon_path else latest.icon_url,
        "licenseUrl": latest.license_url,
        "projectUrl": latest.project_url,
        "tags": list(latest.tags or []),
        "authors": [name.strip() for name in latest.authors.split(",") if name.strip()],
        "owners": hit.owners,
        "totalDownloads": hit.total_downloads,
        "verified": False,
        "packageTypes": [{"name": package_search.DEFAULT_PACKAGE_TYPE}],
        "versions": [
            {
                "version": version,
                "downloads": downloads,
                "@id": urls.registration_leaf(version.split("+", 1)[0]),
            }
            for version, downloads in hit.versions
        ],
    }


@require_http_methods(["GET", "HEAD"])
def autocomplete(request):
    query, refusal = _query(request)
    if refusal is not None:
        return refusal
    if "id" in request.GET:
        found = package_search.autocomplete_versions(
            request.GET["id"].strip(), prerelease=query.prerelease, semver2=query.semver2,
            scope=query.scope,
        )  # fmt: skip
        return _json(request, {"data": found})
    total, ids = package_search.autocomplete_ids(
        query.q, skip=query.skip, take=query.take, prerelease=query.prerelease,
        semver2=query.semver2, scope=query.scope,
    )  # fmt: skip
    return _json(request, {"totalHits": total, "data": ids})
