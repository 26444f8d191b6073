"""The NuGet publish protocol: service index, push, unlist, relist.

NuGet clients print the HTTP reason phrase, not the body, so every refusal
carries its message there (``feed.answers``). Refusals for a bad or unsuitable
key stay generic; the real reason goes to the audit log.
"""

import functools

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_http_methods

from apikeys.models import days_left, expires_soon
from feed import services, uploads
from feed.access import read_denied
from feed.answers import answer as _answer
from feed.answers import ascii_line as _ascii
from feed.answers import quoted, too_many_failures
from feed.links import base_url, read_resources
from feed.search import service_resources as search_resources
from packages import nupkg
from packages import services as registry

FORBIDDEN = (
    "The specified API key is invalid, has expired, "
    "or does not have permission to access the specified package."
)


@require_http_methods(["GET", "HEAD"])
def service_index(request):
    if denial := read_denied(request):
        return denial
    publish = f"{base_url(request)}/api/v2/package"
    response = JsonResponse(
        {
            "version": "3.0.0",
            "resources": [
                {
                    "@id": publish,
                    "@type": "PackagePublish/2.0.0",
                    "comment": "Push, unlist and relist packages with an API key.",
                },
                *read_resources(request),
                *search_resources(request),
            ],
        }
    )
    if request.method == "HEAD":
        response["Content-Length"] = str(len(response.content))
        response.content = b""
    return response


def api_key_required(view):
    """Answer 401, 403 or 429 unless the request carries a usable key, else pass it on."""

    # Only ``raw``, by name: hiding every variable here would hide those of every
    # frame below too (the view, the registry's push), which hold no key and
    # which an operator debugging a push needs.
    @functools.wraps(view)
    @sensitive_variables("raw")
    def wrapper(request, *args, **kwargs):
        raw = request.headers.get("X-NuGet-ApiKey", "").strip()
        try:
            key = services.key_check(raw, request=request)
        except services.KeyMissing:
            return _answer(
                401,
                "An API key is required: pass it in the X-NuGet-ApiKey header.",
                WWW_Authenticate=(
                    f'ApiKey realm={quoted(settings.SITE_NAME)}, header="X-NuGet-ApiKey"'
                ),
            )
        except services.KeyRefused:
            return _answer(403, FORBIDDEN)
        except services.TooManyFailures as limited:
            return too_many_failures(limited.retry_after)
        return view(request, key, *args, **kwargs)

    return wrapper


@csrf_exempt
@never_cache
@require_http_methods(["PUT"])
@api_key_required
def push(request, key):
    try:
        services.package_push(api_key=key, request=request)
    except uploads.LengthRequired:
        return _answer(411, "This server needs a Content-Length for pushes.")
    except uploads.TooLarge:
        return _answer(413, "The package file is too large.")
    except uploads.BadUpload as bad:
        return _answer(400, bad.reason)
    except nupkg.InvalidPackage as invalid:
        return _answer(400, f"Invalid package: {invalid.reason}")
    except services.Refused:
        return _answer(403, FORBIDDEN)
    except registry.VersionExists as exists:
        return _answer(
            409,
            f"A package with ID '{exists.package_id}' and version '{exists.version}' already "
            "exists and cannot be modified.",
        )
    response = _answer(201, "Created")
    if expires_soon(key.expires_at):
        response["X-NuGet-Warning"] = _ascii(
            f"The API key {key.hint} expires in {days_left(key.expires_at)} day(s). "
            "Regenerate it on the API Keys page to keep pushing."
        )
    return response


@csrf_exempt
@never_cache
@require_http_methods(["DELETE", "POST"])
@api_key_required
def unlist_or_relist(request, key, package_id: str, version: str):
    listed = request.method == "POST"
    try:
        services.package_set_listed(
            api_key=key, package_id=package_id, version=version, listed=listed, request=request
        )
    except registry.NotFound:
        return _answer(404, f"Package '{package_id}' version '{version}' was not found.")
    except services.Refused:
        return _answer(403, FORBIDDEN)
    return _answer(200, "OK") if listed else _answer(204)
