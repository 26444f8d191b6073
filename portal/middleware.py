"""Every request's ID, log fields and metrics, in the outermost middleware."""

import re
import uuid

from django.conf import settings
from django.core.signals import request_finished
from django.db import DatabaseError

from audit import logfields, metrics
from portal import logging as portal_logging

REQUEST_ID_HEADER = "X-Request-ID"
# What a proxy's request ID may look like: a UUID, a hex or base64 token, a
# trace ID. Anything else (too long, spaces, control characters) is replaced.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:+=/-]{1,128}")
# Routes whose path holds a one-time secret: logged as their pattern instead.
_SECRET_PATHS = frozenset({"account_reset_password_from_key", "account_confirm_email"})

# The request's log fields stay current until Django is done with the response.
request_finished.connect(portal_logging.request_end, dispatch_uid="portal.logging.request_end")


def request_id_for(request) -> str:
    """The proxy's ``X-Request-ID`` when a trusted proxy stands in front (it sets
    or passes on the header), else a new one: a client's own value is not taken."""
    if settings.ALLAUTH_TRUSTED_PROXY_COUNT > 0:
        given = request.headers.get(REQUEST_ID_HEADER, "")
        if _REQUEST_ID.fullmatch(given):
            return given
    return uuid.uuid4().hex


def route_of(request) -> str:
    """The URL pattern's name (``feed:push``), never the raw path."""
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return match.view_name or "unnamed"
    if request.path.startswith(settings.STATIC_URL):
        return "static"
    return "unmatched"


def _user_id(request):
    # Only a request with a session cookie can have a signed-in user; the others
    # are never looked up (the health checks and the feed's clients among them).
    if settings.SESSION_COOKIE_NAME not in request.COOKIES or not hasattr(request, "user"):
        return None
    try:
        return request.user.pk
    except DatabaseError:
        return None


class RequestContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_for(request)
        portal_logging.request_begin(request, request_id)
        with metrics.InProgress() as timing:
            response = self.get_response(request)
        route = route_of(request)
        fields = logfields.fields_of(request)
        fields["route"] = route
        fields["status"] = response.status_code
        if route in _SECRET_PATHS:
            fields["path"] = request.resolver_match.route
        if (user_id := _user_id(request)) is not None:
            fields["user_id"] = user_id
        metrics.request_observed(
            route=route, method=request.method, status=response.status_code, seconds=timing.seconds
        )
        response[REQUEST_ID_HEADER] = request_id
        return response
