"""Properties of package globs (apikeys/scopes.py) against a reference matcher.

scopes.globs_to_regex compiles globs with fnmatch.translate, "?" and "[" kept
literal; the reference below is the textbook dynamic program, slow and obviously
right. tests/apikeys/test_scopes.py compares every short glob over a tiny alphabet
with fnmatch; here Hypothesis looks for longer disagreements, regex metacharacters
included.
"""

import re
import string

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from apikeys import scopes
from apikeys.scopes import Grant

PROPERTY = hypothesis_settings(max_examples=300, deadline=None)

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def ascii_lower(text: str) -> str:
    # Globs fold ASCII case only: "K" (U+212A KELVIN SIGN) is not "k".
    return text.translate(_ASCII_LOWER)


def reference_match(glob: str, package_id: str) -> bool:
    """Does ``glob`` match all of ``package_id``? "*" matches any run, every other
    character itself, ASCII case ignored."""
    glob, package_id = ascii_lower(glob), ascii_lower(package_id)
    # matches[j]: does the glob so far match package_id[:j]?
    matches = [True] + [False] * len(package_id)
    for g in glob:
        if g == "*":
            for j in range(1, len(matches)):
                matches[j] = matches[j] or matches[j - 1]
        else:
            matches = [False] + [matches[j] and package_id[j] == g for j in range(len(package_id))]
    return matches[-1]


def test_the_reference_is_right_on_hand_picked_cases():
    assert reference_match("*", "")
    assert reference_match("a*b*c", "aXbYbc")
    assert reference_match("A.*", "a.B")
    assert not reference_match("a*b", "ba")
    assert not reference_match("k", "\u212a")


# A few letters in both cases so that pieces repeat and overlap (where a greedy
# or backtracking matcher goes wrong), the ID punctuation, and in globs the
# regex syntax that must stay literal even when no validator ran first.
glob_alphabet = "aAbB.-_*"
hostile_glob_alphabet = glob_alphabet + "?[]()+|\\^${}"
id_alphabet = "aAbB.-_"
# Also what IDs never hold but glob_matches must still answer sanely for.
odd_id_alphabet = id_alphabet + "kK\u212a\n?[]\\$"
# Non-ASCII characters that Unicode case folding equates with an ASCII letter.
LOOK_ALIKES = {"k": "\u212a", "s": "\u017f", "i": "\u0130"}

globs = st.text(glob_alphabet, min_size=1, max_size=14)
hostile_globs = st.text(hostile_glob_alphabet, min_size=1, max_size=14)
package_ids = st.text(id_alphabet, max_size=18)
odd_package_ids = st.text(odd_id_alphabet, max_size=18)


def glob_of(package_id: str, data) -> str:
    """A glob that matches ``package_id``: the ID with random runs replaced by "*"."""
    glob, at = "", 0
    while at < len(package_id):
        run = data.draw(st.integers(1, 4))
        glob += "*" if data.draw(st.booleans()) else package_id[at : at + run]
        at += run
    return glob or "*"


def near_glob(package_id: str, data) -> str:
    """A glob cut from ``package_id``, then perhaps spoiled by one random edit, so
    that about half of them match: random globs and IDs almost never do."""
    glob = glob_of(package_id, data)
    edit = data.draw(st.sampled_from(["none", "insert", "delete", "replace"]))
    if edit == "none":
        return glob
    at = data.draw(st.integers(0, len(glob) - (edit != "insert")))
    char = data.draw(st.sampled_from(hostile_glob_alphabet))
    if edit == "insert":
        return glob[:at] + char + glob[at:]
    return (glob[:at] + (char if edit == "replace" else "") + glob[at + 1 :]) or "*"


@PROPERTY
@given(globs | hostile_globs, package_ids | odd_package_ids)
def test_glob_matches_agrees_with_the_reference(glob, package_id):
    assert scopes.glob_matches(glob, package_id) == reference_match(glob, package_id)


@PROPERTY
@given(package_ids | odd_package_ids, st.data())
def test_near_globs_agree_with_the_reference(package_id, data):
    glob = near_glob(package_id, data)
    assert scopes.glob_matches(glob, package_id) == reference_match(glob, package_id)


@PROPERTY
@given(package_ids.filter(bool), st.data())
def test_globs_cut_from_an_id_match_it_in_any_case(package_id, data):
    glob = glob_of(package_id, data)
    assert reference_match(glob, package_id)
    assert scopes.glob_matches(glob, package_id)
    assert scopes.glob_matches(glob.swapcase(), package_id)
    assert scopes.glob_matches(glob, package_id.upper())
    longer = package_id + data.draw(st.text(id_alphabet, min_size=1, max_size=3))
    assert scopes.glob_matches(glob, longer) == reference_match(glob, longer)


@PROPERTY
@given(st.text("kKsSiI.-", min_size=1, max_size=10), st.data())
def test_unicode_look_alikes_never_match_ascii_letters(package_id, data):
    glob = glob_of(package_id, data)
    spoofed = "".join(LOOK_ALIKES.get(c.lower(), c) for c in package_id)
    assert scopes.glob_matches(glob, spoofed) == reference_match(glob, spoofed)
    if spoofed != package_id:
        assert not scopes.glob_matches(package_id, spoofed)


@PROPERTY
@given(
    st.lists(package_ids.filter(bool), max_size=3),
    st.lists(globs | hostile_globs, max_size=3),
    package_ids,
    st.data(),
)
def test_grant_covers_agrees_with_the_reference(picked, grant_globs, package_id, data):
    # All of a grant's globs are one regex (alternatives): each must still match
    # whole, and none may leak syntax into its neighbours.
    # ASCII IDs only, as every real package ID is: picked IDs fold case with
    # str.lower and globs with ASCII rules, which differ only outside ASCII.
    if package_id and data.draw(st.booleans()):
        picked.append(package_id.swapcase())
    if data.draw(st.booleans()):
        grant_globs.append(near_glob(package_id, data))
    grant = Grant.of(package_ids=picked, globs=grant_globs)
    expected = any(ascii_lower(p) == ascii_lower(package_id) for p in picked) or any(
        reference_match(glob, package_id) for glob in grant_globs
    )
    assert grant.covers(package_id) == expected
    assert grant.covers(package_id.swapcase()) == expected


# --- parse_globs ------------------------------------------------------------------

# Lines of mostly valid globs, with the blanks, padding, case repeats and stray
# characters a textarea brings; "\x0b", "\x1c" and "\u2028" also end a line for
# str.splitlines.
_line_chars = glob_alphabet + "xyz019 \t\u00a0\u3000"
_line_breaks = st.sampled_from(["\n", "\r\n", "\r", "\x0b", "\x1c", "\u2028"])
glob_texts = st.lists(
    st.tuples(
        st.text(_line_chars, max_size=12) | st.sampled_from(["*", "A.*", "a.*"]), _line_breaks
    ),
    max_size=14,
).map(lambda lines: "".join(line + end for line, end in lines))


def _parse_or_none(text):
    try:
        return scopes.parse_globs(text)
    except ValidationError:
        return None


@PROPERTY
@given(glob_texts | st.text(max_size=60))
def test_parse_globs_output_is_valid_and_parses_to_itself(text):
    parsed = _parse_or_none(text)
    if parsed is None:
        return
    for glob in parsed:
        scopes.validate_glob(glob)
    lowered = [glob.lower() for glob in parsed]
    assert len(set(lowered)) == len(lowered)
    # Every line that survives is one of the input's lines, stripped, in order.
    lines = [line.strip() for line in text.splitlines()]
    assert [lines.index(glob) for glob in parsed] == sorted(lines.index(glob) for glob in parsed)
    assert scopes.parse_globs("\n".join(parsed)) == parsed
    assert scopes.parse_globs("\r\n".join(f"  {glob} " for glob in parsed)) == parsed


@PROPERTY
@given(glob_texts)
def test_parse_globs_accepts_exactly_when_every_line_is_valid(text):
    first_spellings: dict[str, str] = {}
    for line in text.splitlines():
        if line.strip():
            first_spellings.setdefault(line.strip().lower(), line.strip())
    unique = list(first_spellings.values())
    # However many: the count is grant_errors's to check.
    expected_ok = all(re.fullmatch(r"[A-Za-z0-9_.*-]{1,256}", glob) for glob in unique)
    if expected_ok:
        assert scopes.parse_globs(text) == unique
    else:
        with pytest.raises(ValidationError):
            scopes.parse_globs(text)
