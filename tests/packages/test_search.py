"""Package search as the feed and the gallery call it: matching, ranking, filters,
paging, scopes, and the entry the registry's services keep current."""

import hashlib
import io
import threading

import pytest
from django.db import connection

from packages import nupkg, search, services, versions
from packages.models import Package, PackageVersion, SearchEntry
from packages.search import BadParameter, Scope, SearchQuery
from tests.nupkgs import make_nupkg

pytestmark = pytest.mark.django_db


@pytest.fixture
def add(make_user):
    """Store ``name`` with ``versions`` as rows (listed unless in ``unlisted``) and
    refresh its search entry, as the services do after a write."""
    people = {}

    def make(
        name,
        *version_texts,
        unlisted=(),
        owners=("alice",),
        title="",
        description="A package",
        tags=(),
        authors="Contoso",
        downloads=0,
        version_downloads=None,
    ):
        package = Package.objects.create(name=name, download_count=downloads)
        for owner in owners:
            if owner not in people:
                people[owner] = make_user(owner)
            package.owners.add(people[owner])
        for text in version_texts or ("1.0.0",):
            parsed = versions.parse(text)
            PackageVersion.objects.create(
                package=package,
                version=text,
                normalized_version=parsed.normalized,
                is_prerelease=parsed.is_prerelease,
                is_semver2=parsed.is_semver2,
                listed=text not in unlisted,
                size=1,
                sha512="x",
                title=title,
                description=description,
                tags=list(tags),
                authors=authors,
                download_count=(version_downloads or {}).get(text, 0),
            )
        search.search_entry_refresh(package=package)
        return package

    return make


def ids(q="", **options) -> list[str]:
    return [hit.package_id for hit in search.search(SearchQuery(q=q, **options)).hits]


def total(q="", **options) -> int:
    return search.search(SearchQuery(q=q, **options)).total


class TestMatching:
    def test_plain_words_match_id_title_tags_and_description(self, add):
        add("Contoso.Core")
        add("Other.One", title="Contoso helpers")
        add("Other.Two", tags=["contoso", "web"])
        add("Other.Three", description="Works with Contoso services")
        add("Fabrikam.Core", authors="Contoso Ltd")  # authors only with author:
        assert sorted(ids("contoso")) == ["Contoso.Core", "Other.One", "Other.Three", "Other.Two"]

    def test_every_word_must_match(self, add):
        add("Contoso.Json", description="fast")
        add("Contoso.Xml", description="fast")
        add("Fabrikam.Json", description="slow")
        assert ids("json fast") == ["Contoso.Json"]

    def test_matching_ignores_case(self, add):
        add("Contoso.Core", description="Handles JSON")
        assert ids("CONTOSO.core") == ["Contoso.Core"]
        assert ids("json") == ["Contoso.Core"]

    def test_short_terms_match_too(self, add):
        # Under three characters the trigram indexes cannot help; the answer is the same.
        add("Contoso.UI")
        add("Contoso.Data")
        assert ids("ui") == ["Contoso.UI"]

    def test_glob_and_like_characters_are_literal(self, add):
        add("My_Lib", description="100% managed [beta]")
        add("MyXLib", description="1000 managed")
        assert ids("my_lib") == ["My_Lib"]
        assert ids("100%") == ["My_Lib"]
        assert ids("[beta]") == ["My_Lib"]
        assert ids("*") == []
        assert ids("?") == []
        # One or two characters take another path on SQLite (no trigram to use).
        assert ids("_") == ["My_Lib"]
        assert ids("%") == ["My_Lib"]
        assert ids("[") == ["My_Lib"]

    def test_words_match_the_start_of_id_words_and_whole_words_elsewhere(self, add):
        add("Newtonsoft.Json", description="Serializer for JSON")
        add("Other.Lib", title="Jsonify", description="everything")
        assert ids("newton") == ["Newtonsoft.Json"]
        assert ids("js") == ["Newtonsoft.Json"]  # an ID word starts with it
        assert ids("jsonify") == ["Other.Lib"]  # a whole word of the title
        assert ids("soft") == []  # inside a word
        assert ids("serial") == []  # a description word only as a whole
        assert ids("serializer") == ["Newtonsoft.Json"]
        # Underscores split words; in a term, they are matched as written.
        add("My_Lib")
        assert ids("lib") == ["My_Lib", "Other.Lib"]
        assert ids("y_l") == []

    def test_a_quoted_phrase_matches_as_a_whole(self, add):
        add("A.One", description="fast json parser")
        add("A.Two", description="json is fast")
        assert ids('"fast json"') == ["A.One"]

    def test_unknown_prefix_is_plain_text(self, add):
        add("A.One", description="see c:drive")
        add("A.Two", description="drive")
        assert ids("c:drive") == ["A.One"]


class TestFieldPrefixes:
    @pytest.fixture
    def packages(self, add):
        add("Contoso.Core", owners=["alice"], title="Core stuff", tags=["web"], authors="Ann")
        add("Contoso.Core.Extra", owners=["bob"], description="core extras", authors="Bob B")
        add("Fabrikam.Web", owners=["alice", "carol"], tags=["webby"], title="Web things")

    def test_id(self, packages):
        assert sorted(ids("id:core")) == ["Contoso.Core", "Contoso.Core.Extra"]
        assert ids("id:things") == []

    def test_packageid_is_exact(self, packages):
        assert ids("packageid:contoso.core") == ["Contoso.Core"]
        assert ids("packageid:contoso") == []

    def test_owner_is_a_whole_user_name(self, packages):
        assert sorted(ids("owner:alice")) == ["Contoso.Core", "Fabrikam.Web"]
        assert ids("owner:ali") == []
        assert ids("owner:carol") == ["Fabrikam.Web"]

    def test_tags_is_a_whole_tag(self, packages):
        assert ids("tags:web") == ["Contoso.Core"]
        assert ids("tags:webby") == ["Fabrikam.Web"]

    def test_author(self, packages):
        assert ids("author:bob") == ["Contoso.Core.Extra"]
        assert ids('author:"bob b"') == ["Contoso.Core.Extra"]

    def test_title_and_description(self, packages):
        assert ids("title:things") == ["Fabrikam.Web"]
        assert ids("description:extras") == ["Contoso.Core.Extra"]
        assert ids("title:extras") == []

    def test_prefixes_combine_with_words(self, packages):
        assert ids("owner:alice web") == ["Fabrikam.Web", "Contoso.Core"]
        assert ids("owner:alice id:fabrikam") == ["Fabrikam.Web"]

    def test_prefix_names_ignore_case(self, packages):
        assert ids("Owner:Carol") == ["Fabrikam.Web"]


class TestRanking:
    def test_exact_then_prefix_then_id_word_then_other_fields_then_downloads(self, add):
        add("Json.Tools.Extra", downloads=5)  # ID prefix
        add("Json", downloads=1)  # exact
        add("Fabrikam.Json", downloads=50)  # a word of the ID
        add("Json.Tools", downloads=10)  # ID prefix, more downloads
        add("Contoso.Core", description="json", downloads=1000)  # another field
        add("Contoso.Jsonish", downloads=7)  # a word of the ID starts with it
        add("Contoso.Other", tags=["json"], downloads=2000)  # another field
        assert ids("json") == [
            "Json",
            "Json.Tools",
            "Json.Tools.Extra",
            "Fabrikam.Json",
            "Contoso.Jsonish",
            "Contoso.Other",
            "Contoso.Core",
        ]

    def test_empty_query_lists_everything_by_downloads(self, add):
        add("B", downloads=5)
        add("A", downloads=5)
        add("C", downloads=9)
        assert ids("") == ["C", "A", "B"]
        assert total("") == 3


class TestVersions:
    def test_latest_listed_stable_version_by_default(self, add):
        add("A", "1.0.0", "2.0.0", "1.5.0", "3.0.0-beta", "2.5.0", unlisted=["2.5.0"])
        (hit,) = search.search(SearchQuery()).hits
        assert hit.versions == [("1.0.0", 0), ("1.5.0", 0), ("2.0.0", 0)]
        assert hit.latest.normalized_version == "2.0.0"

    def test_prerelease_only_when_asked(self, add):
        add("A", "1.0.0", "2.0.0-beta")
        add("B", "1.0.0-alpha")
        assert ids() == ["A"]
        assert total() == 1
        hits = search.search(SearchQuery(prerelease=True)).hits
        assert {h.package_id: h.versions[-1][0] for h in hits} == {
            "A": "2.0.0-beta",
            "B": "1.0.0-alpha",
        }

    def test_semver2_only_when_asked(self, add):
        add("A", "1.0.0", "2.0.0+build.5", "3.0.0-beta.1")
        add("B", "1.0.0+meta")
        assert [h.versions for h in search.search(SearchQuery()).hits] == [[("1.0.0", 0)]]
        assert ids(prerelease=True) == ["A"]
        hits = search.search(SearchQuery(semver2=True)).hits
        assert {h.package_id: h.versions[-1][0] for h in hits} == {
            "A": "2.0.0+build.5",
            "B": "1.0.0+meta",
        }
        hits = search.search(SearchQuery(semver2=True, prerelease=True)).hits
        assert {h.package_id: h.versions[-1][0] for h in hits}["A"] == "3.0.0-beta.1"

    def test_a_package_without_listed_versions_is_not_found(self, add):
        add("A", "1.0.0", unlisted=["1.0.0"])
        add("B", "1.0.0-beta")
        assert ids() == []
        assert total() == 0
        assert ids(prerelease=True) == ["B"]

    def test_downloads_per_version_and_in_total(self, add):
        add("A", "1.0.0", "2.0.0", downloads=12, version_downloads={"1.0.0": 5, "2.0.0": 7})
        (hit,) = search.search(SearchQuery()).hits
        assert hit.versions == [("1.0.0", 5), ("2.0.0", 7)]
        assert hit.total_downloads == 12

    def test_texts_come_from_the_version_shown(self, add):
        add("A", "1.0.0", description="searchable words")
        (hit,) = search.search(SearchQuery(q="searchable")).hits
        assert hit.latest.description == "searchable words"


def test_added_downloads_move_a_package_up(add):
    add("A", downloads=5)
    second = add("B", downloads=3)
    search.search_downloads_add(package_pk=second.pk, count=4)
    assert ids() == ["B", "A"]
    assert ids("package") == ["B", "A"]  # a word's postings too
    assert [h.total_downloads for h in search.search(SearchQuery()).hits] == [7, 5]


class TestPaging:
    # The empty query and a word read the postings in order; "pkg." (punctuation) and
    # "pkg a" (two words) are sorted and counted in one pass.
    @pytest.mark.parametrize("q", ["", "pkg", "pkg.", "pkg a"])
    def test_total_counts_every_match_not_the_page(self, add, q):
        for n in range(7):
            add(f"Pkg.{n}", downloads=n)
        add("Other", downloads=100)
        results = search.search(SearchQuery(q=q, skip=2, take=3))
        assert results.total == (8 if q == "" else 7)
        assert [h.package_id for h in results.hits] == (
            ["Pkg.5", "Pkg.4", "Pkg.3"] if q == "" else ["Pkg.4", "Pkg.3", "Pkg.2"]
        )
        assert search.search(SearchQuery(q=q, skip=8)).hits == []
        assert search.search(SearchQuery(q=q, skip=8)).total == results.total
        assert search.search(SearchQuery(q=q, take=0)).total == results.total

    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ({}, (0, 20)),
            ({"skip": "3000", "take": "1000"}, (3000, 1000)),
            ({"skip": " 5 ", "take": ""}, (5, 20)),
        ],
    )
    def test_skip_and_take_within_limits(self, params, expected):
        query = SearchQuery.from_params(params)
        assert (query.skip, query.take) == expected

    @pytest.mark.parametrize(
        "params",
        [
            {"skip": "3001"},
            {"take": "1001"},
            {"skip": "-1"},
            {"take": "ten"},
            {"skip": "1e3"},
            {"take": "٣"},  # an Arabic-Indic digit: isdigit() says yes, NuGet says no
            {"skip": "9" * 400},
            {"prerelease": "maybe"},
            {"semVerLevel": "two"},
            {"q": "x" * (search.MAX_QUERY_LENGTH + 1)},
            {"q": " ".join(["w"] * (search.MAX_TERMS + 1))},
        ],
    )
    def test_bad_parameters_are_refused_with_a_reason(self, params):
        with pytest.raises(BadParameter) as refused:
            SearchQuery.from_params(params)
        assert str(refused.value)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [(None, False), ("", False), ("1.0.0", False), ("2.0.0", True), ("2", True), ("3.1", True)],
    )
    def test_semver_level(self, value, expected):
        assert (
            SearchQuery.from_params({"semVerLevel": value} if value is not None else {}).semver2
            is expected
        )

    def test_prerelease_values(self):
        assert SearchQuery.from_params({"prerelease": "True"}).prerelease is True
        assert SearchQuery.from_params({"prerelease": "false"}).prerelease is False


class TestPackageType:
    def test_dependency_or_none_lists_everything_other_types_nothing(self, add):
        add("A")
        assert ids(package_type="Dependency") == ["A"]
        assert ids(package_type="dependency") == ["A"]
        assert total(package_type="DotnetTool") == 0


class TestScope:
    def test_a_scope_hides_other_ids_from_hits_and_total(self, add):
        add("Contoso.Core", downloads=1)
        add("Contoso.Web", downloads=2)
        add("Fabrikam.Core", downloads=3)
        add("Picked.One", downloads=4)
        scope = Scope(package_ids=frozenset({"picked.one"}), globs=("Contoso.*",))
        results = search.search(SearchQuery(scope=scope))
        assert (results.total, [h.package_id for h in results.hits]) == (
            3,
            ["Picked.One", "Contoso.Web", "Contoso.Core"],
        )
        assert ids("core", scope=scope) == ["Contoso.Core"]
        assert total(scope=Scope()) == 0

    def test_glob_characters_of_like_are_literal(self, add):
        add("My_Lib")
        add("MyXLib")
        assert ids(scope=Scope(globs=("my_*",))) == ["My_Lib"]

    def test_autocomplete_honours_the_scope(self, add):
        add("Contoso.Core")
        add("Fabrikam.Core")
        scope = Scope(globs=("contoso.*",))
        assert search.autocomplete_ids("core", scope=scope) == (1, ["Contoso.Core"])
        assert search.autocomplete_versions("Fabrikam.Core", scope=scope) == []
        assert search.autocomplete_versions("Contoso.Core", scope=scope) == ["1.0.0"]


class TestAutocomplete:
    def test_ids_that_start_with_the_query_come_first(self, add):
        add("Fabrikam.Json", downloads=100)
        add("Json.Net", downloads=1)
        add("JsonPath", downloads=5)
        add("Other")
        assert search.autocomplete_ids("json") == (3, ["JsonPath", "Json.Net", "Fabrikam.Json"])
        assert search.autocomplete_ids("json", skip=1, take=1) == (3, ["Json.Net"])
        assert search.autocomplete_ids("") == (
            4,
            ["Fabrikam.Json", "JsonPath", "Json.Net", "Other"],
        )

    def test_ids_only_not_descriptions(self, add):
        add("A", description="json")
        assert search.autocomplete_ids("json") == (0, [])

    def test_prerelease_and_semver2_filters(self, add):
        add("Beta.Only", "1.0.0-beta")
        add("Meta.Only", "1.0.0+abc")
        assert search.autocomplete_ids("only") == (0, [])
        assert search.autocomplete_ids("only", prerelease=True) == (1, ["Beta.Only"])
        assert search.autocomplete_ids("only", semver2=True) == (1, ["Meta.Only"])

    def test_versions_of_one_package(self, add):
        add("A", "2.0.0", "1.0.0", "1.5.0-beta", "1.2.0+b", "3.0.0", unlisted=["3.0.0"])
        assert search.autocomplete_versions("a") == ["1.0.0", "2.0.0"]
        assert search.autocomplete_versions("A", prerelease=True) == [
            "1.0.0",
            "1.5.0-beta",
            "2.0.0",
        ]
        assert search.autocomplete_versions("A", semver2=True) == ["1.0.0", "1.2.0+b", "2.0.0"]
        assert search.autocomplete_versions("Missing") == []


class TestQueryCount:
    # One word or none: the count, then the page, in the postings' order. Otherwise the
    # page's query counts too.
    @pytest.mark.parametrize(("q", "queries"), [("contoso", 4), ("", 4), ("contoso.p1", 3)])
    def test_a_page_costs_four_queries_however_many_packages(
        self, add, django_assert_num_queries, q, queries
    ):
        for n in range(30):
            add(f"Contoso.P{n}", "1.0.0", "1.1.0", "2.0.0-beta")
        with django_assert_num_queries(queries):
            results = search.search(SearchQuery(q=q, take=20, prerelease=True))
        assert len(results.hits) == (11 if q == "contoso.p1" else 20)


# --- The services keep entries current ----------------------------------------------


def push(user, package_id, version, **nuspec):
    data = make_nupkg(package_id, version, **nuspec)
    metadata = nupkg.read(io.BytesIO(data))
    return services.package_push(
        package=services.package_find(metadata.id),
        upload=services.Upload(
            file=io.BytesIO(data), size=len(data), sha512=hashlib.sha512(data).hexdigest()
        ),
        metadata=metadata,
        actor=user,
    )


@pytest.fixture(autouse=True)
def _package_files(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "packages": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "packages")},
        },
    }


class TestServicesKeepEntriesCurrent:
    def test_push_unlist_and_relist(self, user):
        push(user, "Contoso.Core", "1.0.0", description="first words")
        assert ids("first") == ["Contoso.Core"]
        assert ids("owner:alice") == ["Contoso.Core"]
        second = push(user, "Contoso.Core", "2.0.0", description="second words")
        assert ids("first") == []
        assert [h.latest.normalized_version for h in search.search(SearchQuery()).hits] == ["2.0.0"]

        services.package_set_listed(version=second, listed=False, actor=user)
        assert ids("first") == ["Contoso.Core"]
        first = PackageVersion.objects.get(normalized_version="1.0.0")
        services.package_set_listed(version=first, listed=False, actor=user)
        assert ids() == []
        assert not SearchEntry.objects.exists()
        services.package_set_listed(version=first, listed=True, actor=user)
        assert ids() == ["Contoso.Core"]

    def test_the_empty_querys_totals_follow_every_change(self, user):
        def totals():
            return [
                total(prerelease=prerelease, semver2=semver2)
                for prerelease, semver2 in (
                    (False, False),
                    (True, False),
                    (False, True),
                    (True, True),
                )
            ]

        def counted():
            # What the totals must equal: the entries under each filter, counted.
            return [
                SearchEntry.objects.filter(**{column: True}).count()
                for column in (
                    "visible_stable",
                    "visible_prerelease",
                    "visible_semver2",
                    "visible_all",
                )
            ]

        assert totals() == counted() == [0, 0, 0, 0]
        push(user, "Contoso.Core", "1.0.0")
        beta = push(user, "Contoso.Beta", "1.0.0-beta")
        push(user, "Contoso.Next", "2.0.0-rc.1")  # SemVer 2 and a prerelease
        assert totals() == counted() == [1, 2, 1, 3]
        services.package_set_listed(version=beta, listed=False, actor=user)
        assert totals() == counted() == [1, 1, 1, 2]
        push(user, "Contoso.Beta", "1.0.0")
        assert totals() == counted() == [2, 2, 2, 3]
        services.package_set_listed(version=beta, listed=True, actor=user)
        assert totals() == counted() == [2, 2, 2, 3]
        # Deleted, as the admin deletes one package or several (its entry goes too).
        Package.objects.get(name="Contoso.Next").delete()
        assert totals() == counted() == [2, 2, 2, 2]
        Package.objects.all().delete()
        assert totals() == counted() == [0, 0, 0, 0]

    def test_a_failed_push_leaves_the_entry_as_it_was(self, user):
        push(user, "Contoso.Core", "1.0.0", description="kept")
        with pytest.raises(services.VersionExists):
            push(user, "Contoso.Core", "1.0.0", description="lost")
        assert ids("kept") == ["Contoso.Core"]
        assert ids("lost") == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_pushes_of_one_package_both_reach_the_entry(user):
    push(user, "Contoso.Core", "1.0.0")
    barrier = threading.Barrier(2)
    errors = []

    def job(version):
        try:
            barrier.wait(timeout=10)
            push(user, "Contoso.Core", version)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=job, args=(v,)) for v in ("2.0.0", "3.0.0")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    (hit,) = search.search(SearchQuery()).hits
    assert [text for text, _ in hit.versions] == ["1.0.0", "2.0.0", "3.0.0"]
    assert hit.latest.normalized_version == "3.0.0"
