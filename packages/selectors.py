from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple

from allauth.account.utils import has_verified_email
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Prefetch, Q
from django.db.models.functions import Lower, TruncDate

from accounts.models import Membership, Organization, Role
from packages import search, services, versions
from packages.models import OwnershipRequest, Package, PackageVersion, SearchEntry


def package_names_owned_by(user) -> list[str]:
    """IDs of the user's packages, in display casing, sorted case-insensitively."""
    return list(
        Package.objects.filter(owners=user).order_by(Lower("name")).values_list("name", flat=True)
    )


def package_list_for(user) -> list[Package]:
    """The packages ``user`` may publish: owned by them or by an organization they are a
    member of; each with its owners (organizations marked by ``is_organization``) and
    its versions, newest push first; in three queries."""
    theirs = Q(user_id=user.pk) | Q(user__organization__memberships__user_id=user.pk)
    owned = Package.owners.through.objects.filter(theirs).values("package_id")
    owners = (
        get_user_model()
        .objects.annotate(
            is_organization=Exists(Organization.objects.filter(account_id=OuterRef("pk")))
        )
        .order_by(Lower("username"))
    )
    versions = PackageVersion.objects.order_by("-pushed_at", "-id")
    return list(
        Package.objects.filter(pk__in=owned)
        .order_by(Lower("name"))
        .prefetch_related(
            Prefetch("owners", queryset=owners), Prefetch("versions", queryset=versions)
        )
    )


def ownership_requests_for(package: Package) -> list[OwnershipRequest]:
    """``package``'s pending ownership requests, with their accounts, in one query."""
    return list(
        OwnershipRequest.objects.filter(package=package)
        .select_related("new_owner", "requested_by")
        .annotate(
            is_organization=Exists(Organization.objects.filter(account_id=OuterRef("new_owner")))
        )
        .order_by(Lower("new_owner__username"))
    )


def ownership_requests_to(user) -> list[OwnershipRequest]:
    """Pending requests ``user`` may answer: to them, or to an organization they administer."""
    if not getattr(user, "is_authenticated", False):
        return []
    administered = Membership.objects.filter(user_id=user.pk, role=Role.ADMINISTRATOR).values(
        "organization_id"
    )
    return list(
        OwnershipRequest.objects.filter(Q(new_owner_id=user.pk) | Q(new_owner_id__in=administered))
        .select_related("package", "new_owner", "requested_by")
        .order_by(Lower("package__name"), Lower("new_owner__username"))
    )


# --- The gallery: who may browse ------------------------------------------------------

# FEED_READ_ACCESS's public value, as feed/conf.py names it (packages cannot import feed).
_READ_PUBLIC = "public"


def gallery_is_private() -> bool:
    return getattr(settings, "FEED_READ_ACCESS", _READ_PUBLIC) != _READ_PUBLIC


def gallery_readable_by(user) -> bool:
    """May ``user`` see the gallery's pages (package list, package pages, profiles, icons)?

    The one rule for every gallery page, following the feed's ``FEED_READ_ACCESS``:
    ``public`` (the default), everyone; ``authenticated`` (a private feed), only
    signed-in users with a confirmed email address, the users who may hold a key
    with the package:read scope, which reads any package its globs cover. Anonymous
    visitors see nothing private. Any other value counts as private: a typo must not
    open a private feed (feed/conf.py refuses it outright).
    """
    if not gallery_is_private():
        return True
    return bool(user.is_authenticated) and has_verified_email(user)


# --- The gallery: the package list ----------------------------------------------------

PAGE_SIZE = 20
# A description shows its first lines in lists, at most this many characters.
SUMMARY_LINES = 3
SUMMARY_CHARS = 300


def description_summary(text: str) -> str:
    """The first lines of a description, for lists; plain text (templates escape it)."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    summary = "\n".join(lines[:SUMMARY_LINES])
    if len(summary) > SUMMARY_CHARS:
        summary = summary[: SUMMARY_CHARS - 1].rstrip() + "…"
    elif len(lines) > SUMMARY_LINES:
        summary += " …"
    return summary


@dataclass(frozen=True)
class ListedPackage:
    """One row of the package list: the package's latest version under the filters."""

    package_id: str
    version: str
    owners: list[str]
    total_downloads: int
    last_updated: object
    tags: list[str]
    summary: str
    title: str
    has_icon: bool


def gallery_search(query: search.SearchQuery) -> tuple[int, list[ListedPackage]]:
    """(matches, this page's packages) for ``query``: ``packages.search`` (the search
    API's query and ranking), then one query for the owners' names as they are spelt."""
    results = search.search(query)
    package_pks = [hit.latest.package_id for hit in results.hits]
    owners: dict[int, list[str]] = {}
    for package_pk, username in (
        Package.owners.through.objects.filter(package_id__in=package_pks)
        .order_by(Lower("user__username"))
        .values_list("package_id", "user__username")
    ):
        owners.setdefault(package_pk, []).append(username)
    return results.total, [
        ListedPackage(
            package_id=hit.package_id,
            version=hit.latest.normalized_version,
            owners=owners.get(hit.latest.package_id, []),
            total_downloads=hit.total_downloads,
            last_updated=hit.latest.pushed_at,
            tags=[str(tag) for tag in hit.latest.tags or []],
            summary=description_summary(hit.latest.description),
            title=hit.latest.title,
            has_icon=bool(hit.latest.icon_path),
        )
        for hit in results.hits
    ]


# --- The gallery: a package's page ----------------------------------------------------


class VersionRow(NamedTuple):
    """One line of a package's versions table, as the query returns it (a tuple: a
    package may have thousands)."""

    pk: int
    version: str  # normalized
    downloads: int
    pushed_on: date  # in the current time zone
    listed: bool
    is_prerelease: bool


@dataclass
class PackagePage:
    package: Package
    shown: PackageVersion
    # Newest first; unlisted versions only for owners.
    versions: list[VersionRow]
    owners: list[str]
    # The viewer acts for one of the owners (the owner, or a member of an owning
    # organization): they see unlisted versions and the Manage link.
    may_manage: bool
    # [{"target_framework", "dependencies": [{"id", "range", "package": ID or ""}]}]
    dependency_groups: list[dict] = field(default_factory=list)


def _shown_version(rows: list[VersionRow]) -> VersionRow:
    """What ``/packages/{id}`` shows: the latest listed stable version, else the latest
    listed one, else the latest (rows newest first)."""
    for wanted in (lambda r: r.listed and not r.is_prerelease, lambda r: r.listed):
        for row in rows:
            if wanted(row):
                return row
    return rows[0]


def package_page_get(package_id: str, version: str | None, *, viewer) -> PackagePage | None:
    """A package's page data, or None for an unknown ID or version. IDs and versions
    compare without case; ``version`` is normalized first (``1.0`` finds ``1.0.0``).

    Five queries whatever the number of versions: the package, its versions' list
    columns, the shown version's row, the owners, the dependencies that are ours.
    """
    package = services.package_find(package_id)
    if package is None:
        return None
    # NuGet's order, newest first, read from the (package, sort_key) index. The day (in
    # the current time zone) comes from the database: on PostgreSQL, Django reads a
    # whole timestamp in Python, a few microseconds a row.
    listing = (
        PackageVersion.objects.filter(package=package)
        .order_by("-sort_key")
        .annotate(pushed_on=TruncDate("pushed_at"))
        .values_list(
            "pk", "normalized_version", "download_count", "pushed_on", "listed", "is_prerelease"
        )
    )
    rows = list(map(VersionRow._make, listing))
    if not rows:
        return None
    if version is None:
        shown_row = _shown_version(rows)
    else:
        normalized = versions.normalize(version)
        if normalized is None:
            return None
        shown_row = next((r for r in rows if r.version.lower() == normalized.lower()), None)
        if shown_row is None:
            return None
    shown = PackageVersion.objects.get(pk=shown_row.pk)
    shown.package = package
    owners = services.package_owners_for(package, viewer)
    may_manage = services.may_publish_package(owners)
    return PackagePage(
        package=package,
        shown=shown,
        versions=[row for row in rows if row.listed or may_manage],
        owners=[owner.name for owner in owners],
        may_manage=may_manage,
        dependency_groups=_dependency_groups(shown.dependencies or []),
    )


def _dependency_groups(groups: list[dict]) -> list[dict]:
    """The shown version's dependency groups, each dependency with our package's ID
    (canonical casing) when the registry has it; one query."""
    wanted = {
        str(dependency.get("id", "")).lower()
        for group in groups
        for dependency in group.get("dependencies", [])
    }
    ours = {}
    if wanted:
        ours = dict(
            Package.objects.annotate(name_lower=Lower("name"))
            .filter(name_lower__in=sorted(wanted))
            .values_list("name_lower", "name")
        )
    return [
        {
            "target_framework": group.get("target_framework", ""),
            "dependencies": [
                {
                    "id": str(dependency.get("id", "")),
                    "range": versions.range_text(str(dependency.get("range", ""))),
                    "package": ours.get(str(dependency.get("id", "")).lower(), ""),
                }
                for dependency in group.get("dependencies", [])
            ],
        }
        for group in groups
    ]


def install_commands(package_id: str, version: str) -> list[tuple[str, str]]:
    """(tab name, command) for each client, as nuget.org writes them."""
    return [
        (".NET CLI", f"dotnet add package {package_id} --version {version}"),
        ("Package Manager", f"NuGet\\Install-Package {package_id} -Version {version}"),
        ("PackageReference", f'<PackageReference Include="{package_id}" Version="{version}" />'),
        ("Paket CLI", f"paket add {package_id} --version {version}"),
        ("Script & Interactive", f'#r "nuget: {package_id}, {version}"'),
        ("Cake", f"#addin nuget:?package={package_id}&version={version}"),
    ]


# --- The gallery: profiles ------------------------------------------------------------


def profile_account_get(name: str):
    """The active account (a user or an organization) named ``name`` in any casing, with
    its organization (``organization_of`` reads it without a query), or None."""
    return (
        get_user_model()
        .objects.select_related("organization")
        .filter(username__iexact=name, is_active=True)
        .first()
    )


def organization_member_names(organization) -> list[str]:
    """The names of ``organization``'s members, sorted without case."""
    return list(
        Membership.objects.filter(organization=organization)
        .order_by(Lower("user__username"))
        .values_list("user__username", flat=True)
    )


def profile_packages(account) -> tuple[list[Package], int]:
    """(the packages ``account`` (a user or an organization) owns that have a listed
    version, by downloads; their downloads together), in one query. Packages with no
    listed version are never listed, as in search."""
    owned = list(
        Package.objects.filter(owners=account, pk__in=SearchEntry.objects.values("package_id"))
        .order_by("-download_count", Lower("name"))
        .only("pk", "name", "download_count")
    )
    return owned, sum(package.download_count for package in owned)
