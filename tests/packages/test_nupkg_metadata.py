"""The nuspec metadata a feed serves back: what ``read()`` keeps and how it maps to the model."""

import io

from packages.nupkg import read
from tests.nupkgs import make_nupkg


def read_bytes(data: bytes):
    return read(io.BytesIO(data))


def test_reads_the_metadata_the_read_protocol_serves():
    extra = """
      <licenseUrl>https://example.com/license</licenseUrl>
      <iconUrl>https://example.com/icon.png</iconUrl>
      <icon>images\\icon.png</icon>
      <readme>./docs/README.md</readme>
      <releaseNotes>Fixed things.</releaseNotes>
      <language>it-IT</language>
      <requireLicenseAcceptance>true</requireLicenseAcceptance>
    """
    metadata = read_bytes(make_nupkg(version="1.0.0-beta.1", metadata_extra=extra))
    assert metadata.license_url == "https://example.com/license"
    assert metadata.icon_url == "https://example.com/icon.png"
    assert metadata.icon_path == "images/icon.png"
    assert metadata.readme_path == "docs/README.md"
    assert metadata.release_notes == "Fixed things."
    assert metadata.language == "it-IT"
    fields = metadata.version_fields()
    assert fields["is_semver2"] is True
    assert fields["require_license_acceptance"] is True
    assert fields["readme_path"] == "docs/README.md"


def test_absent_optional_metadata_is_empty():
    fields = read_bytes(make_nupkg()).version_fields()
    for name in ("license_url", "icon_url", "icon_path", "readme_path", "release_notes"):
        assert fields[name] == ""
    assert fields["language"] == ""
    assert fields["is_semver2"] is False


def test_a_readme_path_that_leaves_the_package_is_dropped():
    metadata = read_bytes(make_nupkg(metadata_extra="<readme>../../etc/passwd</readme>"))
    assert metadata.readme_path == ""


def test_the_version_as_pushed_keeps_its_build_metadata():
    fields = read_bytes(make_nupkg(version="1.0.0+sha.abc")).version_fields()
    assert fields["version"] == "1.0.0+sha.abc"
    assert fields["normalized_version"] == "1.0.0"
    assert fields["is_semver2"] is True
