"""Reading a .nupkg: the metadata it yields, every refusal, and hostile bytes."""

import io
import os
import random
import struct
import subprocess
import sys
import warnings
import zipfile

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import translation
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from packages import conf, nupkg
from packages.nupkg import CODES, InvalidPackage, PackageMetadata, read
from packages.versions import parse
from tests.nupkgs import (
    NUSPEC_NAMESPACE,
    OLD_NUSPEC_NAMESPACES,
    make_nupkg,
    nuspec_xml,
    write_nupkg,
)
from tests.servers import ROOT


def read_bytes(data: bytes) -> PackageMetadata:
    return read(io.BytesIO(data))


def refusal(data: bytes) -> InvalidPackage:
    with pytest.raises(InvalidPackage) as caught:
        read_bytes(data)
    return caught.value


def zip_of(files, compression=zipfile.ZIP_DEFLATED) -> bytes:
    """A zip of ``files`` (a dict, or (name, data) pairs to allow duplicates), names as given."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Duplicate name"
        with zipfile.ZipFile(buffer, "w", compression) as archive:
            for name, data in files.items() if isinstance(files, dict) else files:
                archive.writestr(zipfile.ZipInfo(name), data)
    return buffer.getvalue()


def patch_entry(data: bytes, name: str, *, local=True, **fields) -> bytes:
    """Rewrite header fields of entry ``name``: flags, method, crc, file_size.

    The central directory always; the local header too unless ``local=False``.
    """
    data = bytearray(data)
    local_offsets = {"flags": 6, "method": 8, "crc": 14, "file_size": 22}
    central_offsets = {"flags": 8, "method": 10, "crc": 16, "file_size": 24}
    formats = {"flags": "<H", "method": "<H", "crc": "<L", "file_size": "<L"}
    archive = zipfile.ZipFile(io.BytesIO(bytes(data)))
    info = archive.getinfo(name)
    position = archive.start_dir
    while data[position : position + 4] == b"PK\x01\x02":
        name_length, extra, comment = struct.unpack_from("<3H", data, position + 28)
        if data[position + 46 : position + 46 + name_length].decode() == name:
            for field, value in fields.items():
                struct.pack_into(formats[field], data, position + central_offsets[field], value)
        position += 46 + name_length + extra + comment
    if local:
        for field, value in fields.items():
            struct.pack_into(formats[field], data, info.header_offset + local_offsets[field], value)
    return bytes(data)


# --- What a package yields ---------------------------------------------------


def test_reads_the_required_metadata():
    metadata = read_bytes(make_nupkg("Contoso.Core", "1.02.0.0-Beta+build.7"))
    assert metadata.id == "Contoso.Core"
    assert metadata.version == parse("1.2.0-beta")
    assert metadata.version.normalized == "1.2.0-Beta"
    assert metadata.version.original == "1.02.0.0-Beta+build.7"
    assert metadata.authors == "Contoso"
    assert metadata.description == "A test package"
    assert metadata.nuspec_name == "Contoso.Core.nuspec"
    assert (metadata.title, metadata.tags, metadata.project_url, metadata.summary) == (
        "",
        [],
        "",
        "",
    )
    assert (metadata.license_expression, metadata.min_client_version) == ("", "")
    assert metadata.dependencies == []
    assert metadata.requires_license_acceptance is False


def test_reads_the_optional_metadata():
    extra = """
        <title>  Contoso Core  </title>
        <tags> json, http  json
            tools </tags>
        <projectUrl>https://example.com/contoso</projectUrl>
        <license type="expression">MIT OR Apache-2.0</license>
        <summary>Core bits.</summary>
        <requireLicenseAcceptance>true</requireLicenseAcceptance>
        <releaseNotes>Ignored.</releaseNotes>
    """
    nuspec = nuspec_xml(metadata_extra=extra).replace(
        "<metadata>", '<metadata minClientVersion="3.3">'
    )
    metadata = read_bytes(make_nupkg(nuspec=nuspec))
    assert metadata.title == "Contoso Core"
    assert metadata.tags == ["json", "http", "tools"]
    assert metadata.project_url == "https://example.com/contoso"
    assert metadata.license_expression == "MIT OR Apache-2.0"
    assert metadata.summary == "Core bits."
    assert metadata.requires_license_acceptance is True
    assert metadata.min_client_version == "3.3"


def test_description_keeps_nested_text_and_entities():
    metadata = read_bytes(
        make_nupkg(nuspec=nuspec_xml(description="x").replace("x<", "A &amp; <b>B</b> &lt;C&gt;<"))
    )
    assert metadata.description == "A & B <C>"


@pytest.mark.parametrize(
    "encoded",
    [
        "\ufeff" + nuspec_xml(description="Café"),  # UTF-8 with a byte order mark
        nuspec_xml(description="Café").replace("utf-8", "utf-16").encode("utf-16"),
    ],
    ids=["utf-8 with BOM", "utf-16"],
)
def test_nuspecs_in_other_unicode_encodings(encoded):
    assert read_bytes(make_nupkg(nuspec=encoded)).description == "Café"


def test_a_license_file_is_not_an_expression():
    extra = '<license type="file">LICENSE.txt</license>'
    assert read_bytes(make_nupkg(metadata_extra=extra)).license_expression == ""


@pytest.mark.parametrize("value", ["false", "False", "0", "", "yes"])
def test_license_acceptance_is_only_true_when_said(value):
    extra = f"<requireLicenseAcceptance>{value}</requireLicenseAcceptance>"
    assert read_bytes(make_nupkg(metadata_extra=extra)).requires_license_acceptance is False


@pytest.mark.parametrize("namespace", [*OLD_NUSPEC_NAMESPACES, NUSPEC_NAMESPACE, None])
def test_every_nuspec_namespace_is_accepted(namespace):
    extra = '<dependencies><dependency id="Newtonsoft.Json" version="13.0.1" /></dependencies>'
    metadata = read_bytes(make_nupkg(namespace=namespace, metadata_extra=extra))
    assert (metadata.id, metadata.version.normalized, metadata.authors) == (
        "Contoso.Core",
        "1.0.0",
        "Contoso",
    )
    assert metadata.dependencies[0]["dependencies"] == [
        {"id": "Newtonsoft.Json", "range": "13.0.1"}
    ]


def test_grouped_dependencies():
    extra = """
      <dependencies>
        <group targetFramework="net8.0">
          <dependency id="Newtonsoft.Json" version="[13.0.1, )" exclude="Build" />
          <dependency id="Contoso.Util" />
        </group>
        <group targetFramework=".NETStandard2.0" />
        <group>
          <dependency id="Any.Framework" version="1.0" />
        </group>
      </dependencies>
    """
    metadata = read_bytes(make_nupkg(metadata_extra=extra))
    assert metadata.dependencies == [
        {
            "target_framework": "net8.0",
            "dependencies": [
                {"id": "Newtonsoft.Json", "range": "[13.0.1, )"},
                {"id": "Contoso.Util", "range": ""},
            ],
        },
        {"target_framework": ".NETStandard2.0", "dependencies": []},
        {"target_framework": "", "dependencies": [{"id": "Any.Framework", "range": "1.0"}]},
    ]


def test_flat_dependencies_form_one_group_for_any_framework():
    extra = """
      <dependencies>
        <dependency id="A" version="1.0" />
        <dependency id="B.C" version="[2.0,3.0)" />
      </dependencies>
    """
    assert read_bytes(make_nupkg(metadata_extra=extra)).dependencies == [
        {
            "target_framework": "",
            "dependencies": [{"id": "A", "range": "1.0"}, {"id": "B.C", "range": "[2.0,3.0)"}],
        }
    ]


def test_groups_win_over_flat_dependencies_as_in_nuget():
    extra = """
      <dependencies>
        <dependency id="Flat" version="1.0" />
        <group targetFramework="net8.0"><dependency id="Grouped" version="2.0" /></group>
      </dependencies>
    """
    assert read_bytes(make_nupkg(metadata_extra=extra)).dependencies == [
        {"target_framework": "net8.0", "dependencies": [{"id": "Grouped", "range": "2.0"}]}
    ]


def test_empty_dependencies():
    assert read_bytes(make_nupkg(metadata_extra="<dependencies />")).dependencies == []


def test_reads_a_path_and_leaves_a_file_object_where_it_was(tmp_path):
    path = write_nupkg(tmp_path / "p.nupkg", package_id="Contoso.Path", version="2.0")
    assert read(path).id == "Contoso.Path"
    assert read(str(path)).version.normalized == "2.0.0"

    with path.open("rb") as fp:
        fp.seek(7)
        assert read(fp).id == "Contoso.Path"
        assert fp.tell() == 7

    stream = io.BytesIO(b"not a zip")
    stream.seek(3)
    with pytest.raises(InvalidPackage):
        read(stream)
    assert stream.tell() == 3


def test_caller_errors_are_not_invalid_packages(tmp_path):
    with pytest.raises(FileNotFoundError):
        read(tmp_path / "missing.nupkg")
    with pytest.raises(TypeError):
        read(make_nupkg())


def test_the_nuspec_name_need_not_match_the_id():
    metadata = read_bytes(make_nupkg(nuspec_name="Whatever.NUSPEC"))
    assert (metadata.id, metadata.nuspec_name) == ("Contoso.Core", "Whatever.NUSPEC")


@pytest.mark.parametrize("name", ["lib/..foo/x.dll", "lib/a..b/x.dll", "content/.../x", "a.."])
def test_names_with_dots_are_safe(name):
    assert read_bytes(make_nupkg(extra_files={name: b"x"})).id == "Contoso.Core"


def test_a_zip_with_bytes_before_it_is_read():
    # zipfile (and .NET) find the directory from the end; the entry count must too.
    assert read_bytes(b"MZ" * 100 + make_nupkg()).id == "Contoso.Core"


def test_a_deeply_nested_nuspec_neither_recurses_nor_fails():
    nested = "<b>" * 50_000 + "deep" + "</b>" * 50_000
    nuspec = nuspec_xml(description="x").replace(">x<", f">{nested}<")
    assert read_bytes(make_nupkg(nuspec=nuspec)).description == "deep"


# --- Refusals ------------------------------------------------------------------

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE package [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<package><metadata><id>Contoso.Core</id><version>1.0.0</version>
<authors>&lol3;</authors><description>d</description></metadata></package>
"""
EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE package [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<package><metadata><id>Contoso.Core</id><version>1.0.0</version>
<authors>&secret;</authors><description>d</description></metadata></package>
"""
EXTERNAL_DTD = """<?xml version="1.0"?>
<!DOCTYPE package SYSTEM "http://127.0.0.1:9/evil.dtd">
<package><metadata><id>Contoso.Core</id><version>1.0.0</version>
<authors>a</authors><description>d</description></metadata></package>
"""


def _nuspec_deflated_offset(data: bytes) -> int:
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo("Contoso.Core.nuspec")
    name_length, extra = struct.unpack_from("<2H", data, info.header_offset + 26)
    return info.header_offset + 30 + name_length + extra


def _corrupt_nuspec_data(data: bytes) -> bytes:
    start = _nuspec_deflated_offset(data)
    return data[:start] + bytes(b ^ 0x5A for b in data[start : start + 40]) + data[start + 40 :]


def _bad_crc(data: bytes) -> bytes:
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo("Contoso.Core.nuspec")
    return patch_entry(data, "Contoso.Core.nuspec", crc=info.CRC ^ 1)


def _dup_nuspec() -> bytes:
    nuspec = nuspec_xml().encode()
    return zip_of([("Contoso.Core.nuspec", nuspec), ("Contoso.Core.nuspec", nuspec)])


REFUSALS = {
    # case: (package bytes or a function of them, settings, expected code)
    "over the size limit": (make_nupkg, {"PACKAGES_MAX_SIZE": 100}, "too_large"),
    "not a zip": (b"PK\x03\x04 this is not a zip at all", {}, "not_zip"),
    "empty file": (b"", {}, "not_zip"),
    "truncated zip": (lambda: make_nupkg()[: len(make_nupkg()) // 2], {}, "not_zip"),
    "end record cut": (lambda: make_nupkg()[:-5], {}, "not_zip"),
    "parent segment": (lambda: make_nupkg(extra_files={"../evil.txt": b"x"}), {}, "unsafe_path"),
    "parent segment inside": (
        lambda: make_nupkg(extra_files={"lib/../../evil.txt": b"x"}),
        {},
        "unsafe_path",
    ),
    "backslash parent": (
        lambda: make_nupkg(extra_files={"lib\\..\\..\\evil.dll": b"x"}),
        {},
        "unsafe_path",
    ),
    "bare parent": (lambda: make_nupkg(extra_files={"..": b"x"}), {}, "unsafe_path"),
    "absolute path": (lambda: make_nupkg(extra_files={"/abs.txt": b"x"}), {}, "unsafe_path"),
    "backslash absolute": (
        lambda: make_nupkg(extra_files={"\\\\server\\share\\x": b"x"}),
        {},
        "unsafe_path",
    ),
    "drive letter": (lambda: make_nupkg(extra_files={"C:\\x": b"x"}), {}, "unsafe_path"),
    "relative drive": (lambda: make_nupkg(extra_files={"c:x.dll": b"x"}), {}, "unsafe_path"),
    "too many entries": (make_nupkg, {"PACKAGES_MAX_ENTRIES": 4}, "too_many_entries"),
    "too much uncompressed": (
        lambda: make_nupkg(extra_files={"lib/netstandard2.0/big.dll": bytes(5000)}),
        {"PACKAGES_MAX_UNCOMPRESSED_SIZE": 4096},
        "too_large_uncompressed",
    ),
    "declared bomb": (
        lambda: patch_entry(
            make_nupkg(extra_files={"bomb.bin": b"x"}), "bomb.bin", file_size=0xFFFF_FFF0
        ),
        {},
        "too_large_uncompressed",
    ),
    "no nuspec": (lambda: make_nupkg(with_nuspec=False), {}, "no_nuspec"),
    "nuspec in a folder only": (
        lambda: make_nupkg(
            with_nuspec=False, extra_files={"content/Contoso.Core.nuspec": nuspec_xml().encode()}
        ),
        {},
        "no_nuspec",
    ),
    "nuspec behind a backslash": (
        lambda: make_nupkg(
            with_nuspec=False, extra_files={"content\\Contoso.Core.nuspec": nuspec_xml().encode()}
        ),
        {},
        "no_nuspec",
    ),
    "two nuspecs": (
        lambda: make_nupkg(extra_files={"Other.NuSpec": nuspec_xml().encode()}),
        {},
        "several_nuspecs",
    ),
    "the same nuspec twice": (_dup_nuspec, {}, "several_nuspecs"),
    "a file twice": (
        lambda: zip_of(
            [
                ("Contoso.Core.nuspec", nuspec_xml().encode()),
                ("lib/a.dll", b"1"),
                ("lib/a.dll", b"2"),
            ]
        ),
        {},
        "duplicate_entry",
    ),
    "files whose names differ in case": (
        lambda: make_nupkg(extra_files={"lib/A.dll": b"1", "lib/a.dll": b"2"}),
        {},
        "duplicate_entry",
    ),
    "files whose names differ in slashes": (
        lambda: make_nupkg(extra_files={"lib/a.dll": b"1", "lib\\a.dll": b"2"}),
        {},
        "duplicate_entry",
    ),
    "nuspec too large": (make_nupkg, {"PACKAGES_MAX_NUSPEC_SIZE": 100}, "nuspec_too_large"),
    "nuspec encrypted": (
        lambda: patch_entry(make_nupkg(), "Contoso.Core.nuspec", flags=0x1),
        {},
        "unreadable_nuspec",
    ),
    "nuspec compressed by an unknown method": (
        lambda: patch_entry(make_nupkg(), "Contoso.Core.nuspec", method=99),
        {},
        "unreadable_nuspec",
    ),
    "nuspec data corrupt": (lambda: _corrupt_nuspec_data(make_nupkg()), {}, "unreadable_nuspec"),
    "nuspec checksum wrong": (lambda: _bad_crc(make_nupkg()), {}, "unreadable_nuspec"),
    "nuspec not xml": (lambda: make_nupkg(nuspec="this is not <xml"), {}, "bad_xml"),
    "nuspec empty": (lambda: make_nupkg(nuspec=""), {}, "bad_xml"),
    "billion laughs": (lambda: make_nupkg(nuspec=BILLION_LAUGHS), {}, "bad_xml"),
    "external entity": (lambda: make_nupkg(nuspec=EXTERNAL_ENTITY), {}, "bad_xml"),
    "external dtd": (lambda: make_nupkg(nuspec=EXTERNAL_DTD), {}, "bad_xml"),
    "unknown encoding": (
        lambda: make_nupkg(nuspec=nuspec_xml().replace("utf-8", "x-no-such-encoding")),
        {},
        "bad_xml",
    ),
    "root is not package": (
        lambda: make_nupkg(nuspec=nuspec_xml().replace("package", "pkg")),
        {},
        "bad_nuspec",
    ),
    "unknown namespace": (
        lambda: make_nupkg(namespace="http://example.com/nuspec.xsd"),
        {},
        "bad_nuspec",
    ),
    "two ids": (lambda: make_nupkg(metadata_extra="<id>Other</id>"), {}, "bad_nuspec"),
    "bad minClientVersion": (
        lambda: make_nupkg(
            nuspec=nuspec_xml().replace("<metadata>", '<metadata minClientVersion="latest">')
        ),
        {},
        "bad_nuspec",
    ),
    "no metadata": (
        lambda: make_nupkg(nuspec=f'<package xmlns="{NUSPEC_NAMESPACE}"><files /></package>'),
        {},
        "missing_metadata",
    ),
    "missing description": (
        lambda: make_nupkg(
            nuspec=nuspec_xml().replace("<description>A test package</description>", "")
        ),
        {},
        "missing_metadata",
    ),
    "blank authors": (lambda: make_nupkg(authors="   "), {}, "missing_metadata"),
    "blank id": (lambda: make_nupkg(package_id=" \n "), {}, "missing_metadata"),
    "metadata in another namespace": (
        lambda: make_nupkg(nuspec=nuspec_xml().replace("<metadata>", '<metadata xmlns="urn:x">')),
        {},
        "missing_metadata",
    ),
    "bad id": (lambda: make_nupkg(package_id="bad id!"), {}, "bad_id"),
    "id too long": (lambda: make_nupkg(package_id="A" * 101), {}, "bad_id"),
    "bad version": (lambda: make_nupkg(version="1.0.0.0.0"), {}, "bad_version"),
    "wildcard version": (lambda: make_nupkg(version="1.*"), {}, "bad_version"),
    "bad dependency id": (
        lambda: make_nupkg(
            metadata_extra='<dependencies><dependency id="no good" version="1.0" /></dependencies>'
        ),
        {},
        "bad_dependency",
    ),
    "dependency without id": (
        lambda: make_nupkg(
            metadata_extra='<dependencies><group><dependency version="1" /></group></dependencies>'
        ),
        {},
        "bad_dependency",
    ),
}


def _refuse(case, django_settings) -> InvalidPackage:
    build, overrides, _code = REFUSALS[case]
    for name, value in overrides.items():
        setattr(django_settings, name, value)
    data = build() if callable(build) else build
    return refusal(data)


@pytest.mark.parametrize("case", REFUSALS)
def test_refusals(case, settings):
    error = _refuse(case, settings)
    assert error.code == REFUSALS[case][2]
    assert error.code in CODES
    # The reason becomes an HTTP reason phrase: one short printable-ASCII line.
    assert error.reason == str(error)
    assert error.reason.isascii() and error.reason.isprintable()
    assert 0 < len(error.reason) <= 120, error.reason


def test_every_code_has_a_refusal_test():
    assert {code for _build, _settings, code in REFUSALS.values()} == CODES


@pytest.mark.parametrize("case", REFUSALS)
def test_reasons_are_translated(case, settings):
    english = _refuse(case, settings).reason
    with translation.override("it"):
        italian = _refuse(case, settings).reason
    assert italian != english


def test_reasons_name_the_offending_detail(settings):
    assert '"bad id!"' in refusal(make_nupkg(package_id="bad id!")).reason
    assert '"1.0.0.0.0"' in refusal(make_nupkg(version="1.0.0.0.0")).reason
    assert "<description>" in _refuse("missing description", settings).reason
    assert "../evil.txt" in _refuse("parent segment", settings).reason
    assert "<id>" in _refuse("two ids", settings).reason
    settings.PACKAGES_MAX_NUSPEC_SIZE = 3 * 1024
    assert "3 KiB" in refusal(make_nupkg(description="d" * 4000)).reason
    settings.PACKAGES_MAX_SIZE = 200
    assert "200 bytes" in refusal(make_nupkg()).reason


def test_details_are_cut_to_one_short_ascii_line():
    error = refusal(make_nupkg(package_id="Évil\r\nX-Injected: 1" + "x" * 500))
    assert error.code == "bad_id"
    assert error.reason.isascii() and error.reason.isprintable()
    assert "\r" not in error.reason and "\n" not in error.reason
    assert len(error.reason) <= 120


def test_the_size_limit_is_inclusive(settings):
    data = make_nupkg()
    settings.PACKAGES_MAX_SIZE = len(data)
    assert read_bytes(data).id == "Contoso.Core"
    settings.PACKAGES_MAX_SIZE = len(data) - 1
    assert refusal(data).code == "too_large"


def _zipfile_must_not_run(*args, **kwargs):
    raise AssertionError("zipfile.ZipFile was called")


def test_the_size_check_comes_before_zip_parsing(settings, monkeypatch):
    data = make_nupkg()
    monkeypatch.setattr(nupkg.zipfile, "ZipFile", _zipfile_must_not_run)
    settings.PACKAGES_MAX_SIZE = 10
    assert refusal(data).code == "too_large"


def test_the_entry_limit_is_inclusive(settings):
    data = make_nupkg()  # five entries
    settings.PACKAGES_MAX_ENTRIES = 5
    assert read_bytes(data).id == "Contoso.Core"
    settings.PACKAGES_MAX_ENTRIES = 4
    assert refusal(data).code == "too_many_entries"


def test_too_many_entries_are_refused_before_zipfile_builds_them(settings, monkeypatch):
    data = make_nupkg(extra_files={f"content/{n}.txt": b"" for n in range(50)})
    monkeypatch.setattr(nupkg.zipfile, "ZipFile", _zipfile_must_not_run)
    settings.PACKAGES_MAX_ENTRIES = 20
    assert refusal(data).code == "too_many_entries"


def test_the_entry_count_stops_counting_past_the_limit():
    data = zip_of({f"{n}": b"" for n in range(100)}, zipfile.ZIP_STORED)
    assert nupkg._count_entries(io.BytesIO(data), 1000) == 100
    assert nupkg._count_entries(io.BytesIO(data), 10) == 11
    assert nupkg._count_entries(io.BytesIO(b"not a zip"), 10) == 0


def test_the_entry_count_reads_zip64_directories():
    # Over 65535 entries, the end record's count overflows and zip64 records take over.
    data = zip_of({f"{n:x}": b"" for n in range(65_537)}, zipfile.ZIP_STORED)
    assert data[-98:-94] == b"PK\x06\x06"  # a zip64 end record
    assert nupkg._count_entries(io.BytesIO(data), 70_000) == 65_537
    assert nupkg._count_entries(io.BytesIO(b"junk" + data), 100) == 101


def test_the_uncompressed_limit_is_inclusive(settings):
    data = make_nupkg()
    total = sum(i.file_size for i in zipfile.ZipFile(io.BytesIO(data)).infolist())
    settings.PACKAGES_MAX_UNCOMPRESSED_SIZE = total
    assert read_bytes(data).id == "Contoso.Core"
    settings.PACKAGES_MAX_UNCOMPRESSED_SIZE = total - 1
    assert refusal(data).code == "too_large_uncompressed"


def test_the_nuspec_limit_is_inclusive(settings):
    data = make_nupkg()
    size = zipfile.ZipFile(io.BytesIO(data)).getinfo("Contoso.Core.nuspec").file_size
    settings.PACKAGES_MAX_NUSPEC_SIZE = size
    assert read_bytes(data).id == "Contoso.Core"
    settings.PACKAGES_MAX_NUSPEC_SIZE = size - 1
    assert refusal(data).code == "nuspec_too_large"


def test_a_nuspec_that_understates_its_size_is_still_bounded(settings):
    settings.PACKAGES_MAX_NUSPEC_SIZE = 1000
    data = make_nupkg(description="d" * 5000)
    # The directory claims 10 bytes; reading must not trust that and read all 5000.
    lying = patch_entry(data, "Contoso.Core.nuspec", file_size=10)
    assert refusal(lying).code in {"nuspec_too_large", "unreadable_nuspec"}


def test_the_nuspec_read_is_bounded_even_if_the_zip_reader_trusts_nothing(settings, monkeypatch):
    # Belt and braces: even a reader that ignored the declared size gets limit + 1.
    settings.PACKAGES_MAX_NUSPEC_SIZE = 100
    reads = []
    original_open = zipfile.ZipFile.open

    def spying_open(self, name, *args, **kwargs):
        member = original_open(self, name, *args, **kwargs)
        original_read = member.read

        def read(n=-1):
            reads.append(n)
            return original_read(n)

        member.read = read
        return member

    monkeypatch.setattr(zipfile.ZipFile, "open", spying_open)
    data = patch_entry(make_nupkg(), "Contoso.Core.nuspec", file_size=50, local=False)
    with pytest.raises(InvalidPackage):
        read_bytes(data)
    assert reads == [101]


@pytest.mark.parametrize(
    "setting",
    [
        "PACKAGES_MAX_SIZE",
        "PACKAGES_MAX_UNCOMPRESSED_SIZE",
        "PACKAGES_MAX_ENTRIES",
        "PACKAGES_MAX_NUSPEC_SIZE",
    ],
)
@pytest.mark.parametrize("value", [0, -1, "10", True, 1.5, None])
def test_limits_must_be_positive_integers(setting, value, settings):
    setattr(settings, setting, value)
    with pytest.raises(ImproperlyConfigured, match=setting):
        read_bytes(make_nupkg())


def test_default_limits():
    assert conf.max_package_size() == 250 * 1024**2
    assert conf.max_uncompressed_size() == 1024**3
    assert conf.max_entries() == 20_000
    assert conf.max_nuspec_size() == 1024**2


# --- Hostile bytes: InvalidPackage or metadata, never anything else ----------


def _read_or_refuse(data: bytes) -> None:
    try:
        metadata = read_bytes(data)
    except InvalidPackage as error:
        assert error.code in CODES
        assert error.reason.isascii() and error.reason.isprintable()
    else:
        assert isinstance(metadata, PackageMetadata)


def _mutations(seed: int, count: int):
    rng = random.Random(seed)
    base = make_nupkg(
        metadata_extra='<dependencies><dependency id="A" version="1.0" /></dependencies>'
    )
    stored = zip_of(
        {
            "Contoso.Core.nuspec": nuspec_xml().encode(),
            "lib/net8.0/Contoso.Core.dll": b"MZ" + bytes(200),
        },
        zipfile.ZIP_STORED,
    )
    for _ in range(count):
        data = bytearray(rng.choice([base, stored]))
        kind = rng.randrange(5)
        if kind == 0:  # truncate
            data = data[: rng.randrange(len(data))]
        elif kind == 1:  # flip bytes anywhere
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif kind == 2:  # flip bytes in the directory, where the structure is
            start = len(data) - rng.randint(1, min(len(data), 400))
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(start, len(data))] = rng.randrange(256)
        elif kind == 3:  # splice a random chunk in
            at = rng.randrange(len(data))
            data[at:at] = rng.randbytes(rng.randint(1, 64))
        else:  # set header fields to extremes
            at = rng.randrange(len(data) - 4)
            data[at : at + 4] = rng.choice([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00"])
        yield bytes(data)


def test_mutated_packages_never_raise_anything_else():
    for data in _mutations(seed=20240601, count=2000):
        _read_or_refuse(data)


def test_prefixes_never_raise_anything_else():
    data = make_nupkg()
    for end in range(len(data) + 1):
        _read_or_refuse(data[:end])


@hypothesis_settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_random_bytes_never_raise_anything_else(data):
    _read_or_refuse(data)


@hypothesis_settings(max_examples=300, deadline=None)
@given(st.data())
def test_hypothesis_mutations_never_raise_anything_else(data):
    package = bytearray(make_nupkg())
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, len(package) - 1))
        package[at] = data.draw(st.integers(0, 255))
    _read_or_refuse(bytes(package))


@hypothesis_settings(max_examples=300, deadline=None)
@given(st.text(max_size=400) | st.binary(max_size=400))
def test_any_nuspec_text_never_raises_anything_else(nuspec):
    _read_or_refuse(make_nupkg(nuspec=nuspec))


@hypothesis_settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("<>/=\"'&;!?[] \nabcdeiklmnopstvx%")), max_size=300))
def test_near_xml_nuspecs_never_raise_anything_else(noise):
    _read_or_refuse(
        make_nupkg(nuspec=nuspec_xml(description="x").replace(">x<", ">" + noise + "<"))
    )


@pytest.mark.parametrize("variable", ["PACKAGES_MAX_SIZE", "PACKAGES_MAX_ENTRIES"])
def test_settings_pass_a_limit_through_only_when_its_variable_is_set(variable):
    # The default lives in packages/conf.py alone: unset, portal.settings has no value.
    script = f"import portal.settings as s; print(getattr(s, {variable!r}, 'unset'))"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACKAGES_")}

    def value(**extra):
        done = subprocess.run(
            [sys.executable, "-c", script], env={**env, **extra}, cwd=ROOT,
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return done.stdout.strip().splitlines()[-1]

    assert value() == "unset"
    assert value(**{variable: "1234"}) == "1234"
