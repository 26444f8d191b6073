"""Build .nupkg files in memory, so no test commits a binary.

``make_nupkg()`` lays a package out as ``nuget pack`` does: the nuspec at the root,
the OPC parts (``[Content_Types].xml``, ``_rels/.rels``, the core-properties
``.psmdcp``) and one placeholder library file. Every entry gets the same fixed
timestamp, so the same arguments give the same bytes. ``multipart()`` wraps one in
the request body a push sends.

    from tests.nupkgs import make_nupkg, write_nupkg

    body = make_nupkg("Contoso.Core", "1.2.0-beta", metadata_extra="<tags>a b</tags>")
    path = write_nupkg(tmp_path / "Contoso.Core.1.2.0-beta.nupkg", version="1.2.0-beta")
"""

import io
import uuid
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

NUSPEC_NAMESPACE = "http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd"
OLD_NUSPEC_NAMESPACES = (
    "http://schemas.microsoft.com/packaging/2010/07/nuspec.xsd",
    "http://schemas.microsoft.com/packaging/2011/08/nuspec.xsd",
    "http://schemas.microsoft.com/packaging/2012/06/nuspec.xsd",
    "http://schemas.microsoft.com/packaging/2013/01/nuspec.xsd",
)
# nuget pack names the core-properties part after a random GUID; a fixed one keeps
# the bytes reproducible.
PSMDCP_NAME = "package/services/metadata/core-properties/0b1a7c8e5d2f4a6b9c3d1e2f3a4b5c6d.psmdcp"
_TIMESTAMP = (2024, 1, 1, 0, 0, 0)


def nuspec_xml(
    package_id: str = "Contoso.Core",
    version: str = "1.0.0",
    *,
    authors: str = "Contoso",
    description: str = "A test package",
    namespace: str | None = NUSPEC_NAMESPACE,
    metadata_extra: str = "",
) -> str:
    """A minimal nuspec; values are XML-escaped, ``metadata_extra`` goes in as raw XML."""
    xmlns = f" xmlns={quoteattr(namespace)}" if namespace else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f"<package{xmlns}>\n"
        "  <metadata>\n"
        f"    <id>{escape(package_id)}</id>\n"
        f"    <version>{escape(version)}</version>\n"
        f"    <authors>{escape(authors)}</authors>\n"
        f"    <description>{escape(description)}</description>\n"
        f"    {metadata_extra}\n"
        "  </metadata>\n"
        "</package>\n"
    )


def make_nupkg(
    package_id: str = "Contoso.Core",
    version: str = "1.0.0",
    *,
    authors: str = "Contoso",
    description: str = "A test package",
    namespace: str | None = NUSPEC_NAMESPACE,
    metadata_extra: str = "",
    nuspec: str | bytes | None = None,
    nuspec_name: str | None = None,
    extra_files: dict[str, bytes] | None = None,
    with_nuspec: bool = True,
) -> bytes:
    """The bytes of a .nupkg.

    ``namespace=None`` (or ``""``) writes a nuspec without a namespace; ``nuspec``
    replaces the whole nuspec text; ``nuspec_name`` defaults to ``<id>.nuspec``;
    ``extra_files`` adds entries under exactly the names given (even unsafe ones);
    ``with_nuspec=False`` leaves the nuspec out.
    """
    if nuspec is None:
        nuspec = nuspec_xml(
            package_id,
            version,
            authors=authors,
            description=description,
            namespace=namespace,
            metadata_extra=metadata_extra,
        )
    nuspec_name = nuspec_name or f"{package_id}.nuspec"

    files: dict[str, bytes] = {}
    if with_nuspec:
        files[nuspec_name] = nuspec.encode() if isinstance(nuspec, str) else nuspec
    files["_rels/.rels"] = _relationships(nuspec_name).encode()
    files[PSMDCP_NAME] = _core_properties(package_id, version, authors, description).encode()
    files["lib/netstandard2.0/_._"] = b""
    files.update(extra_files or {})

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        _add(archive, "[Content_Types].xml", _content_types(files).encode())
        for name, data in files.items():
            _add(archive, name, data)
    return buffer.getvalue()


def write_nupkg(path: str | Path, **kwargs) -> Path:
    """``make_nupkg(**kwargs)`` written to ``path``; returns the path."""
    path = Path(path)
    path.write_bytes(make_nupkg(**kwargs))
    return path


def _add(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    # A ZipInfo keeps the name exactly as given ("../x", "/x", "C:\\x"), where
    # ZipFile.write would clean it up.
    info = zipfile.ZipInfo(name, date_time=_TIMESTAMP)
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def _content_types(files: dict[str, bytes]) -> str:
    # OPC readers (NuGet 2.x) want a content type for every part: a Default per
    # extension, an Override for names without one.
    special = {
        "rels": "application/vnd.openxmlformats-package.relationships+xml",
        "psmdcp": "application/vnd.openxmlformats-package.core-properties+xml",
    }
    defaults, overrides = {}, []
    for name in files:
        last = name.rsplit("/", 1)[-1]
        extension = last.rsplit(".", 1)[-1].lower() if "." in last else ""
        if extension:
            defaults.setdefault(extension, special.get(extension, "application/octet"))
        else:
            overrides.append(name)
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        + "".join(
            f"<Default Extension={quoteattr(ext)} ContentType={quoteattr(kind)} />"
            for ext, kind in defaults.items()
        )
        + "".join(
            f'<Override PartName={quoteattr("/" + name)} ContentType="application/octet" />'
            for name in overrides
        )
        + "</Types>"
    )


def _relationships(nuspec_name: str) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Type="http://schemas.microsoft.com/packaging/2010/07/manifest" '
        f'Target={quoteattr("/" + nuspec_name)} Id="R0001" />'
        '<Relationship Type="http://schemas.openxmlformats.org/package/2006/relationships/'
        f'metadata/core-properties" Target={quoteattr("/" + PSMDCP_NAME)} Id="R0002" />'
        "</Relationships>"
    )


def _core_properties(package_id: str, version: str, authors: str, description: str) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        "<coreProperties"
        ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:dcterms="http://purl.org/dc/terms/"'
        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
        ' xmlns="http://schemas.openxmlformats.org/package/2006/metadata/core-properties">'
        f"<dc:creator>{escape(authors)}</dc:creator>"
        f"<dc:description>{escape(description)}</dc:description>"
        f"<dc:identifier>{escape(package_id)}</dc:identifier>"
        f"<version>{escape(version)}</version>"
        "<keywords></keywords>"
        "<lastModifiedBy>tests/nupkgs.py</lastModifiedBy>"
        "</coreProperties>"
    )


def multipart(nupkg: bytes, *, unquoted: bool = False) -> tuple[bytes, str]:
    """A body as NuGet clients send it: one part holding the package."""
    boundary = uuid.uuid4().hex
    disposition = (
        "form-data; name=package; filename=package.nupkg"
        if unquoted
        else 'form-data; name="package"; filename="package.nupkg"'
    )
    body = (
        (
            f"--{boundary}\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Disposition: {disposition}\r\n\r\n"
        ).encode()
        + nupkg
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"
