"""Where .nupkg files live: Django's storage API, so an object store can replace the folder.

A package's file reaches its canonical name whole or not at all: it is written
under a temporary name beside it, then moved into place in one step
(``os.replace`` on a folder; on an object store, where each object appears whole
once written, a copy). A worker killed mid-write leaves only a temporary file,
never a truncated package at the name clients download.
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


def save_temporary(storage, name: str, content) -> str:
    """Save ``content`` under a fresh temporary name in ``name``'s folder; returns it."""
    folder, base = posixpath.split(name)
    # A dot first: no listing or glob of "*.nupkg" picks up a half-written file.
    temporary = posixpath.join(folder, f".{base}.{secrets.token_hex(8)}.part")
    try:
        return storage.save(temporary, File(content, name=base))
    except BaseException:
        # A write that failed midway may have left part of the file behind.
        with contextlib.suppress(Exception):
            storage.delete(temporary)
        raise


def move_into_place(storage, temporary: str, name: str) -> None:
    """Put the file saved as ``temporary`` at ``name``, replacing whatever is there.

    Something at ``name`` can only be a leftover with no row (a push that died
    after the move, before its commit): the caller holds the version's row, which
    no other push can insert meanwhile.
    """
    try:
        source, target = storage.path(temporary), storage.path(name)
    except NotImplementedError:
        source = target = None
    if source is not None:
        # Same folder, same file system: an atomic rename over any leftover.
        os.replace(source, target)
        return
    # No local path (an object store, where an object appears whole once
    # written): a copy, as a rename there is anyway.
    if storage.exists(name):
        storage.delete(name)
    with storage.open(temporary, "rb") as content:
        stored = storage.save(name, content)
    storage.delete(temporary)
    if stored != name:
        storage.delete(stored)
        raise OSError(f"the storage saved {name!r} as {stored!r}")
