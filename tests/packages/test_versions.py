"""NuGet version rules: parsing, normalization, equality and ordering."""

import itertools
import random

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from packages import versions
from packages.versions import NuGetVersion, normalize, parse, sort_key


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        # The reference's table.
        ("1.01", "1.1.0"),
        ("1.0.0.0", "1.0.0"),
        ("1", "1.0.0"),
        ("1.0", "1.0.0"),
        ("1.0.0+build.5", "1.0.0"),
        ("1.0.0.5", "1.0.0.5"),
        # And around it.
        ("1.0.0-Beta", "1.0.0-Beta"),
        ("01.002.0003", "1.2.3"),
        ("1.0.0.0-rc.1", "1.0.0-rc.1"),
        ("1.2.3.4-alpha.1+sha.5114f85", "1.2.3.4-alpha.1"),
        ("0.0.0", "0.0.0"),
        ("1.0.0-0", "1.0.0-0"),
        ("1.0.0--", "1.0.0--"),
        ("1.0.0-a-b.c-d", "1.0.0-a-b.c-d"),
        ("1.0.0-0a", "1.0.0-0a"),  # not a number, so its leading zero is fine
        ("1.0.0+0001", "1.0.0"),  # metadata is not compared: leading zeros allowed
        (f"{2**31 - 1}.0.0", "2147483647.0.0"),
    ],
)
def test_normalize(text, normalized):
    assert normalize(text) == normalized
    assert parse(text).normalized == normalized


def test_parse_keeps_every_part():
    version = parse("1.2.3.4-Beta.2+Build.7")
    assert version == NuGetVersion(1, 2, 3, 4, ("Beta", "2"), "Build.7", "1.2.3.4-Beta.2+Build.7")
    assert (version.major, version.minor, version.patch, version.revision) == (1, 2, 3, 4)
    assert version.release_labels == ("Beta", "2")
    assert version.metadata == "Build.7"
    assert version.original == "1.2.3.4-Beta.2+Build.7"
    assert version.is_prerelease
    assert version.normalized_with_metadata == "1.2.3.4-Beta.2+Build.7"
    assert str(version) == "1.2.3.4-Beta.2"
    assert not parse("1.0.0+meta").is_prerelease
    assert parse("1.0").normalized_with_metadata == "1.0.0"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("1.0.0-Beta", "1.0.0-beta"),
        ("1.0.0-RC.1", "1.0.0-rc.1"),
        ("1.0", "1.0.0"),
        ("1.0.0.0", "1"),
        ("1.01", "1.1.0"),
        ("1.0.0+build.5", "1.0.0+other"),
        ("1.0.0+build.5", "1.0.0"),
    ],
)
def test_equal_versions(a, b):
    va, vb = parse(a), parse(b)
    assert va == vb
    assert hash(va) == hash(vb)
    assert not va < vb and not vb < va
    assert va <= vb and va >= vb
    assert normalize(a).lower() == normalize(b).lower()
    assert len({va, vb}) == 1


ORDERED = [
    "0.9.9",
    "1.0.0-0",
    "1.0.0-2",
    "1.0.0-10",
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "1.0.0.1-alpha",
    "1.0.0.1",
    "1.0.1",
    "1.0.10",
    "1.1",
    "2.0.0-ALPHA",
    "2.0.0-beta",
    "10.0.0",
]


def test_ordering_follows_nuget():
    parsed = [parse(text) for text in ORDERED]
    for lower, higher in itertools.pairwise(parsed):
        assert lower < higher, (lower.original, higher.original)
        assert higher > lower
        assert lower <= higher and higher >= lower
        assert lower != higher
    shuffled = parsed[:]
    random.Random(7).shuffle(shuffled)
    assert [v.original for v in sorted(shuffled)] == ORDERED
    assert [v.original for v in sorted(shuffled, key=sort_key)] == ORDERED


def test_the_reference_ordering():
    chain = "1.0.0-alpha < 1.0.0-alpha.1 < 1.0.0-alpha.beta < 1.0.0-beta < 1.0.0-beta.2 < "
    chain += "1.0.0-beta.11 < 1.0.0-rc.1 < 1.0.0 < 1.0.0.1 < 1.0.1"
    texts = chain.split(" < ")
    assert sorted(texts, key=lambda text: sort_key(parse(text))) == texts


def test_comparing_with_other_types():
    version = parse("1.0.0")
    assert version != "1.0.0"
    assert (version == "1.0.0") is False
    with pytest.raises(TypeError):
        _ = version < "1.0.0"


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        " 1.0.0",
        "1.0.0 ",
        "1.0.0\n",
        "1. 0",
        "v1.0.0",
        "V1",
        "-1.0.0",
        "1.-1.0",
        "1.0.0.0.0",
        "1..0",
        ".1",
        "1.",
        "1.0.0-",
        "1.0.0+",
        "1.0.0-beta.",
        "1.0.0-.beta",
        "1.0.0-beta..1",
        "1.0.0+a..b",
        "1.0.0-beta_1",
        "1.0.0-beta+",
        "1.0.0-béta",
        "1.0.0-01",  # numeric identifiers may not have leading zeros
        "1.0.0-beta.007",
        "1.0.0+meta+more",
        "1_0.0",  # int() would accept this
        "\u0661.\u0660.\u0660",  # Arabic-Indic digits: str.isdigit() would accept these
        "1.0.0\x00",
        "a.b.c",
        "1.0.0-beta" + "a" * 60,  # over 64 characters
        f"{2**31}.0.0",  # over Int32
        "1.0.0." + "9" * 20,
        "*",
        "1.*",
        "[1.0,2.0)",
    ],
)
def test_rejections(text):
    assert parse(text) is None
    assert normalize(text) is None


@pytest.mark.parametrize("value", [None, 1, 1.0, b"1.0.0", ["1.0.0"], object()])
def test_non_strings_are_not_versions(value):
    assert parse(value) is None
    assert normalize(value) is None


def test_length_limit_is_inclusive():
    longest = "1.0.0-" + "a" * (versions.MAX_LENGTH - 6)
    assert len(longest) == versions.MAX_LENGTH
    assert parse(longest) is not None
    assert parse(longest + "b") is None


# --- Properties ------------------------------------------------------------

_identifier = st.one_of(
    st.integers(min_value=0, max_value=10**6).map(str),
    st.text("abcXYZ-019", min_size=1, max_size=5),
)
_version_text = st.builds(
    lambda numbers, labels, metadata: (
        ".".join(numbers)
        + ("-" + ".".join(labels) if labels else "")
        + ("+" + ".".join(metadata) if metadata else "")
    ),
    st.lists(st.text("0123456789", min_size=1, max_size=4), min_size=1, max_size=4),
    st.lists(_identifier, max_size=3),
    st.lists(st.text("abc019-", min_size=1, max_size=4), max_size=2),
)


@given(_version_text)
def test_normalize_is_idempotent(text):
    normalized = normalize(text)
    if normalized is None:
        return
    assert normalize(normalized) == normalized
    assert parse(normalized) == parse(text)


@given(_version_text)
def test_case_does_not_matter(text):
    upper, lower = parse(text.upper()), parse(text.lower())
    assert upper == lower
    if upper is not None:
        assert hash(upper) == hash(lower)
        assert upper.normalized.lower() == lower.normalized.lower()


@given(_version_text, _version_text)
def test_equal_exactly_when_normalized_forms_agree(a, b):
    va, vb = parse(a), parse(b)
    if va is None or vb is None:
        return
    assert (va == vb) == (va.normalized.lower() == vb.normalized.lower())
    # A total order: exactly one of <, ==, > holds.
    assert [va < vb, va == vb, va > vb].count(True) == 1


@given(st.text(max_size=80))
def test_parse_never_raises(text):
    version = parse(text)
    assert version is None or isinstance(version, NuGetVersion)


@given(st.text(alphabet="0123456789.-+aZ", max_size=70))
def test_parse_never_raises_on_near_versions(text):
    version = parse(text)
    if version is not None:
        assert parse(version.normalized) == version


@pytest.mark.parametrize(
    ("text", "semver2"),
    [
        ("1.0.0", False),
        ("1.0.0-beta", False),
        ("1.0.0-beta-2", False),
        ("1.0.0.5-rc", False),
        ("1.0.0-beta.1", True),
        ("1.0.0+build", True),
        ("1.0.0-beta+build", True),
        ("1.0.0-a.b.c", True),
    ],
)
def test_semver2_is_a_dotted_label_or_build_metadata(text, semver2):
    assert parse(text).is_semver2 is semver2


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("1.0", "[1.0.0, )"),
        ("", "(, )"),
        ("  ", "(, )"),
        ("[1.0,2.0)", "[1.0.0, 2.0.0)"),
        ("[1.0, )", "[1.0.0, )"),
        ("(,2.0]", "(, 2.0.0]"),
        ("[1.0]", "[1.0.0]"),
        ("[1.0.0-beta.1 , 2]", "[1.0.0-beta.1, 2.0.0]"),
        ("[x,2)", "[x,2)"),
        ("nonsense", "nonsense"),
    ],
)
def test_dependency_ranges_are_written_as_nuget_normalizes_them(text, normalized):
    assert versions.range_text(text) == normalized


@given(
    st.lists(
        st.from_regex(
            r"[0-9]{1,3}(\.[0-9]{1,3}){0,3}(-[0-9A-Za-z-]{1,4}(\.[0-9A-Za-z]{1,3}){0,2})?",
            fullmatch=True,
        ),
        max_size=20,
    )
)
def test_the_stored_form_sorts_as_the_parsed_versions_do(texts):
    parsed = [v for v in map(parse, texts) if v is not None]
    normalized = [v.normalized for v in parsed]
    assert [versions.normalized_sort_key(t) for t in normalized] == [sort_key(v) for v in parsed]


# Versions built from parts, so that the edges come up: the largest numbers, numeric
# labels longer than any Int32, hyphens (they sort before digits), upper case, and
# words that start other words. Few values, so that two versions often share parts.
_numbers = st.lists(st.sampled_from([0, 1, 2, 10, versions.MAX_PART]), min_size=1, max_size=4)
_numeric_label = st.sampled_from([0, 1, 2, 9, 10, 11, 2**31, 10**40]).map(str)
_word_label = st.text(alphabet="-09aAbz", min_size=1, max_size=3).filter(
    lambda label: not label.isdigit()
)
_labels = st.lists(_numeric_label | _word_label, max_size=4)


def _version(numbers: list[int], labels: list[str]) -> NuGetVersion:
    text = ".".join(map(str, numbers)) + ("-" + ".".join(labels) if labels else "")
    assume(len(text) <= versions.MAX_LENGTH)
    version = parse(text)
    assert version is not None, text
    return version


@st.composite
def _versions(draw):
    return _version(draw(_numbers), draw(_labels))


def _compare(a, b) -> int:
    return (a > b) - (a < b)


@given(_numbers, _labels, _labels)
@settings(max_examples=1_000)
@example([1], ["a"], ["ab"])  # a word before every longer word it starts
@example([1], ["a", "z"], ["ab"])
@example([1], ["-"], ["0a"])  # a hyphen before a digit
@example([1], ["9"], ["10"])  # numbers by value
@example([1], ["10"], ["a"])  # numbers before words
@example([1], ["rc"], ["RC"])  # case ignored
@example([1], ["a"], ["a", "0"])  # fewer labels first
@example([1], [], ["a"])  # a release after its prereleases
def test_the_stored_sort_string_orders_exactly_as_nuget(numbers, labels_a, labels_b):
    # The same numbers: the labels decide, where the encoding has most to get right.
    a, b = _version(numbers, labels_a), _version(numbers, labels_b)
    stored_a, stored_b = (versions.sort_string(v.normalized) for v in (a, b))
    assert _compare(stored_a, stored_b) == _compare(sort_key(a), sort_key(b))


@given(_versions(), _versions())
def test_the_stored_sort_string_orders_any_two_versions_as_nuget(a, b):
    stored_a, stored_b = (versions.sort_string(v.normalized) for v in (a, b))
    assert _compare(stored_a, stored_b) == _compare(sort_key(a), sort_key(b))


@given(st.lists(_versions(), max_size=30))
def test_a_list_sorted_by_the_stored_string_is_in_nuget_order(found):
    by_string = sorted(found, key=lambda v: versions.sort_string(v.normalized))
    assert [sort_key(v) for v in by_string] == sorted(sort_key(v) for v in found)


@given(_versions())
def test_the_stored_string_is_digits_only_so_any_collation_sorts_it_alike(version):
    text = versions.sort_string(version.normalized)
    assert text.isascii() and text.isdigit()


@pytest.mark.parametrize(
    "text",
    [
        f"{versions.MAX_PART}.{versions.MAX_PART}.{versions.MAX_PART}.{versions.MAX_PART}",
        "1-" + ".".join("a" * 31),  # the most labels a version may have
        "1-" + "z" * 62,
        "1-" + "9" * 62,
        "1-" + ".".join("1" * 31),
    ],
)
def test_the_longest_versions_fit_the_stored_string(text):
    assert parse(text) is not None
    assert len(versions.sort_string(parse(text).normalized)) <= versions.SORT_STRING_MAX_LENGTH
