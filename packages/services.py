"""Pushing, unlisting and relisting package versions, and the package's owners: the
registry's side.

The version services take plain values (who acts, with which key by its ID and hint)
and raise plain exceptions. Whether the actor may do it is decided above, by the
protocol layer that holds the key and its grant (``feed.services``), or by the web
page that holds the signed-in user. Each service writes its row, its file and its
audit event together. Races are settled by the database's unique constraints, never
by an earlier SELECT.

The owner services (ownership requests, removing an owner) are only ever called for a
signed-in person, so they decide who may act themselves, with accounts' roles.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import conf as accounts_conf
from accounts.models import Role
from accounts.services import may_administer, resend_due, with_roles
from audit.database import prepared_cursor
from audit.events import record
from audit.models import EventKind
from packages import emails, ids, stored_file_cache, versions
from packages.models import OwnershipRequest, Package, PackageVersion
from packages.search import search_entry_refresh
from packages.storage import file_name_for, move_into_place, package_storage, save_temporary


class VersionExists(Exception):
    """That version of the package is there already (versions compare normalized)."""

    def __init__(self, package_id: str, version: str):
        super().__init__(f"{package_id} {version}")
        self.package_id = package_id
        self.version = version


class PackageTaken(Exception):
    """The ID was new when the push was decided, and another push created it since.

    The caller decides again, now for an existing package, and pushes again with it.
    """


class NotFound(Exception):
    """No such version, or no such ownership request for this user: answered as 404."""


@dataclass(frozen=True)
class Upload:
    """A received .nupkg: its temporary file and what was learnt while receiving it."""

    file: object  # a readable binary file, positioned anywhere
    size: int
    sha512: str


class _Key(NamedTuple):
    # What the audit log keeps of a key: its ID and hint, never a secret.
    pk: int | None
    hint: str


def package_find(package_id: str) -> Package | None:
    """The package with this ID, compared without case; None for an unknown or invalid ID."""
    if not ids.is_valid(package_id):
        # Also keeps bytes PostgreSQL refuses in a query (NUL) away from it.
        return None
    # Lower(name) is what the unique index holds; iexact would not use it (it
    # compares UPPER() on PostgreSQL and scans on SQLite). IDs are ASCII.
    return (
        Package.objects.annotate(name_lower=Lower("name"))
        .filter(name_lower=package_id.lower())
        .first()
    )


def package_owned_by(package: Package, account_id: int) -> bool:
    """Is the account (a user or an organization) one of ``package``'s owners?"""
    return package.owners.filter(pk=account_id).exists()


def version_find(package_id: str, version: str) -> PackageVersion | None:
    """That version of that package (``1.0`` finds ``1.0.0``), with its package; or None."""
    normalized = versions.normalize(version)
    package = package_find(package_id) if normalized else None
    if package is None:
        return None
    found = (
        PackageVersion.objects.annotate(version_lower=Lower("normalized_version"))
        .filter(package=package, version_lower=normalized.lower())
        .first()
    )
    if found is not None:
        found.package = package
    return found


class StoredFile(NamedTuple):
    """What serving one version's files needs: its row's keys, its file and its digest."""

    pk: int
    package_id: int
    normalized_version: str
    sha512: str
    size: int
    file_name: str
    pushed_at: datetime
    readme_path: str
    icon_path: str


# One raw SELECT with named parameters: every restore downloads every package
# through it, and the ORM's query building costs about ten times the query's own
# time here (1.1 ms against 0.07 ms on SQLite, measured in process). Both
# comparisons are what the unique indexes on LOWER(name) and (package,
# LOWER(normalized_version)) hold. At most one row matches, so no ORDER BY.
_STORED_FILE_SQL = (
    "SELECT v.id, v.package_id, v.normalized_version, v.sha512, v.size, v.file_name, "
    "v.pushed_at, v.readme_path, v.icon_path "
    "FROM packages_packageversion v JOIN packages_package p ON p.id = v.package_id "
    "WHERE LOWER(p.name) = %(package_id)s AND LOWER(v.normalized_version) = %(version)s"
)


def stored_file(package_id: str, version: str) -> StoredFile | None:
    """The file facts of that version of that package (``1.0`` finds ``1.0.0``, IDs
    and versions compared without case), unlisted versions included; or None. On
    PostgreSQL, from this process's memory once it has looked them up
    (packages/stored_file_cache.py)."""
    parsed = versions.parse(version)
    if parsed is None or not ids.is_valid(package_id):
        # An invalid ID may hold bytes PostgreSQL refuses in a query (NUL).
        return None
    key = (package_id.lower(), parsed.normalized.lower())
    return stored_file_cache.cached(key, lambda: _stored_file_row(*key))


def _stored_file_row(lower_id: str, lower_version: str) -> StoredFile | None:
    with prepared_cursor() as cursor:
        cursor.execute(_STORED_FILE_SQL, {"package_id": lower_id, "version": lower_version})
        row = cursor.fetchone()
    if row is None:
        return None
    found = StoredFile(*row)
    if timezone.is_naive(found.pushed_at):
        # A raw cursor gets SQLite's timestamps as naive UTC, PostgreSQL's aware.
        found = found._replace(pushed_at=found.pushed_at.replace(tzinfo=UTC))
    return found


def package_push(
    *,
    package: Package | None,
    upload: Upload,
    metadata,
    actor,
    owner=None,
    api_key_id: int | None = None,
    api_key_hint: str = "",
    request=None,
) -> PackageVersion:
    """Store a new version of ``package``; with ``package=None``, create the package
    under ``metadata.id``, owned by ``owner`` (an organization ``actor`` pushes for),
    else by ``actor``.

    Raises VersionExists (that version is there already) and PackageTaken (the ID
    was created by someone else since the caller looked).
    """
    normalized = metadata.version.normalized
    new_package = package is None
    storage = package_storage()
    temporary = placed = None
    try:
        with transaction.atomic():
            if new_package:
                package = _create_package(metadata.id, owner or actor)
            version = PackageVersion(
                package=package,
                # Every field the nuspec fills, from the one mapping that knows them.
                **metadata.version_fields(),
                size=upload.size,
                sha512=upload.sha512,
                pushed_by=actor,
                api_key_id=api_key_id,
                api_key_hint=api_key_hint,
                # Named before the file is there: nobody sees the row before the
                # commit, which comes after the file is in place.
                file_name=file_name_for(package.name, normalized),
            )
            try:
                with transaction.atomic():
                    version.save(force_insert=True)
            except IntegrityError:
                raise VersionExists(package.name, normalized) from None
            # The row is in first, so a concurrent push of the same version
            # fails above (or waits for this transaction), before touching any file.
            upload.file.seek(0)
            name = version.file_name
            temporary = save_temporary(storage, name, upload.file)
            search_entry_refresh(package=package)
            record(
                EventKind.PACKAGE_PUSHED,
                actor=actor,
                subject_user=actor,
                api_key=_Key(api_key_id, api_key_hint) if api_key_id is not None else None,
                package_id=package.name,
                package_version=normalized,
                request=request,
                details={"size": upload.size, "new_package": new_package},
            )
            # Last before the commit, not after it: dying here leaves a whole file
            # with no row, which the next push of this version replaces; moving
            # after the commit could leave a row whose file never arrives.
            move_into_place(storage, temporary, name)
            temporary, placed = None, name
    except BaseException:
        # Nothing half-written: a file whose row did not commit goes too.
        for leftover in (temporary, placed):
            if leftover is not None:
                storage.delete(leftover)
        raise
    return version


def _create_package(package_id: str, owner) -> Package:
    try:
        with transaction.atomic():
            package = Package.objects.create(name=package_id)
            package.owners.add(owner.pk)
            return package
    except IntegrityError:
        raise PackageTaken(package_id) from None


def package_set_listed(
    *,
    version: PackageVersion,
    listed: bool,
    actor,
    api_key_id: int | None = None,
    api_key_hint: str = "",
    request=None,
) -> PackageVersion:
    """Unlist (``listed=False``) or relist ``version``; idempotent, audited either way."""
    with transaction.atomic():
        changed = PackageVersion.objects.filter(pk=version.pk, listed=not listed).update(
            listed=listed
        )
        version.listed = listed
        search_entry_refresh(package=version.package)
        record(
            EventKind.PACKAGE_RELISTED if listed else EventKind.PACKAGE_UNLISTED,
            actor=actor,
            subject_user=actor,
            api_key=_Key(api_key_id, api_key_hint) if api_key_id is not None else None,
            package_id=version.package.name,
            package_version=version.normalized_version,
            request=request,
            details={"changed": bool(changed)},
        )
    return version


# --- Owners ---------------------------------------------------------------------------
#
# A package has one or more owners, users or organizations. Who acts for an owner is
# accounts' rule (``accounts.services.role_of``): the user who is that owner, or a
# member of that organization; administrators manage owners, collaborators only
# publish. An owner is added by an ownership request that the recipient (or an
# administrator of the recipient organization) accepts; the last owner stays.


@dataclass(frozen=True)
class Owner:
    """One of a package's owners, and the viewer's role for it (None: not theirs)."""

    account: object
    name: str
    is_organization: bool
    viewer_role: str | None

    @property
    def viewer_administers(self) -> bool:
        return self.viewer_role == Role.ADMINISTRATOR


def package_owners_for(package: Package, viewer) -> list[Owner]:
    """``package``'s owners by name, each with ``viewer``'s role for it, in one query.

    The role is ``accounts.services.role_of``'s, read for every owner at once.
    """
    rows = with_roles(package.owners.all(), viewer).order_by(Lower("username"))
    return [
        Owner(
            account=row,
            name=row.get_username(),
            is_organization=row.is_organization,
            viewer_role=row.viewer_role,
        )
        for row in rows
    ]


def may_publish_package(owners: list[Owner]) -> bool:
    """May the viewer of ``owners`` push, unlist and relist: do they act for an owner?"""
    return any(owner.viewer_role is not None for owner in owners)


def may_manage_owners(owners: list[Owner]) -> bool:
    """May the viewer of ``owners`` add and remove owners: do they administer one?"""
    return any(owner.viewer_administers for owner in owners)


def package_publishable_by(package: Package, user) -> bool:
    """May ``user`` push, unlist and relist ``package`` (they act for one of its owners)?"""
    return may_publish_package(package_owners_for(package, user))


def _locked_owners(package: Package, actor) -> list[Owner]:
    """The owners with ``actor``'s roles, the package row locked first: two owner changes
    at once (two removals, say) wait for each other instead of leaving no owner."""
    Package.objects.select_for_update().filter(pk=package.pk).exists()
    owners = package_owners_for(package, actor)
    if not may_manage_owners(owners):
        raise PermissionDenied
    return owners


def _owner_event(kind, *, package, actor, request, subjects, **details) -> None:
    """One event for each account involved (the owners, the other account, the actor),
    so each finds it in its security history."""
    seen = set()
    for subject in [*subjects, actor]:
        if subject is None or subject.pk in seen:
            continue
        seen.add(subject.pk)
        record(kind, actor=actor, subject_user=subject, package_id=package.name,
               request=request, details=details)  # fmt: skip


def _account_named(name: str):
    """The active account (a user or an organization) with this name in any casing."""
    name = (name or "").strip()
    if not name:
        return None
    return get_user_model().objects.filter(username__iexact=name, is_active=True).first()


@transaction.atomic
def ownership_request(*, package: Package, new_owner_name: str, actor, request=None):
    """Ask the user or organization named ``new_owner_name`` to co-own ``package``;
    asking again renews the request (and emails again once
    ``accounts.conf.RESEND_AFTER`` has passed). ``actor`` administers one of the owners
    (PermissionDenied otherwise). Raises ValidationError on ``new_owner``."""
    owners = _locked_owners(package, actor)
    recipient = _account_named(new_owner_name)
    if recipient is None:
        raise ValidationError({"new_owner": _("No user or organization has this name.")})
    if any(owner.account.pk == recipient.pk for owner in owners):
        raise ValidationError(
            {"new_owner": _("%(name)s is already an owner of this package.") % {"name": recipient}}
        )
    now = timezone.now()
    previous = (
        OwnershipRequest.objects.filter(package=package, new_owner=recipient)
        .values_list("created_at", flat=True)
        .first()
    )
    ownership, _created = OwnershipRequest.objects.update_or_create(
        package=package,
        new_owner=recipient,
        defaults={
            "requested_by": actor,
            "created_at": now,
            "expires_at": now + accounts_conf.INVITATION_LIFETIME,
        },
    )
    _owner_event(EventKind.OWNERSHIP_REQUESTED, package=package, actor=actor, request=request,
                 subjects=[o.account for o in owners] + [recipient],
                 owner=recipient.get_username())  # fmt: skip
    if resend_due(previous, now):
        transaction.on_commit(lambda: emails.send_ownership_request(ownership))
    return ownership


def ownership_request_get(request_id: int, user) -> OwnershipRequest:
    """The pending request ``request_id`` that ``user`` may answer (they are its recipient
    or administer the recipient organization); NotFound for anyone else's, an answered
    one, or a made-up ID."""
    ownership = (
        OwnershipRequest.objects.select_related("package", "new_owner", "requested_by")
        .filter(pk=request_id)
        .first()
    )
    if ownership is None or not may_administer(user, ownership.new_owner):
        raise NotFound
    return ownership


def _claim(request_id: int, user) -> OwnershipRequest:
    # Locked, so that of two answers at once the second finds nothing (NotFound).
    locked = OwnershipRequest.objects.select_for_update().filter(pk=request_id).first()
    if locked is None:
        raise NotFound
    ownership = ownership_request_get(request_id, user)
    if ownership.is_expired():
        raise ValidationError(
            _("This ownership request has expired. Ask an owner of the package for a new one.")
        )
    return ownership


@transaction.atomic
def ownership_accept(*, request_id: int, user, request=None) -> Package:
    """Make the request's recipient an owner. Raises NotFound (not theirs to answer, or
    answered already) or ValidationError (expired; nothing changes)."""
    ownership = _claim(request_id, user)
    package, recipient = ownership.package, ownership.new_owner
    ownership.delete()
    package.owners.add(recipient)
    search_entry_refresh(package=package)  # owner: finds the new owner
    owners = list(package.owners.all())
    _owner_event(EventKind.OWNERSHIP_ACCEPTED, package=package, actor=user, request=request,
                 subjects=owners, owner=recipient.get_username())  # fmt: skip
    transaction.on_commit(lambda: emails.send_ownership_answered(ownership, accepted=True))
    return package


@transaction.atomic
def ownership_decline(*, request_id: int, user, request=None) -> None:
    """Decline the request. Raises NotFound or ValidationError, as ``ownership_accept``."""
    ownership = _claim(request_id, user)
    package, recipient = ownership.package, ownership.new_owner
    ownership.delete()
    _owner_event(EventKind.OWNERSHIP_DECLINED, package=package, actor=user, request=request,
                 subjects=[*package.owners.all(), recipient],
                 owner=recipient.get_username())  # fmt: skip
    transaction.on_commit(lambda: emails.send_ownership_answered(ownership, accepted=False))


@transaction.atomic
def ownership_request_cancel(*, package: Package, request_id: int, actor, request=None) -> None:
    """Withdraw ``package``'s pending request ``request_id``; ``actor`` administers one
    of the owners. NotFound when there is no such request (answered already)."""
    owners = _locked_owners(package, actor)
    ownership = (
        OwnershipRequest.objects.select_for_update().filter(pk=request_id, package=package).first()
    )
    if ownership is None:
        raise NotFound
    _cancel(ownership, package=package, owners=owners, actor=actor, request=request)


def _cancel(ownership, *, package, owners, actor, request) -> None:
    recipient = ownership.new_owner
    ownership.delete()
    # Declined by an owner rather than by the recipient: "cancelled" tells them apart.
    _owner_event(EventKind.OWNERSHIP_DECLINED, package=package, actor=actor, request=request,
                 subjects=[o.account for o in owners] + [recipient],
                 owner=recipient.get_username(), cancelled=True)  # fmt: skip
    transaction.on_commit(lambda: emails.send_ownership_cancelled(ownership))


@transaction.atomic
def owner_remove(*, package: Package, owner, actor, request=None) -> None:
    """Remove ``owner`` (a user or an organization) from ``package``'s owners, or cancel
    the pending request to ``owner``. ``actor`` administers one of the owners
    (PermissionDenied otherwise). The last owner stays (ValidationError); NotFound
    when ``owner`` is neither an owner nor asked to be one."""
    owners = _locked_owners(package, actor)
    if not any(o.account.pk == owner.pk for o in owners):
        pending = (
            OwnershipRequest.objects.select_for_update()
            .filter(package=package, new_owner_id=owner.pk)
            .first()
        )
        if pending is None:
            raise NotFound
        _cancel(pending, package=package, owners=owners, actor=actor, request=request)
        return
    if len(owners) == 1:
        raise ValidationError(
            _("A package must keep at least one owner. Add another owner before removing this one.")
        )
    package.owners.remove(owner)
    search_entry_refresh(package=package)
    _owner_event(EventKind.OWNER_REMOVED, package=package, actor=actor, request=request,
                 subjects=[o.account for o in owners],
                 owner=owner.get_username())  # fmt: skip
    if owner.pk != actor.pk:
        transaction.on_commit(
            lambda: emails.send_owner_removed(package=package, owner=owner, actor=actor)
        )
