"""The NuGet publish protocol: service index, push, unlist, relist.

NuGet clients print the HTTP reason phrase, not the body, so every refusal
carries its message there. Refusals for a bad or unsuitable key stay generic;
the real reason goes to the audit log.
"""

from datetime import timedelta

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from apikeys.authentication import Failure, check
from audit.events import client_ip, record
from audit.models import EventKind
from feed import ratelimit, uploads
from packages import conf as packages_conf
from packages import nupkg, services

FORBIDDEN = (
    "The specified API key is invalid, has expired, "
    "or does not have permission to access the specified package."
)
EXPIRY_WARNING_DAYS = 10
# Our translated messages use typographic quotes; a status line cannot.
_TYPOGRAPHY = str.maketrans(
    {"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'", "\u2026": "..."}
)


def _answer(status: int, reason: str = "", **headers) -> HttpResponse:
    response = HttpResponse(status=status, content_type="text/plain; charset=utf-8")
    if reason:
        # The status line is Latin-1 and a single line: keep the message ASCII.
        reason = " ".join(reason.split())
        reason = reason.translate(_TYPOGRAPHY)
        response.reason_phrase = reason.encode("ascii", "replace").decode("ascii")
        response.content = (response.reason_phrase + "\n").encode()
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _base_url(request) -> str:
    return settings.SITE_URL or f"{request.scheme}://{request.get_host()}"


@require_http_methods(["GET", "HEAD"])
def service_index(request):
    publish = f"{_base_url(request)}/api/v2/package"
    response = JsonResponse(
        {
            "version": "3.0.0",
            "resources": [
                {
                    "@id": publish,
                    "@type": "PackagePublish/2.0.0",
                    "comment": "Push, unlist and relist packages with an API key.",
                },
            ],
        }
    )
    if request.method == "HEAD":
        response["Content-Length"] = str(len(response.content))
        response.content = b""
    return response


def _authenticate(request):
    """(key, None) for a usable key, or (None, response) to send back."""
    raw = request.headers.get("X-NuGet-ApiKey", "").strip()
    if not raw:
        return None, _answer(
            401,
            "An API key is required: pass it in the X-NuGet-ApiKey header.",
            WWW_Authenticate=f'ApiKey realm="{settings.SITE_NAME}", header="X-NuGet-ApiKey"',
        )
    # A valid key goes straight through: the limit concerns failures only, so
    # it is not even looked up (with Redis, a round trip saved on every push).
    outcome = check(raw)
    if outcome.key is not None:
        return outcome.key, None
    ip = client_ip(request)
    wait = ratelimit.retry_after(ip)
    if wait:
        # Over the limit: the window's count is already past it, and of the
        # failures from here on only the first well-formed one is audited. One
        # row each would let a flood of made-up keys fill the audit log.
        if outcome.failure != Failure.MALFORMED and ratelimit.first_over_limit(ip):
            _record_failure(request, outcome, rate_limited=True)
        return None, _answer(429, "Too many failed API key attempts.", Retry_After=str(wait))
    ratelimit.note_failure(ip)
    _record_failure(request, outcome)
    return None, _answer(403, FORBIDDEN)


def _record_failure(request, outcome, **details) -> None:
    record(
        EventKind.API_KEY_AUTH_FAILED,
        request=request,
        details={
            "failure": str(outcome.failure),
            "key_id": outcome.key_id,
            "hint": outcome.hint,
            **details,
        },
    )


def _refused_package(request, key, code: str, reason: str, package_id="", version=""):
    record(
        EventKind.PACKAGE_REFUSED,
        actor=key.owner,
        subject_user=key.owner,
        api_key=key,
        package_id=package_id,
        package_version=version,
        request=request,
        details={"action": "push", "code": code, "reason": reason},
    )


@csrf_exempt
@never_cache
@require_http_methods(["PUT"])
def push(request):
    key, refusal = _authenticate(request)
    if refusal is not None:
        return refusal
    max_size = packages_conf.max_package_size()
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.isdigit() and int(declared) > max_size + 64 * 1024:
        _refused_package(request, key, "too_large", "declared length over the limit")
        return _answer(413, "The package file is too large.")
    try:
        upload = uploads.receive(request, max_size)
    except uploads.TooLarge:
        _refused_package(request, key, "too_large", "body over the limit")
        return _answer(413, "The package file is too large.")
    except uploads.LengthRequired:
        return _answer(411, "This server needs a Content-Length for pushes.")
    except uploads.NotMultipart:
        _refused_package(request, key, "not_multipart", "no package file in the body")
        return _answer(400, "The body must be multipart/form-data with the .nupkg file.")
    with upload.file:
        try:
            metadata = nupkg.read(upload.file)
        except nupkg.InvalidPackage as invalid:
            _refused_package(request, key, invalid.code, str(invalid.reason))
            return _answer(400, f"Invalid package: {invalid.reason}")
        try:
            services.package_push(upload=upload, metadata=metadata, api_key=key, request=request)
        except services.Refused:
            return _answer(403, FORBIDDEN)
        except services.VersionExists:
            normalized = metadata.version.normalized
            _refused_package(request, key, "exists", "version exists", metadata.id, normalized)
            return _answer(
                409,
                f"A package with ID '{metadata.id}' and version '{normalized}' already exists "
                "and cannot be modified.",
            )
    response = _answer(201, "Created")
    left = key.expires_at - timezone.now()
    if left < timedelta(days=EXPIRY_WARNING_DAYS):
        days = max(1, left.days + (1 if left.seconds or left.microseconds else 0))
        response["X-NuGet-Warning"] = (
            f"The API key {key.hint.translate(_TYPOGRAPHY)} expires in {days} "
            "day(s). Regenerate it on the API Keys page to keep pushing."
        )
    return response


@csrf_exempt
@never_cache
@require_http_methods(["DELETE", "POST"])
def unlist_or_relist(request, package_id: str, version: str):
    key, refusal = _authenticate(request)
    if refusal is not None:
        return refusal
    listed = request.method == "POST"
    try:
        services.package_set_listed(
            api_key=key, package_id=package_id, version=version, listed=listed, request=request
        )
    except services.NotFound:
        return _answer(404, f"Package '{package_id}' version '{version}' was not found.")
    except services.Refused:
        return _answer(403, FORBIDDEN)
    return _answer(200, "OK") if listed else _answer(204)
