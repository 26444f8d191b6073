"""Failed API key attempts per client address: FEED_AUTH_FAILURE_LIMIT per
FEED_AUTH_FAILURE_WINDOW seconds (see ``audit.ratelimit``).

Only failures count and only failures are slowed: a request with a valid key
goes through even from an address that others have made to fail (many clients
can share one address behind NAT).
"""

from audit.ratelimit import Limiter
from feed import conf


def _limiter() -> Limiter:
    # Settings are read when used, so tests and operators can change them.
    return Limiter("feed:auth-failures", conf.auth_failure_limit(), conf.auth_failure_window())


def retry_after(ip: str | None) -> int:
    """Count a failed attempt of ``ip``: 0 when it is within the limit, else the
    seconds until ``ip`` may fail again.

    Call it once per failure, before answering it: the count and the check are
    one step, so failures that reach several workers at the same moment cannot
    all pass the check before any of them is counted.
    """
    return _limiter().hit(ip)


def first_over_limit(ip: str | None) -> bool:
    """True for the first call in the current window, False for the rest.

    For the failures of an address already over the limit: the first is
    audited, the others only refused, so that a flood cannot fill the log.
    """
    return _limiter().first_over_limit(ip)
