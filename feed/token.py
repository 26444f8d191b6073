"""``POST /api/v2/token``: a CI job's OIDC token exchanged for a short-lived API key.

Shaped as nuget.org's token API, so the same CI steps work here: one
``Authorization: Bearer <JWT>``, a JSON body ``{"username": ..., "tokenType":
"ApiKey"}``, a non-empty ``User-Agent``. Success is 200 with the key; every
refusal is JSON ``{"error": ...}`` whose text is also the reason phrase (NuGet
tooling prints that), 401s with ``WWW-Authenticate: Bearer``. The decisions are
``trustedpublishing.services``'; this view reads the request and audits refusals,
counting them per address as failed API keys are (``feed.ratelimit``).
"""

import json

from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_http_methods

from audit import metrics
from audit.events import client_ip
from feed import ratelimit
from feed.answers import ascii_line
from feed.links import base_url
from trustedpublishing import conf as tp_conf
from trustedpublishing import services

TOKEN_TYPE = "ApiKey"  # noqa: S105 - a protocol constant, not a secret
_MAX_BODY = 16 * 1024


def _error(status: int, message: str, **headers) -> JsonResponse:
    text = ascii_line(message)
    response = JsonResponse({"error": text}, status=status)
    response.reason_phrase = text
    if status == 401:
        response["WWW-Authenticate"] = "Bearer"
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


@sensitive_variables()
def _bearer(request) -> tuple[str | None, str | None]:
    """The token, or None and why not."""
    header = request.META.get("HTTP_AUTHORIZATION")
    if header is None:
        return None, "The Authorization header is missing."
    # Repeated headers reach Django joined by commas; a JWT holds none.
    if "," in header:
        return None, "Only one Authorization header is allowed."
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None, "The Authorization header must use the Bearer scheme."
    token = token.strip()
    if not token:
        return None, "The bearer token is missing from the Authorization header."
    return token, None


def _body(request) -> dict | None:
    if len(request.body) > _MAX_BODY:
        return None
    try:
        data = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _refuse(request, refused: services.ExchangeRefused) -> JsonResponse:
    ip = client_ip(request)
    wait = ratelimit.retry_after(ip)
    metrics.trusted_publishing_exchanged("rate_limited" if wait else "refused")
    if wait:
        if ratelimit.first_over_limit(ip):
            services.exchange_refusal_record(refused, request=request, rate_limited=True)
        return _error(
            429, "Too many failed token exchanges; try again later.", Retry_After=str(wait)
        )
    services.exchange_refusal_record(refused, request=request)
    return _error(refused.status, refused.message)


@sensitive_variables()
@csrf_exempt
@never_cache
@require_http_methods(["POST"])
def token(request):
    raw, problem = _bearer(request)
    if problem:
        return _error(401, problem)
    # A browser's session must never mint keys: only the bearer token speaks here.
    if request.user.is_authenticated:
        return _error(401, "Only Bearer token authentication is accepted.")
    content_type = request.content_type or ""
    if content_type.lower() != "application/json":
        return _error(415, "The request must have a Content-Type of 'application/json'.")
    if not request.headers.get("User-Agent", "").strip():
        return _error(400, "A User-Agent header is required.")
    data = _body(request)
    if data is None:
        return _error(400, "The request body must be a JSON object.")
    username = data.get("username")
    if not isinstance(username, str) or not username.strip():
        return _error(400, "The username property in the request body is required.")
    if data.get("tokenType") != TOKEN_TYPE:
        return _error(
            400,
            f"The tokenType property in the request body is required and must be '{TOKEN_TYPE}'.",
        )
    try:
        minted, plaintext = services.token_exchange(
            token=raw,
            username=username.strip(),
            audience=tp_conf.audience(base_url(request)),
            request=request,
        )
    except services.ExchangeRefused as refused:
        return _refuse(request, refused)
    metrics.trusted_publishing_exchanged("minted")
    return JsonResponse(
        {
            "tokenType": TOKEN_TYPE,
            "expires": minted.expires_at.isoformat(),
            "apiKey": plaintext,
        }
    )
