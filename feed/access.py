"""Who may read the feed: the one check every read resource makes.

Every read view (flat container, registrations, search, autocomplete) calls
``read_denied(request, package_id)`` before it answers, and returns the
response it gets, if any. The feed is public today, so nobody is denied; a
private feed decides here (401 without a key, 404 for a package the key does
not cover) and no view changes.
"""

from django.http import HttpResponse


def read_denied(request, package_id: str | None = None) -> HttpResponse | None:
    """``None`` when the request may read ``package_id`` (or the feed, when ``None``),
    else the response to send instead."""
    return None
