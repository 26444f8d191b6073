"""The API key format. The only module that knows it; everything else calls these.

A key is ``<prefix><secret><check>``, e.g. ``ngk_`` + 32 + 6 characters:

- prefix: ``conf.prefix()``, so people and secret scanners can tell what it is;
  keys minted by trusted publishing (minutes-long, for CI) carry
  ``conf.short_lived_prefix()`` instead (``ngkt_`` beside ``ngk_``), so a scanner
  can tell a leaked CI key, already dead or soon to be, from a long-lived one;
- secret: 32 characters of base62 drawn with ``secrets`` (32 * log2(62) ≈ 190 bits),
  enough that a fast keyed digest is as safe as a slow password hash;
- check: CRC32 of prefix + secret, as 6 fixed-width base62 digits (62**6 > 2**32).
  It lets ``parse`` reject typos and truncated copies, and lets scanners drop
  look-alikes, without touching the database. It is not a security measure.

Only ``[A-Za-z0-9_]`` appear, so a double-click selects the whole key.

Every function that holds a key value or a pepper hides its variables from
Django's error reports itself (``sensitive_variables()``), whoever calls it.
"""

import hashlib
import hmac
import re
import secrets
import string
import zlib
from typing import NamedTuple

from django.views.decorators.debug import sensitive_variables

from apikeys import conf

ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase
SECRET_LENGTH = 32
CHECKSUM_LENGTH = 6
# What follows the prefix: the secret and the check, base62 only.
_TAIL = f"[0-9A-Za-z]{{{SECRET_LENGTH + CHECKSUM_LENGTH}}}"
_TAIL_RE = re.compile(_TAIL)


def _token(n: int) -> str:
    # The one place randomness enters: tests pin secrets.choice for one generate().
    return "".join(secrets.choice(ALPHABET) for _ in range(n))


@sensitive_variables()
def _checksum(body: str) -> str:
    """CRC32 of ``body`` as CHECKSUM_LENGTH base62 digits, most significant first."""
    number = zlib.crc32(body.encode("ascii"))
    digits = ""
    for _ in range(CHECKSUM_LENGTH):
        number, digit = divmod(number, len(ALPHABET))
        digits = ALPHABET[digit] + digits
    return digits


class ParsedKey(NamedTuple):
    """A well-formed key value. Not proof that such a key exists or is valid."""

    value: str

    # A ParsedKey that ends up in a log line or a traceback must not leak.
    def __repr__(self) -> str:
        return "ParsedKey(value=<hidden>)"

    @property
    def hint(self) -> str:
        return hint(self.value)


@sensitive_variables()
def generate(short_lived: bool = False) -> str:
    """A new plaintext key value. Show it once; store only its digest.

    ``short_lived`` for the keys trusted publishing mints: they differ only in prefix.
    """
    prefix = conf.short_lived_prefix() if short_lived else conf.prefix()
    body = prefix + _token(SECRET_LENGTH)
    return body + _checksum(body)


@sensitive_variables()
def parse(raw: object) -> ParsedKey | None:
    """``raw`` as a ParsedKey if it has the key format, else None.

    Cheap checks only (type, shape, CRC), so junk from the network never reaches
    the database. Nothing is stripped: callers hand over exactly what they received.
    """
    if not isinstance(raw, str):
        return None
    for prefix in (conf.prefix(), conf.short_lived_prefix()):
        if raw.startswith(prefix):
            break
    else:
        return None
    # fullmatch, not "$", which would let a trailing newline through.
    if _TAIL_RE.fullmatch(raw, len(prefix)) is None:
        return None
    if _checksum(raw[:-CHECKSUM_LENGTH]) != raw[-CHECKSUM_LENGTH:]:
        return None
    return ParsedKey(raw)


@sensitive_variables()
def digest(value: str, pepper: bytes) -> str:
    """The stored form of a key: HMAC-SHA256 under the pepper, 64 hex characters."""
    return hmac.new(pepper, value.encode("utf-8"), hashlib.sha256).hexdigest()


@sensitive_variables()
def digests(value: str) -> list[str]:
    """The digest under every accepted pepper, current first: a key made before a
    pepper rotation is still found, under a fallback."""
    return [digest(value, pepper) for pepper in conf.peppers()]


@sensitive_variables()
def hint(value: str) -> str:
    """A non-secret reminder of which key this is, for the UI, e.g. ``ngk_…a1B2``."""
    # The key's own prefix (every key ends in SECRET_LENGTH + CHECKSUM_LENGTH
    # characters), so a key keeps its hint when the prefix setting changes. The
    # last four characters are mostly checksum: they give away at most 24 bits of
    # a 190-bit secret.
    return f"{value[: -SECRET_LENGTH - CHECKSUM_LENGTH]}…{value[-4:]}"


def pattern(short_lived: bool = False) -> str:
    r"""A regular expression that finds keys in text, for secret scanners.

    For example ``\bngk_[0-9A-Za-z]{38}\b``, or with ``short_lived`` the minted keys'
    ``\bngkt_[0-9A-Za-z]{38}\b``. Neither matches the other's keys. A function, since
    the prefix is a setting.
    """
    prefix = conf.short_lived_prefix() if short_lived else conf.prefix()
    return rf"\b{re.escape(prefix)}{_TAIL}\b"
