"""Packages uploaded from the web: the pending file, and the owner's decision on it.

The Upload page receives a .nupkg, shows what it read, and stores it only on
Submit. Until then nothing is in the registry: no row, no file in package
storage. The pending file waits in a private folder of this server
(``PACKAGES_UPLOADS_DIR``, default ``VAR_DIR/uploads``, mode 0700) under a random
name that says nothing the user chose, only whose it is (``<user pk>-<hex>.nupkg``,
so each user has at most one: a new upload deletes the last). The session holds
a signed token naming it, bound to the user and valid for ``LIFETIME``.

Nothing outlives an hour: Submit and Cancel delete the file, a new upload deletes
the previous one, and every request to the Upload page sweeps files older than
``LIFETIME`` (uploads left on the Verify page, or cut off mid-body).

Who may upload what is decided here, with all its facts in hand, by ownership as
on nuget.org: a new ID becomes the uploader's, or an organization's they may publish
for; an existing one needs them to act for one of its owners (the owner itself, or a
member of an owning organization). (API keys add their grants on top of that in the
protocol layer.)
"""

import base64
import contextlib
import hashlib
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core import signing
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.utils.translation import gettext as _

from accounts.services import may_publish_for
from audit.events import package_refusal_record
from packages import conf, nupkg
from packages import services as registry

# How long an upload may wait for Submit, in seconds; older files are swept.
LIFETIME = 3600
FIELD_NAME = "package"
_SESSION_KEY = "packages_pending_upload"
_TOKEN_SALT = "packages.pending-upload"  # noqa: S105 - a signing salt, not a secret
_NAME = re.compile(r"(?P<user>[0-9]+)-[0-9a-f]{32}\.nupkg\Z")


class Expired(Exception):
    """No upload waits under that token: submitted, cancelled, replaced or too old."""


class Refused(Exception):
    """The uploader may not add this package: ``reason`` is shown next to the file field."""

    def __init__(self, code: str, reason: str, *, package_id: str = "", version: str = ""):
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.package_id = package_id
        self.version = version


def uploads_dir() -> Path:
    """The private folder of pending uploads, made on first use (owner-only)."""
    folder = getattr(settings, "PACKAGES_UPLOADS_DIR", None) or Path(settings.VAR_DIR) / "uploads"
    folder = Path(folder)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def _now() -> float:
    return time.time()


# --- Receiving ------------------------------------------------------------------


class _PendingFileHandler(FileUploadHandler):
    """Streams the form's package file into the uploads folder, and no other file.

    It keeps at most ``max_size + 1`` bytes: enough for ``nupkg.read`` to refuse a
    larger file with its own message, while the rest of the body is read and
    dropped (refusing mid-body would leave the browser with a reset connection,
    not the form's error).
    """

    def __init__(self, request, *, user_pk: int, max_size: int):
        super().__init__(request)
        self.user_pk = user_pk
        self.max_size = max_size
        self.path: Path | None = None
        self.file = None
        self.kept = 0
        self._receiving = False

    def new_file(self, field_name, *args, **kwargs):
        super().new_file(field_name, *args, **kwargs)
        # Only the first file of the package field; any other part is read and dropped.
        self._receiving = field_name == FIELD_NAME and self.path is None
        if self._receiving:
            self.path = uploads_dir() / f"{self.user_pk}-{secrets.token_hex(16)}.nupkg"
            descriptor = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
            self.file = os.fdopen(descriptor, "w+b")

    def receive_data_chunk(self, raw_data, start):
        if self._receiving:
            room = self.max_size + 1 - self.kept
            if room > 0:
                self.file.write(raw_data[:room])
                self.kept += min(room, len(raw_data))
        return None

    def file_complete(self, file_size):
        if not self._receiving:
            return None
        self._receiving = False
        self.file.flush()
        self.file.seek(0)
        return UploadedFile(
            file=self.file, name=self.file_name, content_type=self.content_type, size=self.kept
        )


class Receiver:
    """Installs the handler on a request and deletes what it received unless kept.

    Install it before anything reads ``request.POST`` (the view is CSRF-exempt and
    checks CSRF itself, after this); call ``discard_unless_kept()`` in a
    ``finally``, so a refused form, a failed CSRF check or a crash leaves no file.
    """

    def __init__(self, request):
        self.handler = _PendingFileHandler(
            request, user_pk=request.user.pk, max_size=conf.max_package_size()
        )
        request.upload_handlers = [self.handler]
        self._kept = False

    def keep(self, request) -> str:
        """Make the received file the user's pending upload; returns its token."""
        path = self.handler.path
        token = signing.dumps({"name": path.name, "user": request.user.pk}, salt=_TOKEN_SALT)
        request.session[_SESSION_KEY] = token
        self.handler.file.close()
        self._kept = True
        return token

    def discard_unless_kept(self) -> None:
        if self.handler.file is not None and not self._kept:
            self.handler.file.close()
            _delete(self.handler.path)


def discard_all_for(user_pk: int, *, keep: Path | None = None) -> None:
    """Delete the user's pending uploads but ``keep``, whichever session made them."""
    for entry in _entries():
        match = _NAME.match(entry.name)
        if match and int(match["user"]) == user_pk and (keep is None or entry.name != keep.name):
            _delete(Path(entry.path))


def sweep() -> int:
    """Delete pending files older than ``LIFETIME``; returns how many went."""
    oldest = _now() - LIFETIME
    swept = 0
    for entry in _entries():
        with contextlib.suppress(FileNotFoundError):
            if entry.stat().st_mtime < oldest:
                _delete(Path(entry.path))
                swept += 1
    return swept


def _entries():
    with os.scandir(uploads_dir()) as entries:
        return [entry for entry in entries if entry.is_file(follow_symlinks=False)]


def _delete(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


# --- The pending upload -----------------------------------------------------------


@dataclass(frozen=True)
class Pending:
    token: str
    path: Path


def pending_get(request, token: str | None = None) -> Pending | None:
    """The session's pending upload; with ``token``, only if it is that one."""
    current = request.session.get(_SESSION_KEY, "")
    if not current or (token is not None and not secrets.compare_digest(token, current)):
        return None
    path = _path_for(current, request.user.pk)
    if path is None or not path.is_file():
        return None
    return Pending(token=current, path=path)


def _path_for(token: str, user_pk: int) -> Path | None:
    try:
        value = signing.loads(token, salt=_TOKEN_SALT, max_age=LIFETIME)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(value, dict) or value.get("user") != user_pk:
        return None
    name = value.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        return None
    return uploads_dir() / name


def cancel(request, token: str) -> None:
    """Delete the upload ``token`` names, if it is the user's; forget the session's."""
    path = _path_for(token, request.user.pk)
    if path is not None:
        _delete(path)
    if request.session.get(_SESSION_KEY) == token:
        del request.session[_SESSION_KEY]


def forget(request) -> None:
    request.session.pop(_SESSION_KEY, None)


# --- Deciding and storing -----------------------------------------------------------


def upload_target(*, metadata: nupkg.PackageMetadata, user) -> registry.Package | None:
    """The package this upload adds a version to, or None for a new ID.

    Raises Refused when the ID belongs to accounts the user does not act for, or the
    version exists already.
    """
    package = registry.package_find(metadata.id)
    if package is None:
        return None
    if not registry.package_publishable_by(package, user):
        raise Refused(
            "not_owner",
            _(
                "The package ID %(id)s belongs to another account: only its owners can "
                "upload versions of it."
            )
            % {"id": package.name},
            package_id=package.name,
        )
    normalized = metadata.version.normalized
    if registry.version_find(package.name, normalized) is not None:
        raise _exists(package.name, normalized)
    return package


def _exists(package_id: str, version: str) -> Refused:
    return Refused(
        "exists",
        _(
            "Version %(version)s of %(id)s exists already and cannot be replaced: "
            "give the package a new version number."
        )
        % {"id": package_id, "version": version},
        package_id=package_id,
        version=version,
    )


def refusal_record(*, user, refused: Refused, request) -> None:
    """Audit an upload refused for ownership or an existing version."""
    package_refusal_record(actor=user, action="upload", code=refused.code, reason=refused.reason,
                           package_id=refused.package_id, version=refused.version,
                           request=request)  # fmt: skip


def upload_submit(*, pending: Pending, user, request, owner=None) -> registry.PackageVersion:
    """Store the pending upload through the registry's push, as ``user``; the file goes.
    A new ID belongs to ``owner`` (``user`` or an organization they may publish for;
    ``user`` when None); a new version of an existing ID ignores it.

    Raises Expired (another Submit or Cancel took it first), nupkg.InvalidPackage
    and Refused; the pending file is deleted whatever the outcome.
    """
    # Claimed by a rename: of two Submits of one upload, only one finds the file.
    claimed = pending.path.with_suffix(".submitting")
    try:
        os.rename(pending.path, claimed)
    except FileNotFoundError:
        raise Expired from None
    try:
        with open(claimed, "rb") as file:
            metadata = nupkg.read(file)
            size = file.seek(0, os.SEEK_END)
            file.seek(0)
            digest = hashlib.file_digest(file, "sha512").digest()
            upload = registry.Upload(
                file=file, size=size, sha512=base64.b64encode(digest).decode("ascii")
            )
            return _push(upload=upload, metadata=metadata, user=user, owner=owner, request=request)
    finally:
        _delete(claimed)


def _push(*, upload, metadata, user, owner, request) -> registry.PackageVersion:
    try:
        return _store(upload=upload, metadata=metadata, user=user, owner=owner, request=request)
    except registry.PackageTaken:
        # Another push created the ID a moment ago: decide again, for the package
        # as it now is (it exists now, so this cannot happen twice).
        return _store(upload=upload, metadata=metadata, user=user, owner=owner, request=request)


def _store(*, upload, metadata, user, owner, request) -> registry.PackageVersion:
    package = upload_target(metadata=metadata, user=user)
    if package is None and owner is not None and not may_publish_for(user, owner):
        # Chosen on the Verify page, and no longer theirs to choose (they left it).
        raise Refused(
            "not_member",
            _(
                "You can no longer publish for %(owner)s. Upload the package again and "
                "choose another package owner."
            )
            % {"owner": owner.get_username()},
            package_id=metadata.id,
        )
    try:
        return registry.package_push(
            package=package,
            upload=upload,
            metadata=metadata,
            actor=user,
            owner=owner if package is None else None,
            request=request,
        )
    except registry.VersionExists as exists:
        raise _exists(exists.package_id, exists.version) from None
