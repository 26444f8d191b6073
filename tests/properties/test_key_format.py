"""Properties of the key format (apikeys/keys.py) over random secrets, prefixes and text.

tests/apikeys/test_keys.py checks the format on a few pinned secrets, exhaustively;
these check it on whatever secrets, typos and surrounding text Hypothesis can find.
Keys are made by ``keys.generate()`` with its draws from ``secrets.choice`` pinned, so
the checksum under test is the module's own. The oracle for the checksum is
independent: it decodes the six check characters and compares them with zlib.
"""

import hashlib
import hmac
import re
import zlib
from unittest import mock

from django.test import override_settings
from hypothesis import assume, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from apikeys import keys

BASE62 = keys.ALPHABET
# The machine is slow and shared: no deadline, and few enough examples that the
# whole folder runs in seconds.
PROPERTY = hypothesis_settings(max_examples=300, deadline=None)

secrets_ = st.text(alphabet=BASE62, min_size=keys.SECRET_LENGTH, max_size=keys.SECRET_LENGTH)
# What conf.prefix() accepts: 2 to 8 lower-case letters or digits, then "_".
prefixes = st.from_regex(r"[a-z][a-z0-9]{1,7}_", fullmatch=True)


def key_from(secret: str, prefix: str = "ngk_") -> str:
    """``keys.generate()`` under ``prefix``, with ``secret`` as its random part."""
    with (
        override_settings(APIKEYS_PREFIX=prefix),
        mock.patch("secrets.choice", side_effect=list(secret[: keys.SECRET_LENGTH])),
    ):
        return keys.generate()


def checksum_holds(value: str, prefix: str = "ngk_") -> bool:
    """Whether ``value`` has the key shape and its last six characters are the CRC32 of
    the rest, read as a base62 number. Written from the format's description, not
    from keys.py, so that the two can disagree."""
    if not re.fullmatch(re.escape(prefix) + "[0-9A-Za-z]{38}", value):
        return False
    body, check = value[:-6], value[-6:]
    number = 0
    for char in check:
        number = number * 62 + BASE62.index(char)
    return number == zlib.crc32(body.encode("ascii"))


# --- Round trip ------------------------------------------------------------------


@PROPERTY
@given(secrets_, prefixes)
def test_generated_keys_parse_back_to_themselves(secret, prefix):
    value = key_from(secret, prefix)
    assert value.startswith(prefix + secret)
    assert len(value) == len(prefix) + 32 + 6
    assert checksum_holds(value, prefix)
    with override_settings(APIKEYS_PREFIX=prefix):
        parsed = keys.parse(value)
        assert parsed is not None
        assert parsed.value == value
        assert parsed.hint == keys.hint(value) == f"{prefix}…{value[-4:]}"
        assert secret not in repr(parsed)
        assert re.fullmatch(keys.pattern(), value)


@PROPERTY
@given(secrets_, prefixes.filter(lambda p: p != "ngk_"))
def test_a_key_is_valid_only_under_its_own_prefix(secret, prefix):
    assert keys.parse(key_from(secret, prefix)) is None
    with override_settings(APIKEYS_PREFIX=prefix):
        assert keys.parse(key_from(secret)) is None


# --- Every single typo is caught -------------------------------------------------


def _substitute(value, data):
    position = data.draw(st.integers(0, len(value) - 1), label="position")
    char = data.draw(st.characters().filter(lambda c: c != value[position]), label="char")
    return value[:position] + char + value[position + 1 :]


def _delete(value, data):
    position = data.draw(st.integers(0, len(value) - 1), label="position")
    return value[:position] + value[position + 1 :]


def _insert(value, data):
    position = data.draw(st.integers(0, len(value)), label="position")
    return value[:position] + data.draw(st.characters(), label="char") + value[position:]


def _transpose(value, data):
    position = data.draw(st.integers(0, len(value) - 2), label="position")
    a, b = value[position], value[position + 1]
    assume(a != b)  # swapping equal characters changes nothing: not a typo
    return value[:position] + b + a + value[position + 2 :]


def _truncate(value, data):
    return value[: data.draw(st.integers(0, len(value) - 1), label="length")]


def _extend(value, data):
    return value + data.draw(st.text(min_size=1, max_size=8), label="tail")


MUTATIONS = [_substitute, _delete, _insert, _transpose, _truncate, _extend]


@PROPERTY
@given(secrets_, st.sampled_from(MUTATIONS), st.data())
def test_any_single_mutation_is_rejected(secret, mutate, data):
    # Why this always holds: a changed body changes its CRC32 (CRC32 detects every
    # error burst of up to 32 bits, so every one- or two-adjacent-character change),
    # the six base62 digits encode the CRC one-to-one, and a changed check no longer
    # matches an unchanged body. Length and shape catch the rest. (A swap across the
    # body/check boundary changes both; it passes only if the new CRC happens to
    # equal the new check, a 1-in-2**32 chance for any one key.)
    value = key_from(secret)
    mutated = mutate(value, data)
    assert mutated != value
    assert keys.parse(mutated) is None


# --- Arbitrary input --------------------------------------------------------------


def _near_keys():
    """Values that get past the cheap checks, so the checksum has to decide."""
    shaped = st.from_regex(r"ngk_[0-9A-Za-z]{38}", fullmatch=True)
    valid = secrets_.map(key_from)
    typo = st.tuples(secrets_, st.sampled_from(MUTATIONS), st.data()).map(
        lambda args: args[1](key_from(args[0]), args[2])
    )
    return shaped | valid | typo


raw_values = (
    st.text()
    | st.text(alphabet=BASE62 + "_", min_size=40, max_size=44)
    | _near_keys()
    | _near_keys().map(lambda value: value.upper())
    | _near_keys().map(lambda value: f" {value}\n")
)


@PROPERTY
@given(raw_values)
def test_arbitrary_text_is_accepted_exactly_when_shape_and_checksum_hold(raw):
    parsed = keys.parse(raw)
    assert (parsed is not None) == checksum_holds(raw)
    if parsed is not None:
        assert parsed.value == raw
        assert re.fullmatch(keys.pattern(), raw)


@PROPERTY
@given(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.binary()
    | _near_keys().map(str.encode)
    | st.lists(_near_keys(), max_size=2)
)
def test_values_that_are_not_strings_are_rejected(raw):
    assert keys.parse(raw) is None


# --- Secret scanning ----------------------------------------------------------------

# Python's \b is Unicode-aware: a separator must be a non-word character in
# Unicode terms, or the key is "glued" to it and rightly not found.
separators = st.text(
    st.characters().filter(lambda c: re.fullmatch(r"\W", c)), min_size=1, max_size=3
)
word_chars = st.characters().filter(lambda c: re.fullmatch(r"\w", c))


def _filler():
    return st.text(max_size=30).filter(lambda text: re.search(keys.pattern(), text) is None)


@PROPERTY
@given(st.lists(st.tuples(_filler(), separators, secrets_, separators), max_size=5), _filler())
def test_pattern_finds_exactly_the_keys_in_surrounding_text(pieces, tail):
    text, embedded = "", []
    for filler, before, secret, after in pieces:
        value = key_from(secret)
        embedded.append(value)
        text += filler + before + value + after
    text += tail
    found = re.findall(keys.pattern(), text)
    assert found == embedded
    assert all(keys.parse(value) is not None for value in found)


@PROPERTY
@given(secrets_, word_chars, st.booleans())
def test_pattern_skips_keys_glued_to_word_characters(secret, glued, before):
    value = key_from(secret)
    text = glued + value if before else value + glued
    assert re.search(keys.pattern(), text) is None


# --- digests --------------------------------------------------------------------


@PROPERTY
@given(
    st.lists(st.binary(min_size=1, max_size=200), min_size=1, max_size=3, unique=True),
    st.text(max_size=80) | secrets_.map(key_from),
)
def test_digests_are_hmac_sha256_under_each_pepper(peppers, value):
    # The standard library's hmac is the oracle; pepper lengths span SHA-256's
    # 64-byte block, beyond which HMAC hashes the key first (RFC 2104).
    with override_settings(APIKEYS_PEPPER=peppers[0], APIKEYS_PEPPER_FALLBACKS=peppers[1:]):
        found = keys.digests(value)
    assert found == [
        hmac.new(pepper, value.encode(), hashlib.sha256).hexdigest() for pepper in peppers
    ]
