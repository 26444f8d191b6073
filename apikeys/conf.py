"""The apikeys settings and their defaults, in one place.

Every value is read from ``django.conf.settings`` each time it is used, never at
import time: the module works whether or not the app is installed, and tests
change settings with the ``settings`` fixture. ``portal/settings.py`` passes the
environment through (None when a variable is unset); the defaults are here.
"""

import functools
import hashlib
import hmac
import re

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.encoding import force_bytes
from django.views.decorators.debug import sensitive_variables

DEFAULT_PREFIX = "ngk_"
DEFAULT_MAX_EXPIRATION_DAYS = 365
DEFAULT_MAX_GLOBS = 10
# The Expires In choices, in days; nuget.org's strict mode offers 1, 8 and 30.
DEFAULT_EXPIRATION_CHOICES = (1, 90, 180, 270, 365)

# Lower-case so a key reads the same in every font; the trailing "_" lets secret
# scanners and people see where the prefix ends.
_PREFIX_RE = re.compile(r"[a-z][a-z0-9]{1,7}_")

# Derivation label: the pepper must differ from SECRET_KEY itself, so that a
# digest table never doubles as an oracle for the key that signs sessions.
_PEPPER_LABEL = b"portal.apikeys.pepper"


def prefix() -> str:
    value = getattr(settings, "APIKEYS_PREFIX", None)
    if value is None:  # unset
        value = DEFAULT_PREFIX
    # fullmatch, not match with "$": "$" would accept a trailing newline.
    if not isinstance(value, str) or not _PREFIX_RE.fullmatch(value):
        # Operator-facing, like Django's own ImproperlyConfigured messages: not translated.
        raise ImproperlyConfigured(
            "APIKEYS_PREFIX must be 2 to 8 lower-case letters or digits, starting "
            "with a letter, followed by '_' (for example 'ngk_')."
        )
    return value


def short_lived_prefix() -> str:
    """The prefix of keys minted by trusted publishing: the key prefix with a ``t``
    before its ``_`` (``ngk_`` gives ``ngkt_``). Derived rather than a second setting,
    so the two can never collide and one setting moves both."""
    return prefix()[:-1] + "t_"


# Cached by the secret key's value: the derived pepper is a function of it alone.
@functools.lru_cache(maxsize=8)
@sensitive_variables()
def _derive_pepper(secret_key: str | bytes) -> bytes:
    return hmac.new(force_bytes(secret_key), _PEPPER_LABEL, hashlib.sha256).digest()


@sensitive_variables()
def peppers() -> list[bytes]:
    """The current pepper first, then the fallbacks still accepted during a rotation.

    APIKEYS_PEPPER, or unset, one derived from SECRET_KEY; APIKEYS_PEPPER_FALLBACKS,
    or unset, those derived from SECRET_KEY_FALLBACKS, so that rotating SECRET_KEY
    the Django way keeps keys working. An empty pepper would silently turn the
    keyed digest into a plain one, so it counts as unset.
    """
    current = getattr(settings, "APIKEYS_PEPPER", None)
    fallbacks = getattr(settings, "APIKEYS_PEPPER_FALLBACKS", None)
    found = [force_bytes(current) if current else _derive_pepper(settings.SECRET_KEY)]
    if fallbacks is None:
        found += [_derive_pepper(key) for key in settings.SECRET_KEY_FALLBACKS]
    else:
        found += [force_bytes(pepper) for pepper in fallbacks if pepper]
    # A fallback equal to the current pepper would only cost a second lookup.
    return list(dict.fromkeys(found))


def _positive_int(name: str, default: int) -> int:
    value = getattr(settings, name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ImproperlyConfigured(f"{name} must be a positive integer.")
    return value


def max_expiration_days() -> int:
    return _positive_int("APIKEYS_MAX_EXPIRATION_DAYS", DEFAULT_MAX_EXPIRATION_DAYS)


def max_globs() -> int:
    return _positive_int("APIKEYS_MAX_GLOBS", DEFAULT_MAX_GLOBS)


def expiration_choices() -> list[int]:
    """The Expires In choices, in days, ascending: ``APIKEYS_EXPIRATION_CHOICES``
    (comma-separated or a list), without those over ``APIKEYS_MAX_EXPIRATION_DAYS``
    (which is offered instead when every choice is over it)."""
    raw = getattr(settings, "APIKEYS_EXPIRATION_CHOICES", None)
    if raw is None:
        raw = DEFAULT_EXPIRATION_CHOICES
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    try:
        days = sorted({int(str(item).strip()) for item in items if str(item).strip()})
    except ValueError:
        days = []
    if not days or days[0] < 1:
        raise ImproperlyConfigured(
            "APIKEYS_EXPIRATION_CHOICES must be comma-separated whole numbers of days, "
            "each at least 1 (for example '1,90,180,270,365')."
        )
    limit = max_expiration_days()
    return [d for d in days if d <= limit] or [limit]


def longest_expiration() -> int:
    """The largest choice: preselected, the command's default, and the cap on a
    regenerated key's new lifetime."""
    return expiration_choices()[-1]
