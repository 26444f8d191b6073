"""The trusted publishing settings and their defaults, in one place.

Read from ``django.conf.settings`` when used, never at import time, so tests can
change them with the ``settings`` fixture. ``portal/settings.py`` passes the
environment through only when a variable is set.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

GITHUB = "github"
GITLAB = "gitlab"
PROVIDERS = (GITHUB, GITLAB)

DEFAULT_ISSUERS = (
    f"{GITHUB}=https://token.actions.githubusercontent.com,{GITLAB}=https://gitlab.com"
)
DEFAULT_KEY_MINUTES = 15
MAX_KEY_MINUTES = 60
# Events whose workflows run code from outside the repository with its secrets.
DEFAULT_GITHUB_DENIED_EVENTS = ("pull_request_target", "workflow_run")
# Seconds of clock difference tolerated on exp, nbf and iat.
DEFAULT_LEEWAY = 60
# Discovery documents and key sets are kept this many seconds; an unknown kid
# fetches the key set again at once, whatever its age.
DEFAULT_JWKS_TTL = 300
DEFAULT_HTTP_TIMEOUT = 5
# Keys a policy may mint per window: a CI run needs one or two.
DEFAULT_MINT_LIMIT = 30
DEFAULT_MINT_WINDOW = 3600
# A policy whose repository IDs are not yet recorded takes them from the first
# token it accepts within this many days of its creation or re-arming.
ARMED_DAYS = 7


def _positive_int(name: str, default: int, maximum: int | None = None) -> int:
    value = getattr(settings, name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ImproperlyConfigured(f"{name} must be a positive integer.")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}.")
    return value


def require_https() -> bool:
    """Issuers and their key sets must be HTTPS URLs; only tests turn this off."""
    return bool(getattr(settings, "TRUSTED_PUBLISHING_REQUIRE_HTTPS", True))


def issuers() -> dict[str, tuple[str, ...]]:
    """``{provider: (issuer URL, ...)}`` from ``TRUSTED_PUBLISHING_ISSUERS``:
    comma-separated ``provider=URL`` pairs, or a list of them."""
    raw = getattr(settings, "TRUSTED_PUBLISHING_ISSUERS", None)
    if raw is None:
        raw = DEFAULT_ISSUERS
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    found: dict[str, list[str]] = {provider: [] for provider in PROVIDERS}
    for item in (i.strip() for i in items):
        if not item:
            continue
        provider, _, url = item.partition("=")
        provider, url = provider.strip().lower(), url.strip().rstrip("/")
        parts = urlsplit(url)
        if provider not in PROVIDERS or not parts.netloc or parts.scheme not in ("http", "https"):
            raise ImproperlyConfigured(
                "TRUSTED_PUBLISHING_ISSUERS must be comma-separated provider=URL pairs, "
                f"provider one of {', '.join(PROVIDERS)} (got {item!r})."
            )
        if parts.scheme != "https" and require_https():
            raise ImproperlyConfigured(f"TRUSTED_PUBLISHING_ISSUERS: {url} is not an https URL.")
        found[provider].append(url)
    return {provider: tuple(urls) for provider, urls in found.items()}


def audience(fallback: str) -> str:
    """The one ``aud`` a token must carry: ``TRUSTED_PUBLISHING_AUDIENCE``, else
    ``SITE_URL``, else ``fallback`` (the site's URL as the request names it)."""
    return (
        getattr(settings, "TRUSTED_PUBLISHING_AUDIENCE", None)
        or settings.SITE_URL.rstrip("/")
        or fallback
    )


def key_minutes() -> int:
    return _positive_int("TRUSTED_PUBLISHING_KEY_MINUTES", DEFAULT_KEY_MINUTES, MAX_KEY_MINUTES)


def github_denied_events() -> frozenset[str]:
    raw = getattr(settings, "TRUSTED_PUBLISHING_GITHUB_DENIED_EVENTS", None)
    if raw is None:
        return frozenset(DEFAULT_GITHUB_DENIED_EVENTS)
    items = raw.split(",") if isinstance(raw, str) else raw
    return frozenset(i.strip() for i in items if i.strip())


def leeway() -> int:
    return DEFAULT_LEEWAY


def jwks_ttl() -> int:
    return _positive_int("TRUSTED_PUBLISHING_JWKS_TTL", DEFAULT_JWKS_TTL)


def http_timeout() -> int:
    return _positive_int("TRUSTED_PUBLISHING_HTTP_TIMEOUT", DEFAULT_HTTP_TIMEOUT)


def mint_limit() -> int:
    return _positive_int("TRUSTED_PUBLISHING_MINT_LIMIT", DEFAULT_MINT_LIMIT)


def mint_window() -> int:
    return _positive_int("TRUSTED_PUBLISHING_MINT_WINDOW", DEFAULT_MINT_WINDOW)
