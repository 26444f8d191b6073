"""Package search: the one query behind the feed's search and the gallery's package
list, and the autocomplete beside it.

Search reads two tables that the push, unlist and relist services keep current
through ``search_entry_refresh``, in their own transaction:

- ``SearchEntry``, one row per package that has a listed version: its ID, the texts
  of its latest listed version, its owners, its downloads, and which combinations of
  the prerelease and SemVer 2 filters it shows under;
- ``SearchTerm``, the postings: per package, every prefix of every word of its ID and
  every word of its title, tags and description, each with its rank and the
  package's downloads, indexed in search's order.

A plain word matches where an ID word starts with it or a title, tag or description
word is it. A one-word query (the empty query included: every package has the empty
term) is one range of the postings index, so its page costs the same however many
packages match and its count reads that index alone. Everything else (several words,
punctuation, a "phrase", a ``field:`` prefix, which matches a substring of the
field) starts from the postings of its longest word and checks the rest on those
candidates. Substring checks use trigram indexes: pg_trgm GIN indexes on
PostgreSQL; on SQLite an FTS5 table with the trigram tokenizer
(``packages_searchentry_fts``, rowid = package pk) for needles of three characters
or more. Both come from migration 0004.
"""

import re
from collections import Counter
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    IntegerField,
    Lookup,
    OuterRef,
    Q,
    Value,
    When,
    Window,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Lower, StrIndex
from django.db.models.lookups import GreaterThan
from django.utils.translation import gettext

from packages import versions

MAX_SKIP = 3000
MAX_TAKE = 1000
DEFAULT_TAKE = 20
# Longer queries are refused: every term costs an index probe.
MAX_QUERY_LENGTH = 512
MAX_TERMS = 16
FTS_TABLE = "packages_searchentry_fts"
# The columns the SQLite FTS5 table mirrors, in its order.
FTS_COLUMNS = ("text", "id_lower", "title", "tags", "description", "authors", "owners")
# Packages without <packageTypes> are dependencies; the type is not stored, so every
# package is one.
DEFAULT_PACKAGE_TYPE = "Dependency"

# Field prefixes: the column each searches and whether the value must be a whole word.
_FIELDS = {
    "id": ("id_lower", False),
    "title": ("title", False),
    "tags": ("tags", True),
    "tag": ("tags", True),
    "author": ("authors", False),
    "authors": ("authors", False),
    "owner": ("owners", True),
    "owners": ("owners", True),
    "description": ("description", False),
}
_EXACT_ID_FIELDS = {"packageid"}
_TOKEN = re.compile(r'(?:(?P<field>[A-Za-z]+):)?(?:"(?P<quoted>[^"]*)"?|(?P<word>\S+))')
# Words, of IDs and texts alike: runs of letters and digits ("Contoso.Web_UI" has three).
_WORD = re.compile(r"[^\W_]+")
# Words longer than this are left out of the postings (IDs have at most 100 characters,
# so every ID word is in); a query word that long is matched as a substring.
MAX_TERM_LENGTH = 64
# SearchTerm.rank: where a package's term was found, best first.
RANK_ID = 0  # the whole ID
RANK_ID_PREFIX = 1  # the ID starts with it
RANK_ID_WORD = 2  # a word of the ID starts with it
RANK_OTHER = 3  # a word of the title, tags or description; the empty term

# Which entry column says "has a listed version under these filters", by
# (prerelease, semver2).
_VISIBLE = {
    (False, False): "visible_stable",
    (True, False): "visible_prerelease",
    (False, True): "visible_semver2",
    (True, True): "visible_all",
}


class BadParameter(ValueError):
    """A search parameter that cannot be understood; the message says which and why."""


# --- Queries ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    """One condition of a query: ``field`` None for plain text, else a prefix's name."""

    field: str | None
    value: str  # lower-cased


@dataclass(frozen=True)
class Scope:
    """The package IDs a reader may see: picked IDs and globs (``*`` any run).

    Anything with ``package_ids`` (lower-cased) and ``globs`` serves, an API key's
    grant included.
    """

    package_ids: frozenset[str] = frozenset()
    globs: tuple[str, ...] = ()


@dataclass(frozen=True)
class SearchQuery:
    q: str = ""
    skip: int = 0
    take: int = DEFAULT_TAKE
    prerelease: bool = False
    semver2: bool = False
    package_type: str = ""
    # None: every package; otherwise only the IDs the scope covers.
    scope: object = None
    terms: tuple[Term, ...] = field(default=(), compare=False)

    def __post_init__(self):
        object.__setattr__(self, "terms", parse_terms(self.q))

    @classmethod
    def from_params(cls, params, *, scope=None) -> "SearchQuery":
        """The query a request's GET parameters ask for; raises BadParameter."""
        return cls(
            q=_query_text(params.get("q")),
            skip=_bounded_int(params.get("skip"), "skip", 0, MAX_SKIP),
            take=_bounded_int(params.get("take"), "take", DEFAULT_TAKE, MAX_TAKE),
            prerelease=_boolean(params.get("prerelease"), "prerelease"),
            semver2=semver2_level(params.get("semVerLevel")),
            package_type=(params.get("packageType") or "").strip(),
            scope=scope,
        )


def _query_text(value) -> str:
    text = (value or "").strip()
    if len(text) > MAX_QUERY_LENGTH:
        raise BadParameter(
            gettext("The query is longer than %(max)d characters.") % {"max": MAX_QUERY_LENGTH}
        )
    return text


def _bounded_int(value, name: str, default: int, maximum: int) -> int:
    if value is None or value.strip() == "":
        return default
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or int(text) > maximum:
        raise BadParameter(
            gettext("%(name)s must be a whole number from 0 to %(max)d.")
            % {"name": name, "max": maximum}
        )
    return int(text)


def _boolean(value, name: str) -> bool:
    text = (value or "").strip().lower()
    if text in ("", "false", "0"):
        return False
    if text in ("true", "1"):
        return True
    raise BadParameter(gettext("%(name)s must be true or false.") % {"name": name})


def semver2_level(value) -> bool:
    """Whether ``semVerLevel`` admits SemVer 2 versions: a version of 2.0.0 or more."""
    text = (value or "").strip()
    if not text:
        return False
    level = versions.parse(text)
    if level is None:
        raise BadParameter(gettext("semVerLevel must be a version such as 2.0.0."))
    return level.major >= 2


def parse_terms(q: str) -> tuple[Term, ...]:
    """The terms of a query: ``field:value``, ``field:"two words"``, ``"a phrase"``, words.

    An unknown prefix is plain text (``c:drive`` searches for ``c:drive``).
    """
    terms = []
    for match in _TOKEN.finditer(q or ""):
        name = (match["field"] or "").lower()
        value = match["quoted"] if match["quoted"] is not None else match["word"]
        if name and name not in _FIELDS and name not in _EXACT_ID_FIELDS:
            value, name = f"{match['field']}:{value}", ""
        value = " ".join(value.split()).lower()
        if value:
            terms.append(Term(name or None, value))
    if len(terms) > MAX_TERMS:
        raise BadParameter(gettext("Use at most %(max)d search terms.") % {"max": MAX_TERMS})
    return tuple(terms)


# --- Matching --------------------------------------------------------------------------


def _contains(column: str, needle: str, *, via: str = "") -> Q:
    """Rows whose ``column`` (stored lower-cased) holds ``needle``, through the index;
    ``via`` is the path from the queried model to SearchEntry ("entry__" from terms)."""
    # On SQLite, a needle of three characters or more goes through the FTS table: a
    # phrase of trigrams matches exactly where the text holds the needle, from the
    # index alone. (The column name comes from _FIELDS or FTS_COLUMNS, never from the
    # request.) Shorter needles hold no trigram, so no index serves them, and being
    # short they match most entries (Visual Studio searches as you type: "t", "to"):
    # LIKE on the entry's own column scans one table once, about three times faster
    # than scanning the FTS table and joining its rowids back.
    if connection.vendor == "sqlite" and len(needle) >= 3:
        phrase = '"' + needle.replace('"', '""') + '"'
        sql = f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s"  # noqa: S608
        matches = RawSQL(sql, [f"{column} : {phrase}"])  # noqa: S611
        return Q(**{f"{via}package_id__in": matches})
    return Q(**{f"{via}{column}__contains": needle})


def words(text: str) -> list[str]:
    """The words of ``text`` (lower-cased already), as postings and queries split them."""
    return _WORD.findall(text)


def _plain_words(term: "Term") -> list[str]:
    """The words of a plain term that the postings can hold."""
    return [word for word in words(term.value) if len(word) <= MAX_TERM_LENGTH]


def _is_one_word(term: "Term") -> bool:
    """Whether a plain term is a single word the postings hold, matched by them alone."""
    return term.field is None and _plain_words(term) == [term.value]


def _holds(term: Term) -> Q:
    """Postings whose entry's text holds a plain term of several words, punctuation or
    quotes as written."""
    if connection.vendor == "postgresql" and _plain_words(term):
        # Checked on the candidates its words' postings give, not through pg_trgm:
        # IDs share their common trigrams ("web", "ore", ".co"), so the trigram index
        # returns thousands of rows to recheck where the postings of a word like
        # "adtail" hold a few hundred (measured at 100,000 packages: "Adtail.W" 28 ms
        # through pg_trgm, 8 ms so). SQLite's FTS table answers exactly from its index.
        return Q(GreaterThan(StrIndex("entry__text", Value(term.value)), 0))
    return _contains("text", term.value, via="entry__")


def _term_filter(term: Term) -> Q:
    """The condition on a term's row (posting) for ``term``, beside its words' postings."""
    if term.field is None:
        # Several words, punctuation or a phrase: the text holds it as written.
        return Q() if _is_one_word(term) else _holds(term)
    if term.field in _EXACT_ID_FIELDS:
        return Q(id_lower=term.value)
    column, whole_word = _FIELDS[term.field]
    return _contains(column, f" {term.value} " if whole_word else term.value, via="entry__")


class _Like(Lookup):
    """``lhs LIKE rhs`` with backslash escapes, the same on both databases (the
    columns hold lower case, so SQLite's case-insensitive LIKE changes nothing)."""

    lookup_name = "like"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} LIKE {rhs} ESCAPE '\\'", [*lhs_params, *rhs_params]


def _like_pattern(glob: str) -> str:
    escaped = glob.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%")


def scope_filter(scope) -> Q:
    """The entries ``scope`` (picked IDs and globs) covers; nothing when it covers none."""
    condition = Q(id_lower__in=sorted(i.lower() for i in scope.package_ids))
    for glob in scope.globs:
        condition |= Q(_Like(F("id_lower"), Value(_like_pattern(glob))))
    return condition


def _in_index_order(terms: tuple[Term, ...]) -> bool:
    """Whether the query is one word or none, whose postings are read in search's order."""
    return not terms or (len(terms) == 1 and _is_one_word(terms[0]))


def _order(terms: tuple[Term, ...]) -> list:
    """Best first: the exact ID, then IDs that start with the query, then IDs with a
    word that starts with a term, then the rest; within each, by downloads.

    A one-word query, or the empty one, has this order in its postings' ranks already
    (the index's order).
    """
    if _in_index_order(terms):
        return ["rank", "-downloads", "id_lower"]
    plain = [t.value for t in terms if t.field in (None, "id")]
    if not plain:
        return ["-downloads", "id_lower"]
    whole = " ".join(plain)
    ranks = [
        When(id_lower=whole, then=Value(RANK_ID)),
        When(id_lower__startswith=whole, then=Value(RANK_ID_PREFIX)),
    ]
    for word in dict.fromkeys(w for value in plain for w in words(value)):
        ranks.append(When(entry__id_words__contains=f" {word}", then=Value(RANK_ID_WORD)))
    rank = Case(*ranks, default=Value(RANK_OTHER), output_field=IntegerField())
    return [rank, "-downloads", "id_lower"]


def _postings(query: SearchQuery):
    """The postings of the packages that match ``query``, one per package: those of its
    longest plain word (the fewest, as a rule), or the empty term's, narrowed by every
    other word and condition."""
    from packages.models import SearchTerm

    plain = sorted(
        {word for term in query.terms if term.field is None for word in _plain_words(term)},
        key=lambda word: (-len(word), word),
    )
    postings = SearchTerm.objects.filter(
        term=plain[0] if plain else "", **{_VISIBLE[(query.prerelease, query.semver2)]: True}
    )
    if query.package_type and query.package_type.lower() != DEFAULT_PACKAGE_TYPE.lower():
        return postings.none()
    for word in plain[1:]:
        postings = postings.filter(
            Exists(SearchTerm.objects.filter(entry_id=OuterRef("entry_id"), term=word))
        )
    for term in query.terms:
        postings = postings.filter(_term_filter(term))
    if query.scope is not None:
        postings = postings.filter(scope_filter(query.scope))
    return postings


# --- Search ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    package_id: str  # as first pushed
    latest: object  # the PackageVersion shown: the latest listed one that matches
    versions: list  # [(version string, downloads)], ascending, listed and matching only
    owners: list[str]
    total_downloads: int


@dataclass(frozen=True)
class Results:
    total: int  # every match, whatever skip and take
    hits: list[Hit]


def search(query: SearchQuery) -> Results:
    """A page of packages for ``query``, best first, and the number of all matches.

    Four queries: the count, the page, the page's versions, their latest rows' texts.
    Where the postings' index does not give the order, the matches are sorted
    anyway, so the page's query counts them in the same pass: three.
    """
    postings = _postings(query).order_by(*_order(query.terms))
    columns = ("entry_id", "entry__name", "entry__owners", "downloads")
    window = slice(query.skip, query.skip + query.take)
    if _in_index_order(query.terms):
        total = _total(query, postings)
        page = list(postings.values_list(*columns)[window]) if total > query.skip else []
    else:
        counted = list(
            postings.annotate(matches=Window(Count("*"))).values_list(*columns, "matches")[window]
        )
        # An empty page (past the end, or take=0) has no row to carry the count.
        total = counted[0][-1] if counted else postings.count()
        page = [row[:-1] for row in counted]
    if not page:
        return Results(total, [])
    found = _listed_versions([pk for pk, *_ in page], query.prerelease, query.semver2)
    latest = _latest_rows({pk: rows[-1][0] for pk, rows in found.items()})
    hits = [
        Hit(
            package_id=name,
            latest=latest[pk],
            versions=[(text, downloads) for _, text, downloads in found[pk]],
            owners=owners.split(),
            total_downloads=downloads,
        )
        for pk, name, owners, downloads in page
        if pk in found  # unlisted since the count: left out rather than shown empty
    ]
    return Results(total, hits)


def _total(query: SearchQuery, postings) -> int:
    """The number of matches: the kept total for the empty query over every package
    (Visual Studio's Browse tab asks it most), else a count of the postings."""
    from packages.models import SearchTotal

    if query.terms or query.scope is not None or query.package_type:
        return postings.count()
    column = _VISIBLE[(query.prerelease, query.semver2)]
    kept = SearchTotal.objects.filter(visibility=column).values_list("packages", flat=True).first()
    return postings.count() if kept is None else kept


def _listed_versions(package_pks, prerelease: bool, semver2: bool) -> dict[int, list]:
    """{package pk: [(version pk, version text, downloads)]}, ascending by NuGet's order."""
    from packages.models import PackageVersion

    rows = PackageVersion.objects.filter(package_id__in=package_pks, listed=True)
    if not prerelease:
        rows = rows.filter(is_prerelease=False)
    if not semver2:
        rows = rows.filter(is_semver2=False)
    found: dict[int, list] = {}
    for package_pk, pk, text, downloads in rows.values_list(
        "package_id", "pk", "version", "download_count"
    ):
        parsed = versions.parse(text)
        if parsed is not None:
            found.setdefault(package_pk, []).append((parsed, pk, downloads))
    return {
        package_pk: [
            (pk, parsed.normalized_with_metadata, downloads)
            for parsed, pk, downloads in sorted(rows, key=lambda row: versions.sort_key(row[0]))
        ]
        for package_pk, rows in found.items()
    }


def _latest_rows(version_pks: dict[int, int]) -> dict:
    from packages.models import PackageVersion

    rows = PackageVersion.objects.in_bulk(list(version_pks.values()))
    return {package_pk: rows[pk] for package_pk, pk in version_pks.items()}


# --- Autocomplete ----------------------------------------------------------------------


def autocomplete_ids(
    q: str, *, skip=0, take=DEFAULT_TAKE, prerelease=False, semver2=False, scope=None
) -> tuple[int, list[str]]:
    """(total, a page of IDs) containing ``q``: IDs that start with it first, then by
    downloads."""
    from packages.models import SearchEntry

    needle = " ".join((q or "").split()).lower()
    entries = SearchEntry.objects.filter(**{_VISIBLE[(prerelease, semver2)]: True})
    if scope is not None:
        entries = entries.filter(scope_filter(scope))
    if needle:
        entries = entries.filter(_contains("id_lower", needle))
        order = [
            Case(When(id_lower__startswith=needle, then=Value(0)), default=Value(1)),
            "-downloads",
            "id_lower",
        ]
    else:
        order = ["-downloads", "id_lower"]
    total = entries.count()
    if total <= skip or take == 0:
        return total, []
    return total, list(entries.order_by(*order).values_list("name", flat=True)[skip : skip + take])


def autocomplete_versions(
    package_id: str, *, prerelease=False, semver2=False, scope=None
) -> list[str]:
    """The listed versions of one package, ascending; none for an unknown or hidden ID."""
    from packages.models import Package

    if scope is not None and not _scope_covers(scope, package_id):
        return []
    package = (
        Package.objects.annotate(name_lower=Lower("name"))
        .filter(name_lower=(package_id or "").lower())
        .values_list("pk", flat=True)
        .first()
    )
    if package is None:
        return []
    found = _listed_versions([package], prerelease, semver2)
    return [text for _, text, _ in found.get(package, [])]


def _scope_covers(scope, package_id: str) -> bool:
    from packages.models import SearchEntry

    return (
        SearchEntry.objects.filter(id_lower=package_id.lower()).filter(scope_filter(scope)).exists()
    )


# --- Keeping the entries current -------------------------------------------------------


def search_entry_refresh(*, package) -> None:
    """Recompute ``package``'s search entry from its rows; call in the writer's transaction.

    The package row is locked first (FOR NO KEY UPDATE, which a concurrent push's
    foreign-key check does not wait for), so two writers of one package take turns
    and the second sees the first one's version.
    """
    from packages.models import Package, PackageVersion, SearchEntry, SearchTerm, SearchTotal

    with transaction.atomic():
        list(Package.objects.select_for_update(no_key=True).filter(pk=package.pk).values("pk"))
        rebuild_entries(
            [package.pk], package_model=Package, version_model=PackageVersion,
            entry_model=SearchEntry, term_model=SearchTerm, total_model=SearchTotal,
        )  # fmt: skip


def search_downloads_add(*, package_pk: int, count: int) -> None:
    """Add ``count`` downloads to the package's entry and terms, in the transaction that
    adds them to ``Package.download_count``, so the ranking follows the counters."""
    from packages.models import SearchEntry, SearchTerm

    SearchEntry.objects.filter(package_id=package_pk).update(downloads=F("downloads") + count)
    SearchTerm.objects.filter(entry_id=package_pk).update(downloads=F("downloads") + count)


def rebuild_entries(
    package_pks, *, package_model, version_model, entry_model, term_model=None, total_model=None
) -> None:
    """Recompute the entries of ``package_pks`` (all packages for None), their terms
    unless ``term_model`` is None and the totals unless ``total_model`` is None, with
    the given models, so migrations can call it with their historical ones."""
    if package_pks is None:
        all_pks = list(package_model.objects.order_by("pk").values_list("pk", flat=True))
        for start in range(0, len(all_pks), 500):
            rebuild_entries(
                all_pks[start : start + 500], package_model=package_model,
                version_model=version_model, entry_model=entry_model, term_model=term_model,
                total_model=total_model,
            )  # fmt: skip
        return
    package_pks = list(package_pks)
    packages = {
        pk: (name, downloads)
        for pk, name, downloads in package_model.objects.filter(pk__in=package_pks).values_list(
            "pk", "name", "download_count"
        )
    }
    owners: dict[int, list[str]] = {}
    through = package_model.owners.through
    for package_pk, username in (
        through.objects.filter(package_id__in=package_pks)
        .order_by("user__username")
        .values_list("package_id", "user__username")
    ):
        owners.setdefault(package_pk, []).append(username.lower())
    listed: dict[int, list] = {}
    for package_pk, pk, text, prerelease, semver2 in version_model.objects.filter(
        package_id__in=package_pks, listed=True
    ).values_list("package_id", "pk", "version", "is_prerelease", "is_semver2"):
        parsed = versions.parse(text)
        if parsed is not None:
            listed.setdefault(package_pk, []).append((parsed, pk, prerelease, semver2))

    entries = []
    shown_pks = {}
    for package_pk, rows in listed.items():
        visible = {
            column: [row for row in rows if (pre or not row[2]) and (sv2 or not row[3])]
            for (pre, sv2), column in _VISIBLE.items()
        }
        # The texts come from what a default client sees, else the latest of any kind.
        for column in ("visible_stable", "visible_prerelease", "visible_semver2", "visible_all"):
            if visible[column]:
                shown_pks[package_pk] = max(
                    visible[column], key=lambda row: versions.sort_key(row[0])
                )[1]
                break
        entries.append((package_pk, {column: bool(rows) for column, rows in visible.items()}))
    texts = {
        row["package_id"]: row
        for row in version_model.objects.filter(pk__in=list(shown_pks.values())).values(
            "package_id", "title", "tags", "description", "authors"
        )
    }

    objects = []
    for package_pk, flags in entries:
        name, downloads = packages[package_pk]
        shown = texts[package_pk]
        objects.append(
            entry_model(
                package_id=package_pk,
                name=name,
                downloads=downloads,
                **flags,
                **entry_texts(
                    name,
                    title=shown["title"],
                    tags=shown["tags"] or [],
                    description=shown["description"],
                    authors=shown["authors"],
                    owners=owners.get(package_pk, []),
                ),
            )
        )
    shown_before = _shown(entry_model, package_pks) if total_model is not None else None
    # The entries' terms go with them (on_delete=CASCADE).
    entry_model.objects.filter(package_id__in=package_pks).delete()
    entry_model.objects.bulk_create(objects)
    if total_model is not None:
        change = Counter({c: sum(getattr(e, c) for e in objects) for c in _VISIBLE.values()})
        change.subtract(shown_before)
        _totals_add(total_model, change)
    if term_model is not None:
        _insert_terms(term_model._meta.db_table, objects)
    if connection.vendor == "sqlite":
        _sqlite_fts_replace(package_pks, objects)


def _shown(entry_model, package_pks) -> Counter:
    """How many of the entries of ``package_pks`` show under each visibility column."""
    return Counter(
        column
        for flags in entry_model.objects.filter(package_id__in=package_pks).values_list(
            *_VISIBLE.values()
        )
        for column, shown in zip(_VISIBLE.values(), flags, strict=True)
        if shown
    )


def _totals_add(total_model, change: Counter) -> None:
    for column in _VISIBLE.values():  # always in this order: no deadlock between writers
        if change[column]:
            total_model.objects.filter(visibility=column).update(
                packages=F("packages") + change[column]
            )


def search_totals_forget(sender, instance, **kwargs) -> None:
    """A package is being deleted, its entry with it (on_delete=CASCADE): take the
    entry out of the totals, in the deletion's transaction. Connected to Package's
    pre_delete (packages.apps), so every way of deleting one counts: the admin's
    delete, its bulk action, the shell."""
    from packages.models import SearchEntry, SearchTotal

    gone = _shown(SearchEntry, [instance.pk])
    _totals_add(SearchTotal, Counter({column: -count for column, count in gone.items()}))


def totals_recount(*, entry_model, total_model) -> None:
    """Count the totals afresh from the entries (the migration that adds them)."""
    for column in _VISIBLE.values():
        total_model.objects.update_or_create(
            visibility=column,
            defaults={"packages": entry_model.objects.filter(**{column: True}).count()},
        )


def entry_texts(name, *, title, tags, description, authors, owners) -> dict:
    """The searched columns of an entry, lower-cased; word lists padded with spaces so
    that ``" word "`` finds a whole word."""
    id_lower = name.lower()
    title, description, authors = title.lower(), description.lower(), authors.lower()
    tags_text = " ".join(str(tag).lower() for tag in tags)
    return {
        "id_lower": id_lower,
        "id_words": f" {' '.join(words(id_lower))} ",
        "title": title,
        "tags": f" {tags_text} ",
        "description": description,
        "authors": authors,
        "owners": f" {' '.join(owners)} ",
        "text": "\n".join((id_lower, title, tags_text, description)),
    }


def entry_terms(entry) -> dict[str, int]:
    """{term: rank} of an entry: the empty term, every word of its title, tags and
    description, and every prefix of every word of its ID, each at its best rank."""
    found = {"": RANK_OTHER}
    for word in words(" ".join((entry.title, entry.tags, entry.description))):
        if len(word) <= MAX_TERM_LENGTH:
            found[word] = RANK_OTHER
    id_lower = entry.id_lower
    for word in words(id_lower):
        for end in range(1, len(word) + 1):
            prefix = word[:end]
            if prefix == id_lower:
                rank = RANK_ID
            elif id_lower.startswith(prefix):
                rank = RANK_ID_PREFIX
            else:
                rank = RANK_ID_WORD
            found[prefix] = min(rank, found.get(prefix, RANK_OTHER))
    return found


# SearchTerm's columns after entry_id, term and rank: what each term repeats of its entry.
_POSTED = ("downloads", "id_lower", *_VISIBLE.values())


def _insert_terms(table: str, entries) -> None:
    """Write the terms of ``entries``. One INSERT run over plain rows: a migration writes
    millions, which model instances and bulk_create's batches (999 parameters on
    SQLite) would make about four times slower."""
    columns = ("entry_id", "term", "rank", *_POSTED)
    rows = [
        (entry.package_id, term, rank, *(getattr(entry, column) for column in _POSTED))
        for entry in entries
        for term, rank in entry_terms(entry).items()
    ]
    marks = ", ".join(["%s"] * len(columns))
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608
            rows,
        )


def _sqlite_fts_replace(package_pks, entries) -> None:
    columns = ", ".join(FTS_COLUMNS)
    marks = ", ".join(["%s"] * (len(FTS_COLUMNS) + 1))
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {FTS_TABLE} WHERE rowid IN ({', '.join(['%s'] * len(package_pks))})",  # noqa: S608
            package_pks,
        )
        cursor.executemany(
            f"INSERT INTO {FTS_TABLE} (rowid, {columns}) VALUES ({marks})",  # noqa: S608
            [
                [entry.package_id, *(getattr(entry, column) for column in FTS_COLUMNS)]
                for entry in entries
            ],
        )
