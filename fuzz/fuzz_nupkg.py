"""Fuzz target: ``packages.nupkg.read`` returns metadata or raises InvalidPackage, never
anything else, and never half-succeeds.

The first input byte picks what the rest is, so that one byte-mutating engine
reaches every layer of the reader:

- 0, the package itself: mutations hit the zip structure and the entry checks
  (deflated data mostly fails its CRC, so this mode rarely reaches the XML);
- 1, the nuspec's bytes, zipped into an otherwise valid package by
  ``tests.nupkgs.make_nupkg``: mutations reach the XML parser and the nuspec rules;
- 2, entry names separated by NUL, the first one the nuspec's: mutations reach
  the path checks (unsafe paths, nuspec lookup).

Run it with ``python -m fuzz.run`` (both engines) or, under atheris directly,
``python -m fuzz.fuzz_nupkg [libFuzzer flags] [corpus dirs or files]``.
"""

import io
import sys
import warnings

from fuzz import atheris_main, check
from packages import ids, nupkg, versions
from packages.nupkg import CODES, InvalidPackage, PackageMetadata
from tests.nupkgs import NUSPEC_NAMESPACE, OLD_NUSPEC_NAMESPACES, make_nupkg, nuspec_xml

NAME = "nupkg"
WEIGHT = 2  # the reader has far more paths than the key parser
MAX_LEN = 32 * 1024
INSTRUMENT = [
    "packages.nupkg",
    "packages.versions",
    "packages.ids",
    "zipfile",
    "defusedxml.ElementTree",
    "defusedxml.common",
]
# Limits small enough for fuzz-sized inputs to trip them too; the defaults (250 MiB,
# 20,000 entries, 1 MiB of nuspec) are out of reach of a 32 KiB input.
SETTINGS = {
    "PACKAGES_MAX_SIZE": 8 * 1024,
    "PACKAGES_MAX_ENTRIES": 8,
    "PACKAGES_MAX_NUSPEC_SIZE": 4 * 1024,
}

RAW, NUSPEC, NAMES = 0, 1, 2

DICTIONARY = [
    b"PK\x03\x04",
    b"PK\x01\x02",
    b"PK\x05\x06",
    b"PK\x06\x06",
    b"PK\x06\x07",
    b"\xff\xff\xff\xff",
    b"..",
    b"../",
    b"..\\",
    b"C:",
    b".nuspec",
    b".NUSPEC",
    b"<?xml version='1.0' encoding='utf-16'?>",
    b"<!DOCTYPE package [<!ENTITY e 'x'>]>",
    b"&e;",
    b"&amp;",
    b"<![CDATA[",
    b"]]>",
    b"<package>",
    b"<metadata>",
    b"</metadata>",
    b'minClientVersion="',
    b"<id>",
    b"</id>",
    b"<version>",
    b"<authors>",
    b"<description>",
    b"<dependencies>",
    b"<group targetFramework=",
    b'<dependency id="',
    b'version="[1.0,2.0)"',
    b'<license type="expression">',
    b"<tags>",
    b"<requireLicenseAcceptance>",
    b"xmlns=",
    NUSPEC_NAMESPACE.encode(),
    b"1.0.0-beta.1+build.5",
    b"2147483648",
]


def seeds() -> list[bytes]:
    """Valid inputs for every mode: nuspecs of every schema year and shape."""
    extras = [
        "",
        '<dependencies><dependency id="Newtonsoft.Json" version="13.0.1" /></dependencies>',
        """<dependencies>
             <group targetFramework="net8.0">
               <dependency id="A.B" version="[1.0, 2.0)" exclude="Build" />
               <dependency id="C-D_e" />
             </group>
             <group />
           </dependencies>""",
        '<license type="expression">MIT OR Apache-2.0</license><tags>a, b c</tags>',
        "<title>T</title><summary>S</summary><projectUrl>https://example.com/</projectUrl>"
        "<requireLicenseAcceptance>true</requireLicenseAcceptance>",
        '<license type="file">LICENSE.txt</license><dependencies />',
    ]
    nuspecs: list[bytes] = []
    for namespace in (NUSPEC_NAMESPACE, *OLD_NUSPEC_NAMESPACES, None):
        for extra in extras:
            nuspecs.append(nuspec_xml(namespace=namespace, metadata_extra=extra).encode())
    nuspecs += [
        nuspec_xml("Contoso.Core", "1.02.0.0-Beta+build.7").encode(),
        nuspec_xml(description="A &amp; <b>B</b>")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;amp;", "&amp;")
        .encode(),
        nuspec_xml().replace("<metadata>", '<metadata minClientVersion="3.3">').encode(),
        ("\ufeff" + nuspec_xml(description="Café")).encode(),
        nuspec_xml(description="Café").replace("utf-8", "utf-16").encode("utf-16"),
    ]

    packages = [make_nupkg(nuspec=nuspec) for nuspec in nuspecs[:: len(extras) // 2]]
    packages += [
        make_nupkg(nuspec=nuspecs[1], nuspec_name="Other.NuSpec"),
        make_nupkg(extra_files={"lib/net8.0/Contoso.Core.dll": b"MZ" + bytes(64)}),
        make_nupkg(extra_files={"content/readme.txt": b"hello", "lib/a..b/x.dll": b"x"}),
        b"MZ" * 8 + make_nupkg(),  # bytes before the zip
    ]
    names = [
        b"Contoso.Core.nuspec\0lib/net8.0/x.dll",
        b"X.nuspec\0content/a\\b.txt\0lib/../x",
        b"a.NUSPEC\0b.nuspec",
        b"content/Contoso.Core.nuspec\0C:x.dll",
    ]
    return (
        [bytes([RAW]) + package for package in packages]
        + [bytes([NUSPEC]) + nuspec for nuspec in nuspecs]
        + [bytes([NAMES]) + joined for joined in names]
    )


def build(data: bytes) -> bytes | None:
    """The package bytes an input stands for; None if the harness cannot build one."""
    if not data:
        return None
    mode, rest = data[0] % 3, data[1:]
    if mode == RAW:
        return rest
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zipfile: "Duplicate name"
            if mode == NUSPEC:
                return make_nupkg(nuspec=rest)
            nuspec_name, *others = rest.decode("utf-8", "replace").split("\0")
            return make_nupkg(
                nuspec_name=nuspec_name or None,
                extra_files={name: b"x" for name in others[:50]},
            )
    except (ValueError, UnicodeError, OSError):
        # The test builder refused the names (zipfile's own writer rules): not the
        # reader's problem, and nothing to read.
        return None


def test_one_input(data: bytes) -> None:
    package = build(data)
    if package is None:
        return
    stream = io.BytesIO(package)
    try:
        metadata = nupkg.read(stream)
    except InvalidPackage as error:
        # A refusal goes into an HTTP reason phrase: a known code, one short ASCII line.
        check(error.code in CODES, error.code)
        check(error.reason == str(error))
        check(error.reason.isascii() and error.reason.isprintable(), error.reason)
        check(0 < len(error.reason) <= 120, error.reason)
    else:
        # Success means everything the registry relies on was checked.
        check(isinstance(metadata, PackageMetadata))
        check(ids.is_valid(metadata.id), metadata.id)
        check(metadata.authors and metadata.description)
        check(versions.parse(metadata.version.normalized) == metadata.version)
        for group in metadata.dependencies:
            check(all(ids.is_valid(dependency["id"]) for dependency in group["dependencies"]))
    # The reader leaves a file object where it found it.
    check(stream.tell() == 0)


if __name__ == "__main__":
    atheris_main(sys.modules[__name__])
