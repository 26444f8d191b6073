"""Files inside a stored package (the readme, the icon, the manifest), read in place.

A member is streamed out of the stored .nupkg, never extracted whole; the flat
container serves members through ``open_member`` and the gallery pages read the
readme and the icon the same way.
"""

import zipfile
from dataclasses import dataclass

from packages.storage import package_storage

README_TYPES = {".md": "text/markdown; charset=utf-8", ".txt": "text/plain; charset=utf-8"}
ICON_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
# What damage to a stored zip raises on the way in; the package was read at push,
# so damage since then is the store's, not the reader's.
_ZIP_ERRORS = (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, RuntimeError)


class Unreadable(Exception):
    """The stored package file is there but cannot be read as a zip."""


class TooLarge(Exception):
    """The member is larger than the reader's limit."""


def extension(path: str) -> str:
    last = path.rsplit("/", 1)[-1]
    return "." + last.rsplit(".", 1)[-1].lower() if "." in last else ""


def named(path: str):
    """A test for entry names that name ``path``; nuget pack writes "/", some tools "\\"."""
    wanted = path.replace("\\", "/").lower()
    return lambda entry_name: entry_name.replace("\\", "/").lower() == wanted


@dataclass
class Member:
    entry: zipfile.ZipInfo
    stream: object
    _archive: zipfile.ZipFile
    _stored: object

    def chunks(self, size: int):
        """The member's bytes in chunks; closes everything when done or abandoned."""
        try:
            while chunk := self.stream.read(size):
                yield chunk
        finally:
            self.close()

    def close(self) -> None:
        for opened in (self.stream, self._archive, self._stored):
            if opened is not None:
                opened.close()


def open_member(file_name: str, matches, *, open_stream: bool = True) -> Member | None:
    """The first entry of the stored package ``file_name`` whose name ``matches``, opened;
    ``None`` when there is none. Raises FileNotFoundError when the file is missing from
    storage and Unreadable when it is damaged. The caller closes the member."""
    stored = package_storage().open(file_name, "rb")
    try:
        archive = zipfile.ZipFile(stored)
        entry = next((e for e in archive.infolist() if matches(e.filename)), None)
        if entry is None:
            archive.close()
            stored.close()
            return None
        stream = archive.open(entry) if open_stream else None
    except _ZIP_ERRORS as error:
        stored.close()
        raise Unreadable(str(error)) from error
    return Member(entry, stream, archive, stored)


def read_member(file_name: str, path: str, *, limit: int) -> bytes | None:
    """The bytes of the entry at ``path``, or ``None`` when it or the package file is
    missing or unreadable. Raises TooLarge when it holds more than ``limit`` bytes."""
    try:
        member = open_member(file_name, named(path), open_stream=False)
    except (FileNotFoundError, Unreadable):
        return None
    if member is None:
        return None
    try:
        if member.entry.file_size > limit:
            raise TooLarge(path)
        member.stream = member._archive.open(member.entry)
        data = member.stream.read(limit + 1)
    except _ZIP_ERRORS:
        return None
    finally:
        member.close()
    if len(data) > limit:  # the header understated the size
        raise TooLarge(path)
    return data
