"""The apikeys settings and their defaults, in one place.

Every value is read from ``django.conf.settings`` when it is first used, never at
import time, so the module works whether or not the app is installed. The prefix
and the peppers, which every key check needs, are then kept until a setting they
derive from changes (Django's ``setting_changed`` signal, which the test tools'
setting overrides send): a key check does not re-read and re-validate settings.
"""

import hashlib
import hmac
import re

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.encoding import force_bytes

DEFAULT_PREFIX = "ngk_"
DEFAULT_MAX_EXPIRATION_DAYS = 365
DEFAULT_MAX_GLOBS = 10

# Lower-case so a key reads the same in every font; the trailing "_" lets secret
# scanners and people see where the prefix ends.
_PREFIX_RE = re.compile(r"[a-z][a-z0-9]{1,7}_")

# Derivation label: the pepper must differ from SECRET_KEY itself, so that a
# digest table never doubles as an oracle for the key that signs sessions.
_PEPPER_LABEL = b"portal.apikeys.pepper"


# What prefix() and peppers() found, until one of these settings changes.
_SOURCES = frozenset(
    {
        "APIKEYS_PREFIX",
        "APIKEYS_PEPPER",
        "APIKEYS_PEPPER_FALLBACKS",
        "SECRET_KEY",
        "SECRET_KEY_FALLBACKS",
    }
)
_found: dict[str, object] = {}


@receiver(setting_changed)
def _forget(*, setting, **kwargs):
    if setting in _SOURCES:
        _found.clear()


def prefix() -> str:
    try:
        return _found["prefix"]
    except KeyError:
        pass
    value = getattr(settings, "APIKEYS_PREFIX", DEFAULT_PREFIX)
    # fullmatch, not match with "$": "$" would accept a trailing newline.
    if not isinstance(value, str) or not _PREFIX_RE.fullmatch(value):
        # Operator-facing, like Django's own ImproperlyConfigured messages: not translated.
        raise ImproperlyConfigured(
            "APIKEYS_PREFIX must be 2 to 8 lower-case letters or digits, starting "
            "with a letter, followed by '_' (for example 'ngk_')."
        )
    _found["prefix"] = value
    return value


def _derive_pepper(secret_key: str | bytes) -> bytes:
    return hmac.new(force_bytes(secret_key), _PEPPER_LABEL, hashlib.sha256).digest()


def peppers() -> list[bytes]:
    """The current pepper first, then the fallbacks still accepted during a rotation."""
    return list(current_peppers())


def current_peppers() -> tuple[bytes, ...]:
    """``peppers()`` as the tuple kept between key checks, without a copy."""
    try:
        return _found["peppers"]
    except KeyError:
        pass
    current = getattr(settings, "APIKEYS_PEPPER", None)
    fallbacks = getattr(settings, "APIKEYS_PEPPER_FALLBACKS", None)
    # An empty pepper would silently turn the keyed digest into a plain one: treat as unset.
    found = [force_bytes(current) if current else _derive_pepper(settings.SECRET_KEY)]
    if fallbacks is None:
        found += [_derive_pepper(key) for key in settings.SECRET_KEY_FALLBACKS]
    else:
        found += [force_bytes(pepper) for pepper in fallbacks if pepper]
    # A fallback equal to the current pepper would only cost a second lookup.
    found = tuple(dict.fromkeys(found))
    _found["peppers"] = found
    return found


def _positive_int(name: str, default: int) -> int:
    value = getattr(settings, name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ImproperlyConfigured(f"{name} must be a positive integer.")
    return value


def max_expiration_days() -> int:
    return _positive_int("APIKEYS_MAX_EXPIRATION_DAYS", DEFAULT_MAX_EXPIRATION_DAYS)


def max_globs() -> int:
    return _positive_int("APIKEYS_MAX_GLOBS", DEFAULT_MAX_GLOBS)
