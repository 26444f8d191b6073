"""Failed API key attempts per client address, counted in the cache.

Only failures count and only failures are slowed: a request with a valid key
goes through even from an address that others have made to fail (many clients
can share one address behind NAT).
"""

import time

from django.conf import settings
from django.core.cache import cache


def _window() -> int:
    return max(1, settings.FEED_AUTH_FAILURE_WINDOW)


def _key(ip: str | None, now: float) -> str:
    return f"feed:auth-failures:{ip or 'unknown'}:{int(now // _window())}"


def retry_after(ip: str | None) -> int:
    """Seconds until ``ip`` may fail again, or 0 when it is under the limit."""
    now = time.time()
    failures = cache.get(_key(ip, now), 0)
    if failures < settings.FEED_AUTH_FAILURE_LIMIT:
        return 0
    return max(1, int(_window() - now % _window()))


def note_failure(ip: str | None) -> None:
    now = time.time()
    key = _key(ip, now)
    # add() then incr(): atomic in Redis and in the local memory cache alike.
    cache.add(key, 0, timeout=_window() + 1)
    try:
        cache.incr(key)
    except ValueError:  # expired between the two calls
        cache.add(key, 1, timeout=_window() + 1)


def first_over_limit(ip: str | None) -> bool:
    """True for the first call in the current window, False for the rest.

    For the failures of an address already over the limit: the first is
    audited, the others only refused, so that a flood cannot fill the log.
    """
    # add() is atomic in Redis and in the local memory cache: one caller wins.
    return cache.add(_key(ip, time.time()) + ":audited", 1, timeout=_window() + 1)
