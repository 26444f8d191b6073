"""Where .nupkg files live: Django's storage API, so an object store can replace the folder.

A package's file reaches its canonical name whole or not at all, and before its
row commits (packages/services.py), so no committed row ever names a missing or
truncated file:

- on a folder it is written under a temporary name beside it, then moved into
  place in one step (``os.replace``): a worker killed mid-write leaves only a
  temporary file, never a truncated package at the name clients download;
- on S3 it is uploaded straight to its name. S3 has no rename, and needs none: an
  object appears only once its upload completes (a single PUT, or the last step
  of a multipart upload), so a half-sent package is never visible under any name.
  A temporary key would cost a server-side copy and a delete for every push and
  leave orphans of its own; an upload that fails is aborted and leaves nothing;
- on any other backend, a temporary name and then a copy.

Whatever the backend, a push that fails after writing (the row's transaction
rolls back) deletes the file; a worker killed between the write and the commit
leaves a whole file with no row, which the next push of that version replaces.
"""

import contextlib
import os
import posixpath
import secrets

from django.core.files import File
from django.core.files.storage import storages


def package_storage():
    return storages["packages"]


def file_name_for(package_id: str, normalized_version: str) -> str:
    # Lower-case, as NuGet's flat container lays files out: IDs and versions
    # compare case-insensitively, so their files must not differ by case.
    package_id, version = package_id.lower(), normalized_version.lower()
    return f"{package_id}/{version}/{package_id}.{version}.nupkg"


def _writes_whole_objects(storage) -> bool:
    """True for S3, where an object becomes visible only once its upload completes."""
    try:
        from storages.backends.s3 import S3Storage
    except ImportError:  # the s3 extra is not installed, so this is no S3 storage
        return False
    return isinstance(storage, S3Storage)


def save_temporary(storage, name: str, content) -> str:
    """Save ``content`` where ``move_into_place`` will take it from; returns that name.

    A fresh temporary name in ``name``'s folder, or ``name`` itself on a store that
    never shows a partly written object (see the module's docstring).
    """
    if _writes_whole_objects(storage):
        temporary = name
    else:
        folder, base = posixpath.split(name)
        # A dot first: no listing or glob of "*.nupkg" picks up a half-written file.
        temporary = posixpath.join(folder, f".{base}.{secrets.token_hex(8)}.part")
    try:
        stored = storage.save(temporary, File(content, name=posixpath.basename(name)))
    except BaseException:
        # A write that failed midway may have left part of the file behind.
        with contextlib.suppress(Exception):
            storage.delete(temporary)
        raise
    if temporary == name:
        _check_saved_as(storage, name, stored)
    return stored


def move_into_place(storage, temporary: str, name: str) -> None:
    """Put the file saved as ``temporary`` at ``name``, replacing whatever is there.

    Something at ``name`` can only be a leftover with no row (a push that died
    after the move, before its commit): the caller holds the version's row, which
    no other push can insert meanwhile.
    """
    if temporary == name:  # uploaded in place: S3 replaced any leftover atomically
        return
    try:
        source, target = storage.path(temporary), storage.path(name)
    except NotImplementedError:
        source = target = None
    if source is not None:
        # Same folder, same file system: an atomic rename over any leftover.
        os.replace(source, target)
        return
    # Neither a local path nor S3: a copy, as a rename there is anyway.
    if storage.exists(name):
        storage.delete(name)
    with storage.open(temporary, "rb") as content:
        stored = storage.save(name, content)
    storage.delete(temporary)
    _check_saved_as(storage, name, stored)


def _check_saved_as(storage, name: str, stored: str) -> None:
    # A backend told not to overwrite (file_overwrite=False) picks another name;
    # the package's row names only the canonical one.
    if stored != name:
        storage.delete(stored)
        raise OSError(f"the storage saved {name!r} as {stored!r}")
