"""Pushing, unlisting and relisting package versions: the registry's side.

The services take plain values (who acts, with which key by its ID and hint) and
raise plain exceptions. Whether the actor may do it is decided above, by the
protocol layer that holds the key and its grant (``feed.services``). Each service
writes its row, its file and its audit event together. Races are settled by the
database's unique constraints, never by an earlier SELECT.
"""

from dataclasses import dataclass
from typing import NamedTuple

from django.db import IntegrityError, transaction
from django.db.models.functions import Lower

from audit.events import record
from audit.models import EventKind
from packages import ids, versions
from packages.models import Package, PackageVersion
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
    pass


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
            )
            try:
                with transaction.atomic():
                    version.save(force_insert=True)
            except IntegrityError:
                raise VersionExists(package.name, normalized) from None
            # The row is in first, so a concurrent push of the same version
            # fails above (or waits for this transaction), before touching any file.
            upload.file.seek(0)
            name = file_name_for(package.name, normalized)
            temporary = save_temporary(storage, name, upload.file)
            version.file_name = name
            version.save(update_fields=["file_name"])
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
