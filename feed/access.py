"""Who may read the feed: the one check every read resource makes.

Every read view (service index, flat container, registrations, search,
autocomplete) calls ``read_denied(request, package_id)`` before it answers, and
returns the response it gets, if any; search and autocomplete also ask
``read_scope(request)`` which packages to show.

``FEED_READ_ACCESS=public`` (the default): nobody is denied and a presented key
is not even looked at. ``authenticated``: a request needs a key with the
package:read scope, sent as ``X-NuGet-ApiKey`` or as the password of HTTP Basic
authentication (any user name), which is what ``nuget.config``'s
``packageSourceCredentials`` make NuGet clients send. Without a key, or with a
wrong, expired or revoked one, the answer is 401 with a Basic challenge: a 401
is what makes NuGet clients read their configured credentials or ask their
credential providers, and ask again when the ones they sent were refused. A
valid key without package:read gets 403 (the credentials are fine, the
permission is missing). A package the key's globs and picked packages do not
cover answers 404, as a package that does not exist does.

Failed keys go through ``feed.services.key_check``, as the publish endpoint's
do: the same per-address failure limit (429 with Retry-After) and audit events.
"""

import base64
import binascii

from django.conf import settings
from django.http import HttpResponse
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.views.decorators.debug import sensitive_variables

from apikeys.authentication import AuthenticatedKey
from apikeys.scopes import Denied, Grant
from feed import conf, services
from feed.answers import answer, quoted, too_many_failures

_KEY_REQUIRED = (
    "An API key with the Download packages scope is required to read this feed: send it "
    "as the password of HTTP Basic authentication (any user name) or in the "
    "X-NuGet-ApiKey header."
)
_KEY_REFUSED = "The API key is invalid, has expired or has been revoked."
_NO_READ_SCOPE = "This API key does not have the Download packages (package:read) scope."
# What a covered reader is told about an ID its key does not cover: the same as
# for an ID that does not exist, so a key learns nothing about the others.
_NOT_FOUND = "Package '{package_id}' was not found."

# Where one request's authentication is kept, so that a view asking twice (the
# check, then the search scope) looks the key up, and counts a failure, once.
_READER = "_feed_reader"
_REFUSED = "_feed_read_refused"
# Nothing covered: the scope of a request that was not allowed to read at all.
_NOTHING = Grant.of()


def is_private() -> bool:
    return conf.read_access() == conf.READ_AUTHENTICATED


@sensitive_variables()
def presented_key(request) -> str:
    """The key the request carries: ``X-NuGet-ApiKey``, else the password of HTTP
    Basic authentication; ``""`` for none. Not checked here."""
    raw = request.headers.get("X-NuGet-ApiKey", "").strip()
    if raw:
        return raw
    scheme, _, credentials = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "basic" or not credentials.strip():
        return ""
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("latin-1")
    except (binascii.Error, ValueError):
        # Credentials were sent but are not Basic's shape: a failed key, not a
        # missing one, so that it counts towards the failure limit.
        return credentials.strip()
    _user, _, password = decoded.partition(":")
    return password.strip()


def _challenge(reason: str) -> HttpResponse:
    return answer(401, reason, WWW_Authenticate=f"Basic realm={quoted(settings.SITE_NAME)}")


def _reader(request) -> AuthenticatedKey | HttpResponse:
    """The request's key, or the answer for a request without a usable one."""
    if (cached := request.__dict__.get(_READER)) is not None:
        return cached
    try:
        reader = services.key_check(presented_key(request), request=request)
    except services.KeyMissing:
        reader = _challenge(_KEY_REQUIRED)
    except services.KeyRefused:
        reader = _challenge(_KEY_REFUSED)
    except services.TooManyFailures as limited:
        reader = too_many_failures(limited.retry_after)
    request.__dict__[_READER] = reader
    return reader


def read_denied(request, package_id: str | None = None) -> HttpResponse | None:
    """``None`` when the request may read ``package_id`` (or the feed, when ``None``),
    else the response to send instead."""
    if not is_private():
        return None
    reader = _reader(request)
    if isinstance(reader, HttpResponse):
        return reader
    decision = reader.grant.allows_read(package_id)
    if decision:
        return None
    if decision.code == Denied.SCOPE:
        if not request.__dict__.get(_REFUSED):
            # Audited once per request; the answer stays generic.
            request.__dict__[_REFUSED] = True
            services.refusal_record(
                api_key=reader, action="read", code=decision.code, reason=decision.reason,
                package_id=package_id or "", request=request,
            )  # fmt: skip
        return answer(403, _NO_READ_SCOPE)
    return answer(404, _NOT_FOUND.format(package_id=package_id[:100]))


def read_scope(request) -> Grant | None:
    """The packages this request may see, for search and autocomplete (anything with
    ``package_ids`` and ``globs``, as ``packages.search`` takes), or ``None`` for all.

    Call it after ``read_denied(request)``; a request that may not read at all sees
    nothing, so forgetting that call fails closed.
    """
    if not is_private():
        return None
    reader = _reader(request)
    if isinstance(reader, HttpResponse) or not reader.grant.allows_read():
        return _NOTHING
    return reader.grant


def private_marked(request, response):
    """On a private feed, a read answer is for its reader alone.

    The flat container marks package files ``public`` for a year, which lets a
    shared cache (a proxy, a CDN) store an answer to a request with credentials
    and hand it to anyone. On a private feed every answer to a request that went
    through ``read_denied`` becomes ``private`` and varies on both ways of sending
    a key.
    """
    if _READER in request.__dict__:
        patch_cache_control(response, private=True)
        patch_vary_headers(response, ("Authorization", "X-NuGet-ApiKey"))
    return response


class PrivateCacheMiddleware:
    """``private_marked`` for every answer (the package downloads that
    ``feed.flatcontainer.PackageDownloadMiddleware`` answers call it themselves)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return private_marked(request, self.get_response(request))
