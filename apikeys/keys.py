"""The API key format. The only module that knows it; everything else calls these.

A key is ``<prefix><secret><check>``, e.g. ``ngk_`` + 32 + 6 characters:

- prefix: ``conf.prefix()``, so people and secret scanners can tell what it is;
- secret: 32 characters of base62 drawn with ``secrets`` (32 * log2(62) ≈ 190 bits),
  enough that a fast keyed digest is as safe as a slow password hash;
- check: CRC32 of prefix + secret, as 6 fixed-width base62 digits (62**6 > 2**32).
  It lets ``parse`` reject typos and truncated copies, and lets scanners drop
  look-alikes, without touching the database. It is not a security measure.

Only ``[A-Za-z0-9_]`` appear, so a double-click selects the whole key.
"""

import functools
import hashlib
import hmac
import re
import secrets
import string
import zlib
from typing import NamedTuple

from apikeys import conf

ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase
SECRET_LENGTH = 32
CHECKSUM_LENGTH = 6


def _token(n: int) -> str:
    # The one place randomness enters (house-style habit 10): tests pin it here.
    return "".join(secrets.choice(ALPHABET) for _ in range(n))


# Every pair of base62 digits, in order: the checksum's six digits are three
# look-ups (62**2 = 3,844, and a CRC32 is below 3,844**3), not six divisions.
_PAIRS = [high + low for high in ALPHABET for low in ALPHABET]
_PAIR_BASE = len(_PAIRS)


def _checksum(body: str) -> str:
    number, low = divmod(zlib.crc32(body.encode("ascii")), _PAIR_BASE)
    high, middle = divmod(number, _PAIR_BASE)
    return _PAIRS[high] + _PAIRS[middle] + _PAIRS[low]


@functools.lru_cache(maxsize=8)
def _shape(prefix: str) -> re.Pattern[str]:
    return re.compile(re.escape(prefix) + f"[0-9A-Za-z]{{{SECRET_LENGTH + CHECKSUM_LENGTH}}}")


class ParsedKey(NamedTuple):
    """A well-formed key value. Not proof that such a key exists or is valid."""

    value: str

    # A ParsedKey that ends up in a log line or a traceback must not leak.
    def __repr__(self) -> str:
        return "ParsedKey(value=<hidden>)"

    @property
    def hint(self) -> str:
        return hint(self.value)


def generate() -> str:
    """A new plaintext key value. Show it once; store only its digest."""
    body = conf.prefix() + _token(SECRET_LENGTH)
    return body + _checksum(body)


def parse(raw: object) -> ParsedKey | None:
    """``raw`` as a ParsedKey if it has the key format, else None."""
    value = well_formed(raw)
    return None if value is None else ParsedKey(value)


def well_formed(raw: object) -> str | None:
    """``raw`` itself if it has the key format, else None: ``parse`` without the
    wrapper, for the key check, which runs on every push.

    Cheap checks first (type, length, one regex, CRC) so that junk from the network
    costs microseconds and never reaches the database. Nothing is stripped: callers
    hand over exactly what they received.
    """
    if not isinstance(raw, str):
        return None
    prefix = conf.prefix()
    if len(raw) != len(prefix) + SECRET_LENGTH + CHECKSUM_LENGTH:
        return None
    if _shape(prefix).fullmatch(raw) is None:
        return None
    if _checksum(raw[:-CHECKSUM_LENGTH]) != raw[-CHECKSUM_LENGTH:]:
        return None
    return raw


def digest(value: str, pepper: bytes) -> str:
    """The stored form of a key: HMAC-SHA256 under the pepper, 64 hex characters."""
    return hmac.new(pepper, value.encode("utf-8"), hashlib.sha256).hexdigest()


# HMAC's block size and its two pads, as bytes.translate tables that XOR each
# byte of the padded key with 0x36 (inner) or 0x5C (outer).
_BLOCK_SIZE = hashlib.sha256().block_size
_INNER_PAD = bytes(byte ^ 0x36 for byte in range(256))
_OUTER_PAD = bytes(byte ^ 0x5C for byte in range(256))


@functools.lru_cache(maxsize=4)
def _keyed(peppers: tuple[bytes, ...]) -> tuple[tuple[object, object], ...]:
    # HMAC's two padded key blocks, hashed once per pepper (RFC 2104, section 4:
    # "the intermediate results ... can be precomputed"). Each digest then
    # starts from copies of those two states: about half the time of copying an
    # hmac.HMAC object, whose OpenSSL copy re-creates a whole MAC context.
    # digest() above is the reference; tests hold the two equal.
    states = []
    for pepper in peppers:
        key = hashlib.sha256(pepper).digest() if len(pepper) > _BLOCK_SIZE else pepper
        key = key.ljust(_BLOCK_SIZE, b"\0")
        states.append(
            (
                hashlib.sha256(key.translate(_INNER_PAD)),
                hashlib.sha256(key.translate(_OUTER_PAD)),
            )
        )
    return tuple(states)


def digests(value: str) -> list[str]:
    """The digest under every accepted pepper, current first, for lookup during rotation.

    The same as ``[digest(value, pepper) for pepper in conf.peppers()]``.
    """
    data = value.encode("utf-8")
    found = []
    for inner_state, outer_state in _keyed(conf.current_peppers()):
        inner = inner_state.copy()
        inner.update(data)
        outer = outer_state.copy()
        outer.update(inner.digest())
        found.append(outer.hexdigest())
    return found


def hint(value: str) -> str:
    """A non-secret reminder of which key this is, for the UI, e.g. ``ngk_…a1B2``."""
    # The last four characters are mostly checksum: they give away at most 24 bits
    # of a 190-bit secret.
    return f"{conf.prefix()}…{value[-4:]}"


def pattern() -> str:
    r"""A regular expression that finds keys in text, for secret scanners.

    For example ``\bngk_[0-9A-Za-z]{38}\b``. A function, since the prefix is a setting.
    """
    return rf"\b{re.escape(conf.prefix())}[0-9A-Za-z]{{{SECRET_LENGTH + CHECKSUM_LENGTH}}}\b"
