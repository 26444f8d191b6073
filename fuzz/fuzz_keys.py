"""Fuzz target: ``apikeys.keys.parse`` never raises, accepts exactly the well-formed
keys, and rejects every single-character typo of a valid one.

The first input byte picks what the rest is:

- 0, text (UTF-8, undecodable bytes as lone surrogates): ``parse`` must not raise and
  must accept it exactly when the shape and the checksum hold; the secret-scanning
  ``pattern()`` must not raise on it either;
- 1, a secret and a typo: 32 bytes map onto base62 to make a valid key through
  ``keys.generate()``; the next bytes choose one edit (substitute, delete, insert,
  swap neighbours, truncate, extend) that ``parse`` must reject;
- 2, not a string: ``parse`` gets the raw bytes, a memoryview or an int, and must
  answer None.
"""

import re
import sys
import zlib
from unittest import mock

from apikeys import conf, keys
from fuzz import atheris_main, check

NAME = "keys"
WEIGHT = 1
MAX_LEN = 256
INSTRUMENT = ["apikeys.keys"]

TEXT, TYPO, NOT_TEXT = 0, 1, 2
BASE62 = keys.ALPHABET

DICTIONARY = [b"ngk_", b"\x00ngk_", b"_", b"\\b", b"\xc3\xa9", b"\xe2\x80\xa8", b"\xed\xa0\x80"]


def seeds() -> list[bytes]:
    secrets_ = [b"A" * 32, bytes(range(32)), bytes(range(100, 132)), b"key-seed" * 4]
    typos = [b"", b"\x00\x05_", b"\x01\x10", b"\x02\x03\xc3\xa9", b"\x03\x24", b"\x04\x20"]
    return (
        [bytes([TEXT]) + _key(secret).encode() for secret in secrets_]
        + [bytes([TEXT]) + b"token: " + _key(secrets_[0]).encode() + b"\n"]
        + [bytes([TEXT]) + b"ngk_" + b"0" * 38, bytes([TEXT])]
        + [bytes([TYPO]) + secret + typo for secret in secrets_ for typo in typos]
        + [bytes([NOT_TEXT]) + _key(secrets_[1]).encode()]
    )


def _key(secret_bytes: bytes) -> str:
    """The valid key whose secret is ``secret_bytes`` mapped onto base62, made by
    ``keys.generate()`` itself so that its checksum code is what is tested."""
    secret = "".join(BASE62[b % 62] for b in secret_bytes[: keys.SECRET_LENGTH].ljust(32, b"0"))
    with mock.patch("secrets.choice", side_effect=list(secret)):
        return keys.generate()


def _checksum_holds(value: str) -> bool:
    # Independent of keys.py: read the last six characters as a base62 number.
    if not re.fullmatch(re.escape(conf.prefix()) + "[0-9A-Za-z]{38}", value):
        return False
    number = 0
    for char in value[-6:]:
        number = number * 62 + BASE62.index(char)
    return number == zlib.crc32(value[:-6].encode("ascii"))


def _typo(value: str, edit: bytes) -> str:
    kind = edit[0] % 6 if edit else 0
    at = edit[1] if len(edit) > 1 else 0
    text = edit[2:].decode("utf-8", "surrogateescape") or "-"
    if kind == 0:  # substitute
        at %= len(value)
        char = text[0] if text[0] != value[at] else ("_" if value[at] != "_" else "x")
        return value[:at] + char + value[at + 1 :]
    if kind == 1:  # delete
        at %= len(value)
        return value[:at] + value[at + 1 :]
    if kind == 2:  # insert
        at %= len(value) + 1
        return value[:at] + text[0] + value[at:]
    if kind == 3:  # swap neighbours; equal ones would change nothing
        at %= len(value) - 1
        if value[at] == value[at + 1]:
            return value + "x"
        return value[:at] + value[at + 1] + value[at] + value[at + 2 :]
    if kind == 4:  # truncate
        return value[: at % len(value)]
    return value + text  # extend


def test_one_input(data: bytes) -> None:
    if not data:
        return
    mode, rest = data[0] % 3, data[1:]
    if mode == TEXT:
        raw = rest.decode("utf-8", "surrogateescape")
        parsed = keys.parse(raw)
        check((parsed is not None) == _checksum_holds(raw), raw)
        for found in re.findall(keys.pattern(), raw):
            keys.parse(found)
    elif mode == TYPO:
        value = _key(rest[:32])
        check(keys.parse(value) is not None, value)
        mutated = _typo(value, rest[32:])
        check(mutated != value)
        check(keys.parse(mutated) is None, (value, mutated))
    else:
        for raw in (rest, bytearray(rest), memoryview(rest), int.from_bytes(rest[:16], "big")):
            check(keys.parse(raw) is None)


if __name__ == "__main__":
    atheris_main(sys.modules[__name__])
