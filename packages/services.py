"""Pushing, unlisting and relisting package versions.

Each service decides with the key's grant, writes its row, its file and its
audit event together, and records a refusal with its reason. Races are settled
by the database's unique constraints, never by an earlier SELECT.
"""

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models.functions import Lower

from apikeys.scopes import Action, Denied
from audit.events import record
from audit.models import EventKind
from packages import versions
from packages.models import Package, PackageVersion
from packages.storage import file_name_for, package_storage


class Refused(Exception):
    """The key may not do this; ``denied`` says why (for the audit log only)."""

    def __init__(self, denied: Denied):
        super().__init__(denied.reason)
        self.denied = denied


class VersionExists(Exception):
    pass


class NotFound(Exception):
    pass


@dataclass(frozen=True)
class Upload:
    """A received .nupkg: its temporary file and what was learnt while receiving it."""

    file: object  # a readable binary file, positioned anywhere
    size: int
    sha512: str


def _refuse(denied: Denied, *, api_key, action: str, package_id: str, version: str, request):
    record(
        EventKind.PACKAGE_REFUSED,
        actor=api_key.owner,
        subject_user=api_key.owner,
        api_key=api_key,
        package_id=package_id,
        package_version=version,
        request=request,
        details={"action": action, "code": denied.code, "reason": denied.reason},
    )
    raise Refused(denied)


def _find_package(package_id: str) -> Package | None:
    # Lower(name) is what the unique index holds; iexact would not use it (it
    # compares UPPER() on PostgreSQL and scans on SQLite). IDs are ASCII.
    return (
        Package.objects.annotate(name_lower=Lower("name"))
        .filter(name_lower=package_id.lower())
        .first()
    )


def _owns(package: Package, user_id: int) -> bool:
    return package.owners.filter(pk=user_id).exists()


def package_push(*, upload: Upload, metadata, api_key, request=None) -> PackageVersion:
    """Store a new version pushed with ``api_key``; create the package if its ID is new.

    Raises Refused (the key may not), VersionExists (that version is there already).
    """
    package_id = metadata.id
    normalized = metadata.version.normalized
    package = _find_package(package_id)
    exists = package is not None
    decision = api_key.grant.allows(
        Action.PUSH,
        package_id,
        package_exists=exists,
        owner_owns_package=exists and _owns(package, api_key.owner_id),
    )
    if not decision:
        _refuse(decision, api_key=api_key, action="push", package_id=package_id,
                version=normalized, request=request)  # fmt: skip

    storage = package_storage()
    stored_name = None
    try:
        with transaction.atomic():
            if package is None:
                package = _create_package(package_id, api_key)
            version = PackageVersion(
                package=package,
                version=metadata.version.original,
                normalized_version=normalized,
                size=upload.size,
                sha512=upload.sha512,
                authors=metadata.authors,
                title=metadata.title,
                description=metadata.description,
                summary=metadata.summary,
                tags=list(metadata.tags),
                project_url=metadata.project_url,
                license_expression=metadata.license_expression,
                dependencies=metadata.dependencies,
                is_prerelease=metadata.version.is_prerelease,
                pushed_by=api_key.owner,
                api_key_id=api_key.pk,
                api_key_hint=api_key.hint,
            )
            try:
                with transaction.atomic():
                    version.save(force_insert=True)
            except IntegrityError:
                raise VersionExists from None
            # The row is in first, so a concurrent push of the same version
            # fails above, before writing any file.
            upload.file.seek(0)
            stored_name = storage.save(file_name_for(package.name, normalized), upload.file)
            version.file_name = stored_name
            version.save(update_fields=["file_name"])
            record(
                EventKind.PACKAGE_PUSHED,
                actor=api_key.owner,
                subject_user=api_key.owner,
                api_key=api_key,
                package_id=package.name,
                package_version=normalized,
                request=request,
                details={"size": upload.size, "new_package": not exists},
            )
    except BaseException as error:
        # Nothing half-written: a file whose row did not commit goes too.
        if stored_name is not None:
            storage.delete(stored_name)
        if isinstance(error, _RaceLost):
            _refuse(error.denied, api_key=api_key, action="push", package_id=package_id,
                    version=normalized, request=request)  # fmt: skip
        raise
    return version


def _create_package(package_id: str, api_key) -> Package:
    """Create the package owned by the key's owner. If someone created the same ID
    a moment ago, the constraint says so and the grant decides again."""
    try:
        with transaction.atomic():
            package = Package.objects.create(name=package_id)
            package.owners.add(api_key.owner_id)
            return package
    except IntegrityError:
        package = _find_package(package_id)
        decision = api_key.grant.allows(
            Action.PUSH,
            package_id,
            package_exists=True,
            owner_owns_package=_owns(package, api_key.owner_id),
        )
        if not decision:
            raise _RaceLost(decision) from None
        return package


class _RaceLost(Exception):
    def __init__(self, denied: Denied):
        self.denied = denied


def package_set_listed(
    *, api_key, package_id: str, version: str, listed: bool, request=None
) -> PackageVersion:
    """Unlist (``listed=False``) or relist a version. Raises NotFound or Refused."""
    action = "relist" if listed else "unlist"
    normalized = versions.normalize(version)
    package = _find_package(package_id) if normalized else None
    found = (
        PackageVersion.objects.annotate(version_lower=Lower("normalized_version"))
        .filter(package=package, version_lower=normalized.lower())
        .first()
        if package is not None
        else None
    )
    if found is None:
        raise NotFound
    decision = api_key.grant.allows(
        Action.UNLIST,
        package.name,
        package_exists=True,
        owner_owns_package=_owns(package, api_key.owner_id),
    )
    if not decision:
        _refuse(decision, api_key=api_key, action=action, package_id=package.name,
                version=found.normalized_version, request=request)  # fmt: skip
    with transaction.atomic():
        changed = PackageVersion.objects.filter(pk=found.pk, listed=not listed).update(
            listed=listed
        )
        found.listed = listed
        record(
            EventKind.PACKAGE_RELISTED if listed else EventKind.PACKAGE_UNLISTED,
            actor=api_key.owner,
            subject_user=api_key.owner,
            api_key=api_key,
            package_id=package.name,
            package_version=found.normalized_version,
            request=request,
            details={"changed": bool(changed)},
        )
    return found
