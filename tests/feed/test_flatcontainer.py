"""The flat container (PackageBaseAddress/3.0.0) through Django's test client."""

import base64
import hashlib

import pytest
from django.db.models.functions import Lower

from packages import downloads
from packages.models import Package, PackageVersion
from tests.feed import read_fixtures
from tests.nupkgs import make_nupkg, nuspec_xml

pytestmark = pytest.mark.django_db
publish = read_fixtures.publish
BASE = "/v3/flatcontainer"


@pytest.fixture(autouse=True)
def counts_written_in_each_test():
    """Download counts wait in this process's memory: those of earlier tests are
    written before this one makes its rows, and this one's before its rows go."""
    downloads.flush()
    yield
    downloads.flush()


def sha512_etag(data: bytes) -> str:
    return '"' + base64.b64encode(hashlib.sha512(data).digest()).decode() + '"'


class TestServiceIndex:
    def test_lists_the_read_resources_under_v3_with_absolute_urls(self, client, settings):
        settings.SITE_URL = "https://nuget.example.com"
        resources = client.get("/v3/index.json").json()["resources"]
        by_type = {resource["@type"]: resource["@id"] for resource in resources}
        assert by_type["PackageBaseAddress/3.0.0"] == "https://nuget.example.com/v3/flatcontainer/"
        for kind in ("RegistrationsBaseUrl", "RegistrationsBaseUrl/3.0.0-rc",
                     "RegistrationsBaseUrl/3.0.0-beta"):  # fmt: skip
            assert by_type[kind] == "https://nuget.example.com/v3/registration/"
        assert by_type["RegistrationsBaseUrl/3.6.0"] == (
            "https://nuget.example.com/v3/registration-semver2/"
        )
        assert by_type["ReadmeUriTemplate/6.13.0"] == (
            "https://nuget.example.com/v3/flatcontainer/{lower_id}/{lower_version}/readme"
        )
        assert by_type["PackagePublish/2.0.0"] == "https://nuget.example.com/api/v2/package"


class TestVersionList:
    def test_lists_lower_case_normalized_versions_in_nuget_order(self, client, publish):
        for version in ["1.10.0", "1.2.0", "1.0.0-Beta", "2.0.0-rc.1+build.7", "01.0.0.1",
                        "1.0.0", "1.0.0-alpha.10", "1.0.0-alpha.9"]:  # fmt: skip
            publish("Contoso.Core", version)
        publish("Contoso.Core", "3.0.0", listed=False)
        response = client.get(f"{BASE}/contoso.core/index.json")
        assert response.status_code == 200
        assert response["Content-Type"] == "application/json"
        expected = ["1.0.0-alpha.9", "1.0.0-alpha.10", "1.0.0-beta", "1.0.0", "1.0.0.1",
                    "1.2.0", "1.10.0", "2.0.0-rc.1", "3.0.0"]  # fmt: skip
        assert response.json() == {"versions": expected}
        assert response["Cache-Control"] == "max-age=60"

    def test_the_id_in_the_url_ignores_case(self, client, publish):
        publish("Contoso.Core", "1.0.0")
        assert client.get(f"{BASE}/CONTOSO.Core/index.json").json() == {"versions": ["1.0.0"]}

    @pytest.mark.parametrize("package_id", ["nothing.here", "not%20an%20id", "a..b"])
    def test_unknown_or_invalid_id_is_404(self, client, publish, package_id):
        publish("Contoso.Core", "1.0.0")
        response = client.get(f"{BASE}/{package_id}/index.json")
        assert response.status_code == 404
        assert "was not found" in response.reason_phrase

    def test_head_has_the_headers_and_no_body(self, client, publish):
        publish("Contoso.Core", "1.0.0")
        get = client.get(f"{BASE}/contoso.core/index.json")
        head = client.head(f"{BASE}/contoso.core/index.json")
        assert head.status_code == 200
        assert head.content == b""
        assert head["Content-Length"] == str(len(get.content))
        assert head["ETag"] == get["ETag"]

    def test_if_none_match_gives_304_until_a_push_changes_the_list(self, client, publish):
        publish("Contoso.Core", "1.0.0")
        etag = client.get(f"{BASE}/contoso.core/index.json")["ETag"]
        again = client.get(f"{BASE}/contoso.core/index.json", headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""
        publish("Contoso.Core", "1.1.0")
        changed = client.get(f"{BASE}/contoso.core/index.json", headers={"If-None-Match": etag})
        assert changed.status_code == 200
        assert changed.json()["versions"] == ["1.0.0", "1.1.0"]

    def test_300_versions_in_one_query(self, client, owner, django_assert_num_queries):
        package = Package.objects.create(name="Big.Package")
        rows = [
            PackageVersion(package=package, version=f"1.{n}.0", normalized_version=f"1.{n}.0",
                           size=1, sha512="x")
            for n in range(300)
        ]  # fmt: skip
        PackageVersion.objects.bulk_create(rows)
        with django_assert_num_queries(1):
            response = client.get(f"{BASE}/big.package/index.json")
        assert response.json()["versions"] == [f"1.{n}.0" for n in range(300)]


class TestPackageFile:
    def test_get_streams_the_pushed_bytes_with_a_strong_etag(self, client, publish):
        nupkg = publish("Contoso.Core", "1.0.0")
        response = client.get(f"{BASE}/contoso.core/1.0.0/contoso.core.1.0.0.nupkg")
        assert response.status_code == 200
        assert response.streaming
        assert b"".join(response.streaming_content) == nupkg
        assert response["Content-Type"] == "application/octet-stream"
        assert response["Content-Length"] == str(len(nupkg))
        assert response["ETag"] == sha512_etag(nupkg)
        assert response["Cache-Control"] == "public, max-age=31536000, immutable"
        version = PackageVersion.objects.get()
        assert response["Last-Modified"] == version.pushed_at.strftime("%a, %d %b %Y %H:%M:%S GMT")

    @pytest.mark.parametrize(
        "path",
        [
            "contoso.core/1.0/contoso.core.1.0.nupkg",
            "Contoso.Core/1.0.0.0/Contoso.Core.1.0.0.nupkg",
            "contoso.core/1.0.0/contoso.core.1.0.0.0.nupkg",
            "contoso.core/1.0.0+build.5/contoso.core.1.0.0.nupkg",
        ],
    )
    def test_the_version_in_the_url_is_normalized(self, client, publish, path):
        nupkg = publish("Contoso.Core", "1.0.0")
        response = client.get(f"{BASE}/{path}")
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == nupkg

    def test_a_prerelease_label_matches_whatever_its_case(self, client, publish):
        nupkg = publish("Contoso.Core", "1.0.0-Beta.1")
        response = client.get(f"{BASE}/contoso.core/1.0.0-beta.1/contoso.core.1.0.0-beta.1.nupkg")
        assert b"".join(response.streaming_content) == nupkg

    @pytest.mark.parametrize(
        "path",
        [
            "contoso.core/2.0.0/contoso.core.2.0.0.nupkg",  # no such version
            "other.package/1.0.0/other.package.1.0.0.nupkg",  # no such ID
            "contoso.core/1.0.0/contoso.core.2.0.0.nupkg",  # file of another version
            "contoso.core/1.0.0/other.1.0.0.nupkg",  # file of another ID
            "contoso.core/not-a-version/contoso.core.not-a-version.nupkg",
            "contoso.core/1.0.0/contoso.core.1.0.0.zip",
            "contoso.core/1.0.0/readme",  # the package has none
            "contoso.core/1.0.0/icon",
        ],
    )
    def test_what_is_not_there_is_404(self, client, publish, path):
        publish("Contoso.Core", "1.0.0")
        assert client.get(f"{BASE}/{path}").status_code == 404
        assert client.head(f"{BASE}/{path}").status_code == 404

    def test_if_none_match_gives_304_without_a_body(self, client, publish):
        nupkg = publish("Contoso.Core", "1.0.0")
        url = f"{BASE}/contoso.core/1.0.0/contoso.core.1.0.0.nupkg"
        response = client.get(url, headers={"If-None-Match": sha512_etag(nupkg)})
        assert response.status_code == 304
        assert response.content == b""
        assert response["ETag"] == sha512_etag(nupkg)
        other = client.get(url, headers={"If-None-Match": '"something else"'})
        assert other.status_code == 200

    def test_head_answers_the_headers_without_opening_the_file(
        self, client, publish, package_files
    ):
        nupkg = publish("Contoso.Core", "1.0.0")
        url = f"{BASE}/contoso.core/1.0.0/contoso.core.1.0.0.nupkg"
        response = client.head(url)
        assert response.status_code == 200
        assert response.content == b""
        assert response["Content-Length"] == str(len(nupkg))
        assert response["ETag"] == sha512_etag(nupkg)

    def test_a_file_missing_from_storage_is_404_not_500(self, client, publish, package_files):
        publish("Contoso.Core", "1.0.0")
        (package_files / "contoso.core/1.0.0/contoso.core.1.0.0.nupkg").unlink()
        url = f"{BASE}/contoso.core/1.0.0/contoso.core.1.0.0.nupkg"
        assert client.get(url).status_code == 404

    def test_object_stores_redirect_to_a_short_lived_signed_url(self, client, publish, settings):
        publish("Contoso.Core", "1.0.0")
        settings.STORAGES = {
            **settings.STORAGES,
            "packages": {**settings.STORAGES["packages"],
                         "BACKEND": "tests.feed.storages.SigningStorage"},
        }  # fmt: skip
        settings.PACKAGES_DOWNLOAD_REDIRECT = 300
        response = client.get(f"{BASE}/contoso.core/1.0.0/contoso.core.1.0.0.nupkg")
        assert response.status_code == 302
        assert response["Location"] == (
            "https://objects.example.com/contoso.core/1.0.0/contoso.core.1.0.0.nupkg?expires-in=300"
        )
        assert downloads.flush() == 1
        assert PackageVersion.objects.get().download_count == 1


class TestFilesInsideThePackage:
    def test_nuspec_is_the_manifest_from_inside_the_package(self, client, publish):
        publish("Contoso.Core", "1.0.0", metadata_extra="<tags>a b</tags>")
        response = client.get(f"{BASE}/contoso.core/1.0/contoso.core.nuspec")
        assert response.status_code == 200
        assert response["Content-Type"] == "application/xml"
        expected = nuspec_xml("Contoso.Core", "1.0.0", metadata_extra="<tags>a b</tags>").encode()
        assert b"".join(response.streaming_content) == expected
        assert response["Content-Length"] == str(len(expected))
        nupkg_etag = client.head(f"{BASE}/contoso.core/1.0.0/contoso.core.1.0.0.nupkg")["ETag"]
        assert response["ETag"] != nupkg_etag
        assert client.get(
            f"{BASE}/contoso.core/1.0.0/contoso.core.nuspec",
            headers={"If-None-Match": response["ETag"]},
        ).status_code == 304  # fmt: skip

    def test_readme_and_icon_come_from_the_paths_the_nuspec_names(self, client, publish):
        readme = b"# Contoso.Core\n\nHello *there*.\n" * 1000
        publish(
            "Contoso.Core", "1.0.0",
            metadata_extra="<readme>docs\\README.md</readme><icon>images/icon.png</icon>",
            extra_files={"docs/README.md": readme, "images/icon.png": b"\x89PNG fake"},
        )  # fmt: skip
        response = client.get(f"{BASE}/contoso.core/1.0.0/readme")
        assert response.status_code == 200
        assert response["Content-Type"] == "text/markdown; charset=utf-8"
        assert b"".join(response.streaming_content) == readme
        head = client.head(f"{BASE}/contoso.core/1.0.0/readme")
        assert (head.status_code, head.content) == (200, b"")
        assert head["Content-Length"] == str(len(readme))
        icon = client.get(f"{BASE}/contoso.core/1.0.0/icon")
        assert icon["Content-Type"] == "image/png"
        assert b"".join(icon.streaming_content) == b"\x89PNG fake"

    def test_a_readme_the_package_lacks_is_404(self, client, publish):
        publish("Contoso.Core", "1.0.0", metadata_extra="<readme>README.md</readme>")
        assert client.get(f"{BASE}/contoso.core/1.0.0/readme").status_code == 404


class TestDownloadCounts:
    def url(self, version="1.0.0"):
        return f"{BASE}/contoso.core/{version}/contoso.core.{version}.nupkg"

    def counts(self):
        package = Package.objects.annotate(n=Lower("name")).get(n="contoso.core")
        return package.download_count, {
            v.normalized_version: v.download_count for v in package.versions.all()
        }

    def test_downloads_count_for_the_version_and_the_package(self, client, publish):
        publish("Contoso.Core", "1.0.0")
        publish("Contoso.Core", "2.0.0")
        client.get(self.url())
        client.get(self.url())
        client.get(self.url("2.0.0"))
        # Counted in memory: nothing written yet, so downloads never wait on a row lock.
        assert self.counts() == (0, {"1.0.0": 0, "2.0.0": 0})
        assert downloads.flush() == 3
        assert self.counts() == (3, {"1.0.0": 2, "2.0.0": 1})
        # Each download is written once.
        assert downloads.flush() == 0
        assert self.counts() == (3, {"1.0.0": 2, "2.0.0": 1})

    def test_downloads_pass_only_the_outer_middleware(self, client, publish):
        # Answered like a static file, before sessions, the language and the page
        # headers; the request ID and the security headers still come.
        publish("Contoso.Core", "1.0.0")
        headers = {"Accept-Language": "it"}
        response = client.get(self.url(), headers=headers)
        assert response.status_code == 200
        assert response["X-Request-ID"]
        assert response["X-Content-Type-Options"] == "nosniff"
        assert "Content-Security-Policy" not in response
        assert "Vary" not in response
        # The other files of the flat container go through the whole stack.
        nuspec = client.get(f"{BASE}/contoso.core/1.0.0/contoso.core.nuspec", headers=headers)
        assert nuspec.status_code == 200
        assert "Content-Security-Policy" in nuspec
        assert "Accept-Language" in nuspec["Vary"]

    def test_a_download_costs_one_query(self, client, publish, django_assert_num_queries):
        publish("Contoso.Core", "1.0.0")
        with django_assert_num_queries(1):
            assert client.get(self.url()).status_code == 200

    def test_head_and_not_modified_do_not_count(self, client, publish):
        nupkg = publish("Contoso.Core", "1.0.0")
        client.head(self.url())
        client.get(self.url(), headers={"If-None-Match": sha512_etag(nupkg)})
        client.get(f"{BASE}/contoso.core/1.0.0/contoso.core.nuspec")
        assert downloads.flush() == 0
        assert self.counts() == (0, {"1.0.0": 0})


def test_make_nupkg_builds_what_the_tests_push():
    # Guard: the fixture's bytes are deterministic, so equality checks mean something.
    assert make_nupkg("A", "1.0.0") == make_nupkg("A", "1.0.0")
