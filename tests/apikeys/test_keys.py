"""The key format: generate, parse, digest, hint, pattern, and the settings behind them."""

import hashlib
import hmac
import random
import re
from unittest import mock

import pytest
from django.core.exceptions import ImproperlyConfigured

from apikeys import conf, keys

BASE62 = keys.ALPHABET
KEY_LENGTH = len("ngk_") + 32 + 6


def pinned_tokens():
    """Fixed secrets, so that the exhaustive mutation tests are deterministic."""
    rng = random.Random(20240601)
    yield "A" * 32
    yield "0123456789ABCDEFGHIJabcdefghijzZ"
    for _ in range(3):
        yield "".join(rng.choice(BASE62) for _ in range(32))


def key_with_secret(secret):
    """``keys.generate()`` with ``secret`` as its random part: the draws from ``secrets``,
    where randomness enters, pinned for the one call."""
    with mock.patch("secrets.choice", side_effect=list(secret)):
        return keys.generate()


@pytest.fixture(params=list(pinned_tokens()))
def pinned_key(request):
    return key_with_secret(request.param)


# --- generate / parse ----------------------------------------------------------


def test_generated_keys_parse_back_to_themselves():
    for _ in range(200):
        value = keys.generate()
        parsed = keys.parse(value)
        assert parsed is not None
        assert parsed.value == value


def test_generated_keys_have_the_documented_shape():
    values = {keys.generate() for _ in range(200)}
    assert len(values) == 200
    for value in values:
        assert len(value) == KEY_LENGTH
        assert value.startswith("ngk_")
        assert re.fullmatch(r"[A-Za-z0-9_]+", value)
        assert re.fullmatch(r"ngk_[0-9A-Za-z]{38}", value)


def test_secrets_draw_from_the_base62_alphabet():
    drawn = "".join(keys.generate()[len("ngk_") : -6] for _ in range(200))
    assert len(drawn) == 200 * keys.SECRET_LENGTH
    assert set(drawn) == set(BASE62)  # 6,400 draws from 62 symbols: all of them turn up


def test_pinned_randomness_gives_a_known_value():
    # A golden value: if it changes, every issued key stops parsing.
    assert key_with_secret("A" * 32) == "ngk_" + "A" * 32 + "2uAuyE"


@pytest.mark.parametrize("replacement", ["0", "9", "A", "Z", "a", "z", "_", "-"])
def test_every_single_character_substitution_is_rejected(pinned_key, replacement):
    for position, original in enumerate(pinned_key):
        if original == replacement:
            continue
        mutated = pinned_key[:position] + replacement + pinned_key[position + 1 :]
        assert keys.parse(mutated) is None, (position, replacement)


def test_every_neighbouring_base62_substitution_is_rejected(pinned_key):
    # The likeliest typos: one character off by one in the alphabet.
    for position, original in enumerate(pinned_key):
        if original not in BASE62:
            continue
        index = BASE62.index(original)
        for other in {BASE62[index - 1], BASE62[(index + 1) % len(BASE62)]}:
            mutated = pinned_key[:position] + other + pinned_key[position + 1 :]
            assert keys.parse(mutated) is None, (position, other)


def test_every_deletion_is_rejected(pinned_key):
    for position in range(len(pinned_key)):
        assert keys.parse(pinned_key[:position] + pinned_key[position + 1 :]) is None


@pytest.mark.parametrize("inserted", ["0", "Q", "q", "_"])
def test_every_insertion_is_rejected(pinned_key, inserted):
    for position in range(len(pinned_key) + 1):
        assert keys.parse(pinned_key[:position] + inserted + pinned_key[position:]) is None


def test_every_adjacent_transposition_is_rejected(pinned_key):
    for position in range(len(pinned_key) - 1):
        a, b = pinned_key[position], pinned_key[position + 1]
        if a == b:
            continue
        mutated = pinned_key[:position] + b + a + pinned_key[position + 2 :]
        assert keys.parse(mutated) is None, position


def test_a_key_made_under_another_prefix_is_rejected(settings):
    settings.APIKEYS_PREFIX = "abc_"
    other = keys.generate()
    assert keys.parse(other) is not None
    settings.APIKEYS_PREFIX = "ngk_"
    assert keys.parse(other) is None
    # Same length as ours, well-formed for GitHub, still not ours.
    assert keys.parse("ghp_" + other[4:] + "xy") is None


@pytest.mark.parametrize(
    "raw",
    [None, 42, 4.2, b"ngk_", ["ngk_"], object()],
    ids=["none", "int", "float", "bytes", "list", "object"],
)
def test_non_strings_are_rejected(raw):
    assert keys.parse(raw) is None


def test_bytes_of_a_valid_key_are_rejected():
    value = keys.generate()
    assert keys.parse(value.encode()) is None
    assert keys.parse(bytearray(value.encode())) is None


@pytest.mark.parametrize("wrap", [" {}", "{} ", "{}\n", "\t{}", "\ufeff{}", "{}\r\n"])
def test_surrounding_whitespace_is_not_stripped(wrap):
    value = keys.generate()
    assert keys.parse(wrap.format(value)) is None


@pytest.mark.parametrize(
    "raw", ["", "ngk_", "ngk_" + "A" * 38 + "\n", "ngk_" + "Ä" * 38, "ngk_" + "A" * 10_000]
)
def test_malformed_values_are_rejected(raw):
    assert keys.parse(raw) is None


def test_parsing_makes_no_database_query(db, django_assert_num_queries):
    value = keys.generate()
    with django_assert_num_queries(0):
        assert keys.parse(value[:-1] + ("A" if value[-1] != "A" else "B")) is None
        assert keys.parse("not a key") is None
        assert keys.parse(value) is not None


def test_parsed_key_repr_does_not_show_the_value():
    value = keys.generate()
    parsed = keys.parse(value)
    for text in (repr(parsed), str(parsed), f"{parsed!r}"):
        assert value not in text
        assert value[4:36] not in text


def test_parsed_keys_compare_by_value_and_are_frozen():
    value = keys.generate()
    assert keys.parse(value) == keys.parse(value)
    with pytest.raises(AttributeError):
        keys.parse(value).value = "x"


# --- digest / digests / peppers -------------------------------------------------


def test_digest_is_hmac_sha256_hex():
    value = keys.generate()
    expected = hmac.new(b"pepper", value.encode(), hashlib.sha256).hexdigest()
    assert keys.digest(value, b"pepper") == expected
    assert re.fullmatch(r"[0-9a-f]{64}", expected)


@pytest.mark.parametrize("length", [1, 32, 63, 64, 65, 128, 200])
def test_digests_match_hmac_whatever_the_pepper_length(settings, length):
    # Either side of SHA-256's 64-byte block, where HMAC pads or hashes the key.
    pepper = bytes(range(256))[:length]
    settings.APIKEYS_PEPPER = pepper
    settings.APIKEYS_PEPPER_FALLBACKS = []
    value = keys.generate()
    assert keys.digests(value) == [hmac.new(pepper, value.encode(), hashlib.sha256).hexdigest()]


def test_digest_differs_per_pepper_and_per_key():
    a, b = keys.generate(), keys.generate()
    assert keys.digest(a, b"one") != keys.digest(a, b"two")
    assert keys.digest(a, b"one") != keys.digest(b, b"one")
    assert keys.digest(a, b"one") == keys.digest(a, b"one")


def test_digests_use_configured_peppers_current_first(settings):
    settings.APIKEYS_PEPPER = "new"
    settings.APIKEYS_PEPPER_FALLBACKS = ["old", "older"]
    value = keys.generate()
    assert keys.digests(value) == [
        keys.digest(value, b"new"),
        keys.digest(value, b"old"),
        keys.digest(value, b"older"),
    ]


def derived(secret_key):
    return hmac.new(secret_key.encode(), b"portal.apikeys.pepper", hashlib.sha256).digest()


def test_peppers_are_derived_from_secret_key_and_its_fallbacks(settings):
    settings.APIKEYS_PEPPER = None
    settings.APIKEYS_PEPPER_FALLBACKS = None
    settings.SECRET_KEY = "current-secret-key"
    settings.SECRET_KEY_FALLBACKS = ["previous-secret-key"]
    assert conf.peppers() == [derived("current-secret-key"), derived("previous-secret-key")]
    assert b"current-secret-key" not in conf.peppers()

    value = keys.generate()
    assert keys.digests(value) == [
        keys.digest(value, derived("current-secret-key")),
        keys.digest(value, derived("previous-secret-key")),
    ]


def test_an_explicit_pepper_keeps_the_secret_key_fallbacks(settings):
    settings.APIKEYS_PEPPER = "explicit"
    settings.APIKEYS_PEPPER_FALLBACKS = None
    settings.SECRET_KEY_FALLBACKS = ["previous-secret-key"]
    assert conf.peppers() == [b"explicit", derived("previous-secret-key")]


def test_an_empty_pepper_counts_as_unset_and_repeats_are_dropped(settings):
    settings.APIKEYS_PEPPER = ""
    settings.APIKEYS_PEPPER_FALLBACKS = ["same", "", "same"]
    settings.SECRET_KEY = "current-secret-key"
    assert conf.peppers() == [derived("current-secret-key"), b"same"]


def test_changing_the_pepper_changes_the_digest(settings):
    value = keys.generate()
    settings.APIKEYS_PEPPER = "one"
    first = keys.digests(value)[0]
    settings.APIKEYS_PEPPER = "two"
    assert keys.digests(value)[0] != first


# --- hint / pattern -------------------------------------------------------------


def test_hint_shows_the_prefix_and_last_four_characters():
    value = keys.generate()
    assert keys.hint(value) == "ngk_…" + value[-4:]
    assert keys.parse(value).hint == keys.hint(value)
    assert value[4:36] not in keys.hint(value)


def test_pattern_matches_generated_keys():
    assert keys.pattern() == r"\bngk_[0-9A-Za-z]{38}\b"
    for _ in range(50):
        value = keys.generate()
        assert re.fullmatch(keys.pattern(), value)


def test_pattern_finds_keys_inside_text():
    first, second = keys.generate(), keys.generate()
    text = f"oops, pushed with {first}, and then\nKEY={second} again"
    assert re.findall(keys.pattern(), text) == [first, second]


def test_pattern_ignores_keys_glued_to_other_word_characters():
    value = keys.generate()
    assert re.search(keys.pattern(), "x" + value) is None
    assert re.search(keys.pattern(), value + "x") is None
    assert re.search(keys.pattern(), value[:-1]) is None


def test_pattern_follows_the_prefix_setting(settings):
    settings.APIKEYS_PREFIX = "acme1_"
    value = keys.generate()
    assert value.startswith("acme1_")
    assert re.fullmatch(keys.pattern(), value)
    assert keys.hint(value).startswith("acme1_…")


def test_short_lived_keys_carry_their_own_prefix_that_scanners_tell_apart():
    minted, long_lived = keys.generate(short_lived=True), keys.generate()
    assert re.fullmatch(r"ngkt_[0-9A-Za-z]{38}", minted)
    assert keys.parse(minted).value == minted
    assert keys.hint(minted) == "ngkt_…" + minted[-4:]
    assert keys.pattern(short_lived=True) == r"\bngkt_[0-9A-Za-z]{38}\b"
    text = f"LONG={long_lived}\nCI={minted}\n"
    assert re.findall(keys.pattern(), text) == [long_lived]
    assert re.findall(keys.pattern(short_lived=True), text) == [minted]


def test_a_short_lived_key_with_a_wrong_checksum_or_prefix_does_not_parse(settings):
    minted = keys.generate(short_lived=True)
    assert keys.parse(minted[:-1] + ("A" if minted[-1] != "A" else "B")) is None
    # The checksum covers the prefix: swapping a minted key's prefix breaks it.
    assert keys.parse("ngk_" + minted[len("ngkt_") :]) is None
    settings.APIKEYS_PREFIX = "acme1_"
    moved = keys.generate(short_lived=True)
    assert moved.startswith("acme1t_") and keys.parse(moved) is not None
    assert keys.parse(minted) is None


# --- conf -------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["ab_", "ngk_", "abcdefgh_", "a1_"])
def test_valid_prefixes_are_accepted(settings, prefix):
    settings.APIKEYS_PREFIX = prefix
    value = keys.generate()
    assert keys.parse(value) is not None
    assert len(value) == len(prefix) + 38


def test_an_unset_prefix_is_the_default(settings):
    # portal/settings.py defines APIKEYS_PREFIX as None when the variable is unset.
    settings.APIKEYS_PREFIX = None
    assert conf.prefix() == "ngk_"
    assert keys.generate().startswith("ngk_")


@pytest.mark.parametrize(
    "prefix",
    ["", "ngk", "NGK_", "Ngk_", "1ab_", "a_", "abcdefghi_", "ng-k_", "ng_k_", "ngk_\n", 5],
)
def test_invalid_prefixes_are_a_configuration_error(settings, prefix):
    settings.APIKEYS_PREFIX = prefix
    with pytest.raises(ImproperlyConfigured, match="APIKEYS_PREFIX"):
        conf.prefix()
    with pytest.raises(ImproperlyConfigured):
        keys.generate()
    with pytest.raises(ImproperlyConfigured):
        keys.parse("ngk_" + "A" * 38)


def test_limits_have_defaults_and_follow_settings(settings):
    for name in ("APIKEYS_MAX_EXPIRATION_DAYS", "APIKEYS_MAX_GLOBS"):
        if hasattr(settings, name):
            delattr(settings, name)
    assert conf.max_expiration_days() == 365
    assert conf.max_globs() == 10
    settings.APIKEYS_MAX_EXPIRATION_DAYS = 30
    settings.APIKEYS_MAX_GLOBS = 3
    assert conf.max_expiration_days() == 30
    assert conf.max_globs() == 3


@pytest.mark.parametrize("value", [0, -1, "10", True, 1.5])
def test_limits_must_be_positive_integers(settings, value):
    settings.APIKEYS_MAX_GLOBS = value
    with pytest.raises(ImproperlyConfigured, match="APIKEYS_MAX_GLOBS"):
        conf.max_globs()
