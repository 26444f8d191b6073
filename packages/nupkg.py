"""Reading a .nupkg: the one module that opens the zip and the nuspec inside it.

``read(file)`` returns ``PackageMetadata`` or raises ``InvalidPackage``, and nothing
else, whatever the bytes. Checks run cheapest first, and nothing is extracted but
the nuspec, read with a bound:

1. the file's size (``too_large``);
2. the zip directory: its entry count before zipfile builds it (``too_many_entries``),
   then zipfile itself (``not_zip``);
3. every entry's path (``unsafe_path``), the entry count (``too_many_entries``) and
   the declared uncompressed total (``too_large_uncompressed``);
4. exactly one ``*.nuspec`` at the root (``no_nuspec``, ``several_nuspecs``), no two
   entries that extract to the same file (``duplicate_entry``: equal names, ignoring
   case and the kind of slash), the nuspec's size (``nuspec_too_large``) and its
   data (``unreadable_nuspec``);
5. the XML, with DTDs and entities forbidden (``bad_xml``), the nuspec shape
   (``bad_nuspec``), the required elements (``missing_metadata``), the ID
   (``bad_id``), the version (``bad_version``) and dependency IDs (``bad_dependency``).

``InvalidPackage.reason`` goes into an HTTP reason phrase (clients print that, not
the body), so it is one short line, and details quoted from the package are cut
to printable ASCII.
"""

import lzma
import os
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass
from typing import BinaryIO
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree
from defusedxml import DefusedXmlException
from django.utils.translation import gettext as _

from packages import conf, ids, versions

NUSPEC_NAMESPACES = frozenset(
    {
        "http://schemas.microsoft.com/packaging/2010/07/nuspec.xsd",
        "http://schemas.microsoft.com/packaging/2011/08/nuspec.xsd",
        "http://schemas.microsoft.com/packaging/2012/06/nuspec.xsd",
        "http://schemas.microsoft.com/packaging/2013/01/nuspec.xsd",
        "http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd",
        "",  # the oldest nuspecs have no namespace
    }
)

CODES = frozenset(
    {
        "too_large",
        "not_zip",
        "unsafe_path",
        "too_many_entries",
        "too_large_uncompressed",
        "no_nuspec",
        "several_nuspecs",
        "duplicate_entry",
        "nuspec_too_large",
        "unreadable_nuspec",
        "bad_xml",
        "bad_nuspec",
        "missing_metadata",
        "bad_id",
        "bad_version",
        "bad_dependency",
    }
)

# What zipfile and the decompressors raise on hostile bytes: BadZipFile for most
# damage, OSError/ValueError for impossible seeks and bad bz2 streams,
# NotImplementedError for unknown compression methods, RuntimeError for encrypted
# members, EOFError for truncated streams, OverflowError for absurd zip64 offsets.
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    OSError,
    ValueError,
    EOFError,
    NotImplementedError,
    RuntimeError,
    OverflowError,
    struct.error,
    zlib.error,
    lzma.LZMAError,
)

_DRIVE = re.compile(r"[A-Za-z]:")
_SEPARATORS = re.compile(r"[/\\]")
_TAG_SEPARATORS = re.compile(r"[\s,]+")
_CENTRAL_DIRECTORY_HEADER_SIZE = 46
_CENTRAL_DIRECTORY_SIGNATURE = b"PK\x01\x02"


class InvalidPackage(Exception):
    """The package was refused: ``code`` for machines (see ``CODES``), ``reason`` for people."""

    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class PackageMetadata:
    """What the registry keeps from a nuspec. Optional texts are ``""`` when absent."""

    id: str
    version: versions.NuGetVersion
    authors: str
    description: str
    title: str
    tags: list[str]
    project_url: str
    license_expression: str
    summary: str
    # [{"target_framework": "net8.0" or "" (any), "dependencies": [{"id", "range"}]}]
    dependencies: list[dict]
    min_client_version: str
    requires_license_acceptance: bool
    nuspec_name: str
    license_url: str = ""
    icon_url: str = ""
    # Files inside the package named by <icon> and <readme>, with "/" separators.
    icon_path: str = ""
    readme_path: str = ""
    release_notes: str = ""
    language: str = ""

    def version_fields(self) -> dict:
        """The ``PackageVersion`` fields this metadata fills, by field name."""
        return {
            "version": self.version.original,
            "normalized_version": self.version.normalized,
            "is_prerelease": self.version.is_prerelease,
            "is_semver2": self.version.is_semver2,
            "authors": self.authors,
            "title": self.title,
            "description": self.description,
            "summary": self.summary,
            "tags": list(self.tags),
            "project_url": self.project_url,
            "license_expression": self.license_expression,
            "license_url": self.license_url,
            "icon_url": self.icon_url,
            "icon_path": self.icon_path,
            "readme_path": self.readme_path,
            "release_notes": self.release_notes,
            "language": self.language,
            "dependencies": self.dependencies,
            "min_client_version": self.min_client_version,
            "require_license_acceptance": self.requires_license_acceptance,
        }


def read(file: str | os.PathLike | BinaryIO) -> PackageMetadata:
    """The metadata of the .nupkg at ``file`` (a path or a seekable binary file).

    Raises ``InvalidPackage`` for anything wrong with the bytes. Errors opening a
    path propagate: a missing file is a bug or a storage failure, not a bad
    package. A file object is left at the position it had.
    """
    if isinstance(file, bytes | bytearray | memoryview):
        raise TypeError("read() takes a path or a binary file object; wrap bytes in io.BytesIO.")
    if isinstance(file, str | os.PathLike):
        with open(file, "rb") as fp:
            return _read(fp)
    position = file.tell()
    try:
        return _read(file)
    finally:
        file.seek(position)


def _read(fp: BinaryIO) -> PackageMetadata:
    limit = conf.max_package_size()
    if fp.seek(0, os.SEEK_END) > limit:
        raise InvalidPackage(
            "too_large", _("The package is larger than %(limit)s.") % {"limit": _size(limit)}
        )

    max_entries = conf.max_entries()
    try:
        if _count_entries(fp, max_entries) > max_entries:
            raise _too_many_entries(max_entries)
        archive = zipfile.ZipFile(fp)
    except _ZIP_ERRORS as exc:
        raise InvalidPackage("not_zip", _("The package is not a valid zip archive.")) from exc

    with archive:
        entries = archive.infolist()
        _check_entries(entries, max_entries)
        nuspec = _find_nuspec(entries)
        _check_unique_names(entries)
        data = _read_nuspec(archive, nuspec)
    return _metadata(_parse_xml(data), nuspec.filename)


def _count_entries(fp: BinaryIO, limit: int) -> int:
    """The zip directory's entry count, counting no further than ``limit + 1``.

    zipfile builds an object for every entry (about 500 bytes each) before we can
    count them, so a 250 MiB upload of empty entries would cost gigabytes. Walking
    the directory's fixed-size headers first costs no memory. We locate the
    directory with zipfile's own (private, long-stable) end-record reader so we
    count exactly what it would read; without it, or when in doubt, we return 0
    and leave the judgement to zipfile and the count after it.
    """
    end_record = getattr(zipfile, "_EndRecData", None)
    if end_record is None:
        return 0
    try:
        record = end_record(fp)
        if not record:
            return 0
        size = record[zipfile._ECD_SIZE]
        # As zipfile does: the directory ends where the end records begin, which
        # also finds it in a zip with bytes prepended.
        start = record[zipfile._ECD_LOCATION] - size
        if record[zipfile._ECD_SIGNATURE] == zipfile.stringEndArchive64:
            start -= zipfile.sizeEndCentDir64 + zipfile.sizeEndCentDir64Locator
    except AttributeError:
        return 0
    if start < 0:
        return 0

    fp.seek(start)
    count = walked = 0
    while walked < size and count <= limit:
        header = fp.read(_CENTRAL_DIRECTORY_HEADER_SIZE)
        if len(header) != _CENTRAL_DIRECTORY_HEADER_SIZE:
            break
        if not header.startswith(_CENTRAL_DIRECTORY_SIGNATURE):
            break
        # The file name, extra field and comment lengths follow the fixed fields.
        name, extra, comment = struct.unpack_from("<3H", header, 28)
        fp.seek(name + extra + comment, os.SEEK_CUR)
        walked += len(header) + name + extra + comment
        count += 1
    return count


def _check_entries(entries: list[zipfile.ZipInfo], max_entries: int) -> None:
    for entry in entries:
        if _is_unsafe(entry.filename):
            raise InvalidPackage(
                "unsafe_path",
                _("The package holds a file with an unsafe path: %(name)s")
                % {"name": _shown(entry.filename)},
            )
    if len(entries) > max_entries:
        raise _too_many_entries(max_entries)
    limit = conf.max_uncompressed_size()
    # Declared sizes: nothing is extracted here, so a lie costs us nothing, and the
    # nuspec, the one file we read, has its own bounded read.
    if sum(entry.file_size for entry in entries) > limit:
        raise InvalidPackage(
            "too_large_uncompressed",
            _("The package's files add up to more than %(limit)s uncompressed.")
            % {"limit": _size(limit)},
        )


def _check_unique_names(entries: list[zipfile.ZipInfo]) -> None:
    # Two entries that extract to the same file: zip readers disagree on which one
    # wins, and on Windows (and macOS) so do "lib/A.dll" and "lib\\a.dll".
    seen = set()
    for entry in entries:
        key = entry.filename.replace("\\", "/").lower()
        if key in seen:
            raise InvalidPackage(
                "duplicate_entry",
                _("The package holds two files named %(name)s.") % {"name": _shown(entry.filename)},
            )
        seen.add(key)


def _is_unsafe(name: str) -> bool:
    # Both separators: Windows clients extract "a\\..\\b" as a path too.
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        return True
    return ".." in _SEPARATORS.split(name)


def _too_many_entries(limit: int) -> InvalidPackage:
    return InvalidPackage(
        "too_many_entries", _("The package holds more than %(max)d files.") % {"max": limit}
    )


def _find_nuspec(entries: list[zipfile.ZipInfo]) -> zipfile.ZipInfo:
    found = [
        entry
        for entry in entries
        if entry.filename.lower().endswith(".nuspec") and not _SEPARATORS.search(entry.filename)
    ]
    if not found:
        raise InvalidPackage("no_nuspec", _("The package has no .nuspec file at its root."))
    # Two entries of the same name count twice: readers disagree on which one wins.
    if len(found) > 1:
        raise InvalidPackage(
            "several_nuspecs", _("The package has more than one .nuspec file at its root.")
        )
    return found[0]


def _read_nuspec(archive: zipfile.ZipFile, entry: zipfile.ZipInfo) -> bytes:
    limit = conf.max_nuspec_size()
    too_large = InvalidPackage(
        "nuspec_too_large",
        _("The package's .nuspec is larger than %(limit)s.") % {"limit": _size(limit)},
    )
    if entry.file_size > limit:
        raise too_large
    try:
        with archive.open(entry) as member:
            # One byte more than allowed: the declared size may lie.
            data = member.read(limit + 1)
    except _ZIP_ERRORS as exc:
        raise InvalidPackage(
            "unreadable_nuspec",
            _(
                "The package's .nuspec cannot be read: it is damaged, encrypted or compressed "
                "with an unsupported method."
            ),
        ) from exc
    if len(data) > limit:
        raise too_large
    return data


def _parse_xml(data: bytes) -> Element:
    try:
        return defusedxml.ElementTree.fromstring(
            data, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException as exc:
        raise InvalidPackage(
            "bad_xml", _("The package's .nuspec may not contain a DTD or entities.")
        ) from exc
    except ParseError as exc:
        line = exc.position[0] if getattr(exc, "position", None) else 0
        raise InvalidPackage(
            "bad_xml",
            _("The package's .nuspec is not well-formed XML (line %(line)d).") % {"line": line},
        ) from exc
    except (ValueError, LookupError) as exc:  # odd encodings, decoding failures
        raise InvalidPackage("bad_xml", _("The package's .nuspec is not well-formed XML.")) from exc


def _metadata(root: Element, nuspec_name: str) -> PackageMetadata:
    namespace, local = _split_tag(root.tag)
    if local != "package" or namespace not in NUSPEC_NAMESPACES:
        raise InvalidPackage(
            "bad_nuspec", _("The .nuspec's root element is not a nuspec <package>.")
        )
    # Every nuspec element lives in the root's namespace, whichever schema year it is.
    fields = _Fields(namespace)
    metadata = fields.one(root, "metadata")
    if metadata is None:
        raise _missing("metadata")

    required = {
        name: fields.text(metadata, name) for name in ("id", "version", "authors", "description")
    }
    for name, value in required.items():
        if not value:
            raise _missing(name)

    package_id = required["id"]
    if not ids.is_valid(package_id):
        raise InvalidPackage(
            "bad_id",
            _('"%(id)s" is not a valid package ID: use letters, digits and _ joined by . or -')
            % {"id": _shown(package_id)},
        )
    version = versions.parse(required["version"])
    if version is None:
        raise InvalidPackage(
            "bad_version",
            _('"%(version)s" is not a valid NuGet version.')
            % {"version": _shown(required["version"])},
        )

    min_client_version = (metadata.get("minClientVersion") or "").strip()
    if min_client_version and versions.parse(min_client_version) is None:
        raise InvalidPackage(
            "bad_nuspec",
            _('The .nuspec\'s minClientVersion "%(version)s" is not a valid version.')
            % {"version": _shown(min_client_version)},
        )

    license_element = fields.one(metadata, "license")
    license_expression = ""
    if license_element is not None and license_element.get("type") == "expression":
        license_expression = fields.text(metadata, "license")

    return PackageMetadata(
        id=package_id,
        version=version,
        authors=required["authors"],
        description=required["description"],
        title=fields.text(metadata, "title"),
        tags=_tags(fields.text(metadata, "tags")),
        project_url=fields.text(metadata, "projectUrl"),
        license_expression=license_expression,
        summary=fields.text(metadata, "summary"),
        dependencies=_dependencies(fields, metadata),
        min_client_version=min_client_version,
        requires_license_acceptance=fields.text(metadata, "requireLicenseAcceptance").lower()
        in ("true", "1"),
        nuspec_name=nuspec_name,
        license_url=fields.text(metadata, "licenseUrl"),
        icon_url=fields.text(metadata, "iconUrl"),
        icon_path=_package_path(fields.text(metadata, "icon")),
        readme_path=_package_path(fields.text(metadata, "readme")),
        release_notes=fields.text(metadata, "releaseNotes"),
        language=fields.text(metadata, "language"),
    )


class _Fields:
    """Child lookups by local name in one namespace; a repeated element is refused.

    The nuspec schema allows each element once; where readers would pick
    different copies (first, last), the ID and version we check could differ from
    what a client installs, so we take none.
    """

    def __init__(self, namespace: str):
        self.namespace = namespace

    def tag(self, local: str) -> str:
        return f"{{{self.namespace}}}{local}" if self.namespace else local

    def all(self, parent: Element, local: str) -> list[Element]:
        tag = self.tag(local)
        return [child for child in parent if child.tag == tag]

    def one(self, parent: Element, local: str) -> Element | None:
        found = self.all(parent, local)
        if len(found) > 1:
            raise InvalidPackage(
                "bad_nuspec",
                _("The .nuspec has more than one <%(element)s>.") % {"element": local},
            )
        return found[0] if found else None

    def text(self, parent: Element, local: str) -> str:
        """The element's text, nested text included, stripped; "" when absent."""
        element = self.one(parent, local)
        return "".join(element.itertext()).strip() if element is not None else ""


def _dependencies(fields: _Fields, metadata: Element) -> list[dict]:
    element = fields.one(metadata, "dependencies")
    if element is None:
        return []
    groups = fields.all(element, "group")
    # As NuGet reads them: groups when there are any (flat entries beside them
    # are ignored); otherwise the flat list is one group for any framework.
    if groups:
        return [
            {
                "target_framework": (group.get("targetFramework") or "").strip(),
                "dependencies": _dependency_list(fields, group),
            }
            for group in groups
        ]
    flat = _dependency_list(fields, element)
    return [{"target_framework": "", "dependencies": flat}] if flat else []


def _dependency_list(fields: _Fields, parent: Element) -> list[dict]:
    found = []
    for dependency in fields.all(parent, "dependency"):
        dependency_id = (dependency.get("id") or "").strip()
        if not ids.is_valid(dependency_id):
            raise InvalidPackage(
                "bad_dependency",
                _('The dependency "%(id)s" is not a valid package ID.')
                % {"id": _shown(dependency_id)},
            )
        found.append({"id": dependency_id, "range": (dependency.get("version") or "").strip()})
    return found


def _package_path(text: str) -> str:
    """A path inside the package as the zip names it: ``docs\\README.md`` → ``docs/README.md``.

    nuget pack accepts either separator in the nuspec and writes "/" in the zip.
    A path that could leave the package is dropped: it names no file we serve.
    """
    path = "/".join(part for part in _SEPARATORS.split(text) if part not in ("", "."))
    return "" if _is_unsafe(path) else path


def _tags(text: str) -> list[str]:
    # nuspecs separate tags with spaces; nuget.org also splits on commas.
    return list(dict.fromkeys(tag for tag in _TAG_SEPARATORS.split(text) if tag))


def _missing(element: str) -> InvalidPackage:
    return InvalidPackage(
        "missing_metadata",
        _("The .nuspec needs a non-empty <%(element)s> element.") % {"element": element},
    )


def _split_tag(tag: object) -> tuple[str, str]:
    if not isinstance(tag, str):
        return "", ""
    if tag.startswith("{"):
        namespace, _brace, local = tag[1:].partition("}")
        return namespace, local
    return "", tag


def _shown(value: str, limit: int = 40) -> str:
    """``value`` fit for a reason phrase: printable ASCII, one line, at most ``limit``."""
    text = "".join(c if " " <= c <= "~" else "?" for c in value[: limit + 1])
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _size(n: int) -> str:
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= factor and n % factor == 0:
            return f"{n // factor} {unit}"
    return f"{n} bytes"
