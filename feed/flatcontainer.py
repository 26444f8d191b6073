"""The flat container (``PackageBaseAddress/3.0.0``): version lists and package files.

What ``dotnet restore`` reads: ``{id}/index.json`` lists the versions, and
``{id}/{version}/{id}.{version}.nupkg`` is the package. Also the manifest
(``{id}.nuspec``), the readme and the icon, read from inside the stored package.
GET and HEAD everywhere. IDs and versions in URLs match case-insensitively and
versions are normalized first (``1.0`` finds ``1.0.0``), as pushes and unlists do.

Files never change once pushed, so they carry a strong ETag (the package's
SHA-512) and may be cached for a year; the version list changes with every
push, so caches keep it a minute.
"""

import inspect
import json
from hashlib import sha256

from django.db.models.functions import Lower
from django.http import (
    FileResponse,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.urls import Resolver404, resolve
from django.utils.cache import get_conditional_response
from django.utils.http import http_date
from django.views.decorators.http import require_http_methods

from feed.access import private_marked, read_denied
from feed.links import FLAT_CONTAINER
from packages import conf, contents, downloads, ids, services, versions
from packages.models import PackageVersion
from packages.storage import package_storage

IMMUTABLE = "public, max-age=31536000, immutable"
# A new version appears in the list within a minute of its push.
VERSION_LIST_MAX_AGE = 60
CHUNK_SIZE = 64 * 1024


def not_found(reason: str = "Not found.") -> HttpResponse:
    response = HttpResponse(reason + "\n", status=404, content_type="text/plain; charset=utf-8")
    response.reason_phrase = reason
    return response


def _set(response: HttpResponse, headers: dict) -> None:
    for name, value in headers.items():
        response[name] = value


def _head(request, response: HttpResponse, length: int) -> HttpResponse:
    """HEAD: the GET's headers, no body (Django hands servers the body otherwise)."""
    if request.method == "HEAD":
        headers = response.headers
        response = HttpResponse(status=response.status_code, content_type=headers["Content-Type"])
        _set(response, headers)
        response["Content-Length"] = str(length)
    return response


def versions_of(package_id: str) -> list[str]:
    """The lower-cased normalized versions of ``package_id``, in NuGet's order; unlisted
    included. One query, ordered by the (package, sort_key) index."""
    found = (
        PackageVersion.objects.annotate(name_lower=Lower("package__name"))
        .filter(name_lower=package_id.lower())
        .order_by("sort_key")
        .values_list("normalized_version", flat=True)
    )
    return [text.lower() for text in found]


@require_http_methods(["GET", "HEAD"])
def version_list(request, package_id: str):
    if denial := read_denied(request, package_id):
        return denial
    found = versions_of(package_id) if ids.is_valid(package_id) else []
    if not found:
        return not_found(f"Package '{package_id[:100]}' was not found.")
    body = json.dumps({"versions": found}).encode()
    etag = f'"{sha256(body).hexdigest()[:32]}"'
    headers = {"ETag": etag, "Cache-Control": f"max-age={VERSION_LIST_MAX_AGE}"}
    if not_modified := get_conditional_response(request, etag=etag):
        _set(not_modified, headers)
        return not_modified
    response = HttpResponse(body, content_type="application/json", headers=headers)
    return _head(request, response, len(body))


@require_http_methods(["GET", "HEAD"])
def package_file(request, package_id: str, version: str, name: str):
    """``.nupkg``, ``.nuspec``, ``readme`` or ``icon`` of one version."""
    if denial := read_denied(request, package_id):
        return denial
    found = services.stored_file(package_id, version)
    if found is None:
        return not_found(f"Package '{package_id[:100]}' version '{version[:64]}' was not found.")
    lower_id, name = package_id.lower(), name.lower()
    if name.startswith(f"{lower_id}.") and name.endswith(".nupkg"):
        named = versions.parse(name[len(lower_id) + 1 : -len(".nupkg")])
        if named is not None and named.normalized.lower() == found.normalized_version.lower():
            return _nupkg(request, found)
    elif name == f"{lower_id}.nuspec":
        return _member(request, found, "nuspec", _is_root_nuspec, "application/xml")
    elif name == "readme" and found.readme_path:
        path = found.readme_path.lower()
        kind = contents.README_TYPES.get(contents.extension(path), "text/plain; charset=utf-8")
        return _member(request, found, "readme", contents.named(path), kind)
    elif name == "icon" and found.icon_path:
        path = found.icon_path.lower()
        kind = contents.ICON_TYPES.get(contents.extension(path), "application/octet-stream")
        return _member(request, found, "icon", contents.named(path), kind)
    return not_found()


def _conditions(request, found: services.StoredFile, etag: str):
    """(headers, 304 response or None) for a file of ``found``."""
    headers = {
        "ETag": etag,
        "Last-Modified": http_date(found.pushed_at.timestamp()),
        "Cache-Control": IMMUTABLE,
    }
    not_modified = get_conditional_response(
        request, etag=etag, last_modified=int(found.pushed_at.timestamp())
    )
    if not_modified is not None:
        _set(not_modified, headers)
    return headers, not_modified


def _nupkg(request, found: services.StoredFile):
    # The stored SHA-512 is base64: every character of it may stand in an ETag.
    headers, not_modified = _conditions(request, found, f'"{found.sha512}"')
    if not_modified is not None:
        return not_modified
    if request.method == "HEAD":
        response = HttpResponse(content_type="application/octet-stream", headers=headers)
        response["Content-Length"] = str(found.size)
        return response
    storage = package_storage()
    expiry = conf.download_redirect()
    if expiry:
        response = HttpResponseRedirect(_signed_url(storage, found.file_name, expiry))
        response["Cache-Control"] = "no-store"
    else:
        try:
            stored = storage.open(found.file_name, "rb")
        except FileNotFoundError:
            return not_found("The package file is missing from storage.")
        # With the file-system backend the WSGI server's file wrapper sends it
        # with sendfile(); the ETag and length come from the row, not the file.
        response = FileResponse(stored, content_type="application/octet-stream", headers=headers)
        response["Content-Length"] = str(found.size)
    downloads.record(found)
    return response


def _signed_url(storage, name: str, expiry: int) -> str:
    # django-storages' S3 and Azure backends sign for as long as ``expire`` says;
    # a backend without the argument signs as its own settings say.
    if "expire" in inspect.signature(storage.url).parameters:
        return storage.url(name, expire=expiry)
    return storage.url(name)


def _is_root_nuspec(entry_name: str) -> bool:
    return entry_name.lower().endswith(".nuspec") and "/" not in entry_name.replace("\\", "/")


def _member(request, found: services.StoredFile, kind: str, matches, content_type: str):
    """A file from inside the stored package, streamed, never extracted whole."""
    headers, not_modified = _conditions(request, found, f'"{found.sha512}/{kind}"')
    if not_modified is not None:
        return not_modified
    try:
        member = contents.open_member(
            found.file_name, matches, open_stream=request.method != "HEAD"
        )
    except FileNotFoundError:
        return not_found("The package file is missing from storage.")
    except contents.Unreadable:
        return not_found("The package file cannot be read.")
    if member is None:
        return not_found()
    if request.method == "HEAD":
        member.close()
        response = HttpResponse(content_type=content_type, headers=headers)
        response["Content-Length"] = str(member.entry.file_size)
        return response
    response = StreamingHttpResponse(
        member.chunks(CHUNK_SIZE), content_type=content_type, headers=headers
    )
    response["Content-Length"] = str(member.entry.file_size)
    return response


class PackageDownloadMiddleware:
    """Answers ``.nupkg`` downloads before the page middleware, as WhiteNoise (just
    above it) answers static files.

    A restore downloads every package it lacks, so this is the feed's busiest
    request. Sessions, CSRF, the language, messages, and the frame and CSP headers
    of HTML pages mean nothing to a package file, and together they cost more than
    the view (about 0.5 ms of 1 ms in process). The URL is still resolved by
    ``feed.urls`` and answered by ``package_file``, with the same read check and
    the private feed's cache marking; the outer middleware (request ID, logs,
    metrics, security headers) still wrap it. Anything else goes on down the stack.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.prefix = f"/{FLAT_CONTAINER}"

    def __call__(self, request):
        path = request.path_info
        download = path.startswith(self.prefix) and path.endswith(".nupkg")
        if download and request.method in ("GET", "HEAD"):
            try:
                match = resolve(path)
            except Resolver404:
                match = None
            if match is not None and match.func is package_file:
                request.resolver_match = match
                return private_marked(request, package_file(request, *match.args, **match.kwargs))
        return self.get_response(request)
