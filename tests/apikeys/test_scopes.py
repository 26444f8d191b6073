"""Actions, glob rules and Grant.allows, checked against the nuget.org semantics."""

import fnmatch
import itertools
import time

import pytest
from django.core.exceptions import ValidationError

from apikeys import scopes
from apikeys.models import ApiKey
from apikeys.scopes import ALLOWED, Action, Allowed, Denied, Grant

# --- Actions ----------------------------------------------------------------------


def test_actions_use_the_nuget_org_names_and_labels():
    assert Action.choices == [
        ("package:push", "Push new packages and package versions"),
        ("package:pushversion", "Push only new package versions"),
        ("package:unlist", "Unlist or relist package versions"),
        # Not a nuget.org scope: reading private feeds.
        ("package:read", "Download packages"),
    ]


# --- Glob matching ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("glob", "package_id", "expected"),
    [
        ("*", "Anything", True),
        ("*", "A", True),
        ("*", "Contoso.Utils-1_2", True),
        ("Contoso*", "Contoso", True),
        ("Contoso*", "Contoso.Utils", True),
        ("Contoso*", "ContosoLib", True),
        ("Contoso*", "MyContoso", False),
        ("Contoso*", "Contos", False),
        ("Microsoft.*.Abstract", "Microsoft.Configuration.Abstract", True),
        ("Microsoft.*.Abstract", "Microsoft.A.B.Abstract", True),
        ("Microsoft.*.Abstract", "Microsoft..Abstract", True),
        ("Microsoft.*.Abstract", "Microsoft.Configuration.Abstractions", False),
        ("Microsoft.*.Abstract", "Microsoft.Abstract", False),
        ("Microsoft.*.Abstract", "MicrosoftX.Configuration.Abstract", False),
        ("contoso*", "CONTOSO.Utils", True),
        ("CONTOSO.UTILS", "contoso.utils", True),
        ("Contoso.Utils", "Contoso.Utils", True),
        ("A.B", "A.B", True),
        ("A.B", "AxB", False),
        ("A.B", "A-B", False),
        ("A-B", "A-B", True),
        ("A_B", "A_B", True),
        ("Utils", "Contoso.Utils", False),
        ("Utils", "Utils.Extra", False),
        ("Contoso", "Contoso.Utils", False),
        ("*Utils", "Contoso.Utils", True),
        ("*Utils", "Contoso.Utils.Extra", False),
        ("*.*", "A.B", True),
        ("*.*", "Contoso.Utils.Extra", True),
        ("*.*", "ContosoUtils", False),
        ("*.*", ".", True),
        ("a*b*c", "abc", True),
        ("a*b*c", "aXbYc", True),
        ("a*b*c", "abcbc", True),
        ("a*b*c", "acb", False),
        ("ab*ba", "aba", False),
        ("ab*ba", "abba", True),
        ("**", "", True),
        ("Contoso**Utils", "Contoso.Utils", True),
        ("k*", "\u212a", False),  # Kelvin sign: no Unicode case folding
        ("s*", "\u017f", False),  # long s
    ],
)
def test_glob_matching_table(glob, package_id, expected):
    assert scopes.glob_matches(glob, package_id) is expected


def test_glob_regex_is_cached_and_case_insensitive():
    assert scopes.globs_to_regex(("Contoso*",)) is scopes.globs_to_regex(("Contoso*",))
    assert scopes.globs_to_regex(("Contoso*",)).fullmatch("CONTOSO.X")


def test_glob_regex_treats_other_regex_syntax_literally():
    # Invalid globs never get this far, but the regex must not depend on that.
    assert scopes.glob_matches("a+b", "a+b")
    assert not scopes.glob_matches("a+b", "aab")
    assert not scopes.glob_matches("(a|b)", "a")


def test_globs_agree_with_fnmatch_on_lower_cased_inputs():
    # fnmatch with only "*" has the semantics we promise; check every short glob
    # over a small alphabet against every short ID over an overlapping one.
    globs = ["".join(chars) for n in range(1, 5) for chars in itertools.product("aB.*", repeat=n)]
    ids = [""] + [
        "".join(chars) for n in range(1, 5) for chars in itertools.product("Ab.-1", repeat=n)
    ]
    mismatches = [
        (glob, package_id)
        for glob in globs
        for package_id in ids
        if scopes.glob_matches(glob, package_id)
        != fnmatch.fnmatchcase(package_id.lower(), glob.lower())
    ]
    assert mismatches == []


def test_a_hostile_glob_does_not_backtrack_for_ever():
    # With plain ".*" pieces this takes longer than the universe is old.
    glob = "*a" * 120 + "*b"
    started = time.perf_counter()
    assert not scopes.glob_matches(glob, "a" * 100)
    assert not scopes.glob_matches(glob, "a" * 100 + "c")
    # A grant joins its globs into one regex: the same holds for each alternative.
    grant = Grant.of(globs=["Contoso.*", glob, glob.replace("b", "c")])
    assert not grant.covers("a" * 100)
    assert grant.covers("contoso." + "a" * 100)
    assert time.perf_counter() - started < 1.0


# --- Glob validation -----------------------------------------------------------


@pytest.mark.parametrize(
    "glob",
    ["*", "Contoso*", "Microsoft.*.Abstract", "My_Pkg-1.*", "A", "a" * 256, "*" * 256],
)
def test_valid_globs_pass(glob):
    assert scopes.validate_glob(glob) is None


@pytest.mark.parametrize(
    ("glob", "code"),
    [
        ("", "required"),
        (None, "required"),
        ("a" * 257, "max_length"),
        (" ", "invalid"),
        ("Contoso Utils", "invalid"),
        (" Contoso", "invalid"),
        ("Contoso?", "invalid"),
        ("Contoso[ab]", "invalid"),
        ("Contoso]", "invalid"),
        ("Contoso/Utils", "invalid"),
        ("Contoso\\Utils", "invalid"),
        ("Contoso,Utils", "invalid"),
        ("Contoso\n", "invalid"),
        ("Contosö", "invalid"),
        ("Contoso+", "invalid"),
    ],
)
def test_invalid_globs_are_refused_with_a_clear_message(glob, code):
    with pytest.raises(ValidationError) as caught:
        scopes.validate_glob(glob)
    assert caught.value.code == code
    message = caught.value.messages[0]
    if code == "invalid":
        assert glob in message
        assert "*" in message
    if code == "max_length":
        assert "256" in message


# --- parse_globs ------------------------------------------------------------------


def test_parse_globs_strips_skips_blank_lines_and_dedupes():
    text = "  Contoso*  \n\n\t\nMicrosoft.*.Abstract\r\ncontoso*\nCONTOSO*\nFabrikam\n"
    assert scopes.parse_globs(text) == ["Contoso*", "Microsoft.*.Abstract", "Fabrikam"]


@pytest.mark.parametrize("text", ["", "\n \n", None])
def test_parse_globs_of_nothing_is_empty(text):
    assert scopes.parse_globs(text) == []


def test_parse_globs_leaves_the_count_to_the_model(settings):
    # The glob limit is checked in one place, grant_errors (ApiKey.clean), which every service
    # runs; the pages show its message next to the field.
    eleven = [f"Pkg{n}.*" for n in range(11)]
    assert scopes.parse_globs("\n".join(eleven)) == eleven
    with pytest.raises(ValidationError) as caught:
        ApiKey(actions=[Action.PUSH.value], globs=eleven, expiration_days=1).clean()
    assert "at most 10" in str(caught.value.message_dict["globs"])


def test_parse_globs_drops_case_insensitive_repeats_before_they_count():
    ten = [f"Pkg{n}.*" for n in range(10)]
    assert scopes.parse_globs("\n".join([*ten, *(g.upper() for g in ten)])) == ten


def test_the_glob_limit_follows_the_setting(settings):
    settings.APIKEYS_MAX_GLOBS = 2
    ApiKey(actions=[Action.PUSH.value], globs=["A", "B"], expiration_days=1).clean()
    with pytest.raises(ValidationError) as caught:
        ApiKey(actions=[Action.PUSH.value], globs=["A", "B", "C"], expiration_days=1).clean()
    assert "at most 2" in str(caught.value.message_dict["globs"])


def test_parse_globs_reports_every_invalid_line():
    with pytest.raises(ValidationError) as caught:
        scopes.parse_globs("Good.*\nBad One\nBad?\n" + "x" * 300)
    assert [error.code for error in caught.value.error_list] == [
        "invalid",
        "invalid",
        "max_length",
    ]
    assert any("Bad One" in message for message in caught.value.messages)


# --- Results ----------------------------------------------------------------------


def test_allowed_is_truthy_and_denied_is_falsy():
    assert ALLOWED
    assert Allowed()
    assert Allowed() == ALLOWED
    denied = Denied(Denied.SCOPE, "no")
    assert not denied
    assert denied.code == "scope"
    assert (Denied.SCOPE, Denied.PACKAGE, Denied.OWNER) == ("scope", "package", "owner")
    with pytest.raises(AttributeError):
        denied.code = "owner"


# --- Grant ------------------------------------------------------------------------


def test_grant_of_normalizes():
    grant = Grant.of(
        [Action.PUSH, "package:unlist", Action.PUSH],
        ["Contoso.Utils", "CONTOSO.utils", "Fabrikam"],
        ["Contoso*", "contoso*", "Fabrikam.*"],
    )
    assert grant.actions == frozenset({"package:push", "package:unlist"})
    assert all(type(action) is str for action in grant.actions)
    assert grant.package_ids == frozenset({"contoso.utils", "fabrikam"})
    assert grant.globs == ("Contoso*", "Fabrikam.*")
    assert Grant.of() == Grant(frozenset(), frozenset(), ())


def test_grant_covers_picked_ids_and_globs_case_insensitively():
    grant = Grant.of([], ["Contoso.Utils"], ["Fabrikam.*"])
    assert grant.covers("contoso.UTILS")
    assert grant.covers("FABRIKAM.Core")
    assert not grant.covers("Contoso.Utils.Extra")
    assert not grant.covers("Fabrikam")
    assert not Grant.of().covers("Anything")


# The rules, written out as a table independently of scopes.py:
# (request, package exists) -> (scopes any one of which is enough, owner must own it)
RULES = {
    ("push", False): ({"package:push"}, False),
    ("push", True): ({"package:push", "package:pushversion"}, True),
    ("unlist", False): ({"package:unlist"}, True),  # nobody owns a missing package
    ("unlist", True): ({"package:unlist"}, True),
}
REQUESTS = {"push": Action.PUSH, "unlist": Action.UNLIST}
ALL_SCOPES = ["package:push", "package:pushversion", "package:unlist"]
SCOPE_SETS = [frozenset(combo) for n in range(4) for combo in itertools.combinations(ALL_SCOPES, n)]
# How the requested ID relates to the grant below.
SUBJECTS = {"picked": "CONTOSO.utils", "glob": "fabrikam.Core", "neither": "Other.Pkg"}


def expected_code(scope_set, request, exists, owns, subject):
    enough, must_own = RULES[(request, exists)]
    if not scope_set & enough:
        return "scope"
    if subject == "neither":
        return "package"
    if must_own and not (exists and owns):
        return "owner"
    return None


@pytest.mark.parametrize("subject", SUBJECTS)
@pytest.mark.parametrize("owns", [False, True], ids=["not-owner", "owner"])
@pytest.mark.parametrize("exists", [False, True], ids=["new", "existing"])
@pytest.mark.parametrize("request_name", REQUESTS)
@pytest.mark.parametrize("scope_set", SCOPE_SETS, ids=lambda s: "+".join(sorted(s)) or "none")
def test_grant_allows_every_combination(scope_set, request_name, exists, owns, subject):
    assert len(SCOPE_SETS) == 8
    grant = Grant.of(scope_set, ["Contoso.Utils"], ["Fabrikam.*"])
    package_id = SUBJECTS[subject]

    result = grant.allows(
        REQUESTS[request_name], package_id, package_exists=exists, owner_owns_package=owns
    )

    code = expected_code(scope_set, request_name, exists, owns, subject)
    if code is None:
        assert result == ALLOWED
        assert result
    else:
        assert isinstance(result, Denied)
        assert not result
        assert result.code == code
        assert package_id in result.reason


def test_action_may_be_passed_as_a_plain_string():
    grant = Grant.of(["package:push"], [], ["*"])
    assert grant.allows("package:push", "New.Pkg", package_exists=False)


def test_ownership_defaults_to_not_owned():
    grant = Grant.of(ALL_SCOPES, [], ["*"])
    assert grant.allows(Action.PUSH, "New.Pkg", package_exists=False)
    assert grant.allows(Action.PUSH, "Old.Pkg", package_exists=True).code == "owner"
    assert grant.allows(Action.UNLIST, "Old.Pkg", package_exists=True).code == "owner"


@pytest.mark.parametrize("action", ["package:delete", "", "PACKAGE:PUSH", Action.PUSH_VERSION])
def test_unknown_request_actions_are_refused_as_scope(action):
    grant = Grant.of(ALL_SCOPES, [], ["*"])
    result = grant.allows(action, "Contoso", package_exists=True, owner_owns_package=True)
    assert result.code == "scope"
    assert "Contoso" in result.reason


def test_reasons_name_the_action():
    grant = Grant.of([], [], [])
    assert "package:push" in grant.allows(Action.PUSH, "X", package_exists=False).reason
    assert "package:pushversion" in grant.allows(Action.PUSH, "X", package_exists=True).reason
    assert "package:unlist" in grant.allows(Action.UNLIST, "X", package_exists=True).reason
