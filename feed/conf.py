"""The feed's settings and their defaults, in one place.

Every value is read from ``django.conf.settings`` when it is used, never at import
time, so tests can change it with pytest-django's ``settings`` fixture.
"""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# Failed API key attempts allowed per client address per window, then 429.
DEFAULT_AUTH_FAILURE_LIMIT = 10
DEFAULT_AUTH_FAILURE_WINDOW = 60  # seconds


def _positive_int(name: str, default: int) -> int:
    value = getattr(settings, name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        # Operator-facing, like Django's own ImproperlyConfigured messages: not translated.
        raise ImproperlyConfigured(f"{name} must be a positive integer.")
    return value


def auth_failure_limit() -> int:
    """Failed API key attempts an address may make per window."""
    return _positive_int("FEED_AUTH_FAILURE_LIMIT", DEFAULT_AUTH_FAILURE_LIMIT)


def auth_failure_window() -> int:
    """The length of that window, in seconds."""
    return _positive_int("FEED_AUTH_FAILURE_WINDOW", DEFAULT_AUTH_FAILURE_WINDOW)


# Who may read the feed (service index, flat container, registrations, search,
# autocomplete): anyone, or only requests that carry a key with package:read.
READ_PUBLIC = "public"
READ_AUTHENTICATED = "authenticated"
DEFAULT_READ_ACCESS = READ_PUBLIC


def read_access() -> str:
    """``"public"`` or ``"authenticated"``: ``FEED_READ_ACCESS``."""
    value = getattr(settings, "FEED_READ_ACCESS", DEFAULT_READ_ACCESS)
    if value not in (READ_PUBLIC, READ_AUTHENTICATED):
        # A typo must not leave a feed meant to be private open: refuse to guess.
        raise ImproperlyConfigured(
            f"FEED_READ_ACCESS must be {READ_PUBLIC!r} or {READ_AUTHENTICATED!r}."
        )
    return value
