"""Registrations (RegistrationsBaseUrl) through Django's test client."""

import pytest

from packages.models import Package, PackageVersion
from tests.feed import read_fixtures

pytestmark = pytest.mark.django_db
publish = read_fixtures.publish
SEMVER1 = "http://testserver/v3/registration"
SEMVER2 = "http://testserver/v3/registration-semver2"
FLAT = "http://testserver/v3/flatcontainer"

DEPENDENCIES = """
  <dependencies>
    <group targetFramework="net8.0"><dependency id="Demo.Lib" version="1.0" /></group>
    <group><dependency id="Any.Lib" version="[1.0,2.0)" /></group>
  </dependencies>
"""
METADATA = f"""
  <title>Contoso Core</title><summary>Core bits.</summary><tags>web json</tags>
  <projectUrl>https://example.com/</projectUrl>
  <license type="expression">MIT</license>
  <licenseUrl>https://licenses.nuget.org/MIT</licenseUrl>
  <readme>README.md</readme><icon>icon.png</icon>
  <requireLicenseAcceptance>true</requireLicenseAcceptance>
  <language>en-US</language>
  {DEPENDENCIES}
"""


def path(url: str) -> str:
    return url.removeprefix("http://testserver")


class TestIndex:
    def test_inline_page_with_catalog_entries_from_the_nuspec(self, client, publish):
        nupkg = publish(
            "Contoso.Core", "1.0.0", metadata_extra=METADATA,
            extra_files={"README.md": b"# hi", "icon.png": b"png"},
        )  # fmt: skip
        publish("Contoso.Core", "1.1.0")
        response = client.get("/v3/registration/contoso.core/index.json")
        assert response.status_code == 200
        body = response.json()
        assert body["@id"] == f"{SEMVER1}/contoso.core/index.json"
        assert body["count"] == 1
        page = body["items"][0]
        assert (page["count"], page["lower"], page["upper"]) == (2, "1.0.0", "1.1.0")
        assert page["parent"] == body["@id"]
        leaf = page["items"][0]
        assert leaf["@id"] == f"{SEMVER1}/contoso.core/1.0.0.json"
        assert leaf["registration"] == body["@id"]
        assert leaf["packageContent"] == f"{FLAT}/contoso.core/1.0.0/contoso.core.1.0.0.nupkg"
        entry = leaf["catalogEntry"]
        assert entry["id"] == "Contoso.Core"
        assert entry["version"] == "1.0.0"
        assert entry["listed"] is True
        assert entry["published"] == PackageVersion.objects.get(
            normalized_version="1.0.0"
        ).pushed_at.isoformat()  # fmt: skip
        assert (entry["authors"], entry["description"]) == ("Contoso", "A test package")
        assert (entry["title"], entry["summary"]) == ("Contoso Core", "Core bits.")
        assert entry["tags"] == ["web", "json"]
        assert entry["projectUrl"] == "https://example.com/"
        assert entry["licenseExpression"] == "MIT"
        assert entry["licenseUrl"] == "https://licenses.nuget.org/MIT"
        assert entry["requireLicenseAcceptance"] is True
        assert entry["language"] == "en-US"
        assert entry["minClientVersion"] == ""
        assert entry["readmeUrl"] == f"{FLAT}/contoso.core/1.0.0/readme"
        assert entry["iconUrl"] == f"{FLAT}/contoso.core/1.0.0/icon"
        groups = [
            (group.get("targetFramework"), [(d["id"], d["range"]) for d in group["dependencies"]])
            for group in entry["dependencyGroups"]
        ]
        assert groups == [
            ("net8.0", [("Demo.Lib", "[1.0.0, )")]),
            (None, [("Any.Lib", "[1.0.0, 2.0.0)")]),
        ]
        # The links lead to what they name.
        download = client.get(path(leaf["packageContent"]))
        assert b"".join(download.streaming_content) == nupkg
        assert b"".join(client.get(path(entry["readmeUrl"])).streaming_content) == b"# hi"
        assert "readmeUrl" not in page["items"][1]["catalogEntry"]
        assert "iconUrl" not in page["items"][1]["catalogEntry"]

    def test_unlisted_versions_are_there_unlisted_and_published_in_1900(self, client, publish):
        publish("Contoso.Core", "1.0.0", listed=False)
        publish("Contoso.Core", "2.0.0", listed=False)
        response = client.get("/v3/registration/contoso.core/index.json")
        assert response.status_code == 200
        entries = [leaf["catalogEntry"] for leaf in response.json()["items"][0]["items"]]
        assert [(e["version"], e["listed"], e["published"]) for e in entries] == [
            ("1.0.0", False, "1900-01-01T00:00:00+00:00"),
            ("2.0.0", False, "1900-01-01T00:00:00+00:00"),
        ]

    def test_semver2_versions_only_in_the_semver2_hive(self, client, publish):
        for version in ["1.0.0", "1.1.0-beta", "1.1.0-beta.2", "1.2.0+build.9"]:
            publish("Contoso.Core", version)
        semver1 = client.get("/v3/registration/contoso.core/index.json").json()
        semver2 = client.get("/v3/registration-semver2/contoso.core/index.json").json()
        assert [i["catalogEntry"]["version"] for i in semver1["items"][0]["items"]] == [
            "1.0.0", "1.1.0-beta",
        ]  # fmt: skip
        assert [i["catalogEntry"]["version"] for i in semver2["items"][0]["items"]] == [
            "1.0.0", "1.1.0-beta", "1.1.0-beta.2", "1.2.0+build.9",
        ]  # fmt: skip
        assert semver2["items"][0]["upper"] == "1.2.0"
        assert semver2["@id"] == f"{SEMVER2}/contoso.core/index.json"
        leaf = semver2["items"][0]["items"][3]
        assert leaf["@id"] == f"{SEMVER2}/contoso.core/1.2.0.json"
        assert leaf["packageContent"] == f"{FLAT}/contoso.core/1.2.0/contoso.core.1.2.0.nupkg"
        assert client.get("/v3/registration/contoso.core/1.2.0.json").status_code == 404
        assert client.get("/v3/registration-semver2/contoso.core/1.2.0.json").status_code == 200

    def test_a_package_with_only_semver2_versions_is_unknown_to_semver1(self, client, publish):
        publish("Contoso.Core", "1.0.0-beta.1")
        assert client.get("/v3/registration/contoso.core/index.json").status_code == 404
        assert client.get("/v3/registration-semver2/contoso.core/index.json").status_code == 200

    @pytest.mark.parametrize("package_id", ["nothing.here", "bad..id"])
    def test_unknown_id_is_404(self, client, publish, package_id):
        publish("Contoso.Core", "1.0.0")
        for hive in ("registration", "registration-semver2"):
            response = client.get(f"/v3/{hive}/{package_id}/index.json")
            assert response.status_code == 404
            assert response.reason_phrase.endswith("was not found.")

    def test_id_case_does_not_matter_and_head_has_no_body(self, client, publish):
        publish("Contoso.Core", "1.0.0")
        get = client.get("/v3/registration/CONTOSO.CORE/index.json")
        assert get.json()["items"][0]["items"][0]["catalogEntry"]["id"] == "Contoso.Core"
        head = client.head("/v3/registration/contoso.core/index.json")
        assert (head.status_code, head.content) == (200, b"")
        assert head["Content-Length"] == str(len(get.content))


@pytest.fixture
def big_package(db):
    """300 versions, 1.0.0 ... 1.299.0, plus a SemVer 2 one, straight into the database."""
    package = Package.objects.create(name="Big.Package")
    rows = [
        PackageVersion(package=package, version=f"1.{n}.0", normalized_version=f"1.{n}.0",
                       size=1, sha512="x", listed=n % 7 != 0)
        for n in range(300)
    ]  # fmt: skip
    rows.append(
        PackageVersion(package=package, version="2.0.0-rc.1", normalized_version="2.0.0-rc.1",
                       size=1, sha512="x", is_semver2=True)
    )  # fmt: skip
    PackageVersion.objects.bulk_create(rows)
    return package


class TestPaging:
    def test_more_than_128_versions_page_by_64_without_items(
        self, client, big_package, django_assert_num_queries
    ):
        with django_assert_num_queries(1):
            body = client.get("/v3/registration/big.package/index.json").json()
        assert body["count"] == 5
        pages = body["items"]
        assert [page["count"] for page in pages] == [64, 64, 64, 64, 44]
        assert [(page["lower"], page["upper"]) for page in pages] == [
            ("1.0.0", "1.63.0"), ("1.64.0", "1.127.0"), ("1.128.0", "1.191.0"),
            ("1.192.0", "1.255.0"), ("1.256.0", "1.299.0"),
        ]  # fmt: skip
        assert all("items" not in page for page in pages)
        assert all(page["parent"] == f"{SEMVER1}/big.package/index.json" for page in pages)
        assert pages[0]["@id"] == f"{SEMVER1}/big.package/page/1.0.0/1.63.0.json"

        semver2 = client.get("/v3/registration-semver2/big.package/index.json").json()
        assert semver2["items"][-1]["upper"] == "2.0.0-rc.1"
        assert semver2["items"][-1]["count"] == 45

    def test_each_page_answers_with_its_items(self, client, big_package, django_assert_num_queries):
        pages = client.get("/v3/registration/big.package/index.json").json()["items"]
        seen = []
        for page in pages:
            with django_assert_num_queries(2):
                answer = client.get(path(page["@id"]))
            assert answer.status_code == 200
            body = answer.json()
            assert {k: body[k] for k in ("@id", "count", "lower", "upper", "parent")} == {
                k: page[k] for k in ("@id", "count", "lower", "upper", "parent")
            }
            assert len(body["items"]) == page["count"]
            seen += [item["catalogEntry"] for item in body["items"]]
        assert [entry["version"] for entry in seen] == [f"1.{n}.0" for n in range(300)]
        assert [entry["listed"] for entry in seen] == [n % 7 != 0 for n in range(300)]

    def test_a_page_outside_the_versions_is_404(self, client, big_package):
        assert client.get("/v3/registration/big.package/page/9.0.0/9.1.0.json").status_code == 404
        assert client.get("/v3/registration/big.package/page/x/y.json").status_code == 404


class TestLeaf:
    def test_leaf_links_the_package_and_the_index(self, client, publish):
        publish("Contoso.Core", "1.0.0")
        publish("Contoso.Core", "2.0.0", listed=False)
        response = client.get("/v3/registration/contoso.core/1.0.json")
        assert response.status_code == 200
        body = response.json()
        assert body["@id"] == f"{SEMVER1}/contoso.core/1.0.0.json"
        assert body["catalogEntry"] == body["@id"]
        assert body["listed"] is True
        assert body["packageContent"] == f"{FLAT}/contoso.core/1.0.0/contoso.core.1.0.0.nupkg"
        assert body["registration"] == f"{SEMVER1}/contoso.core/index.json"
        unlisted = client.get("/v3/registration/contoso.core/2.0.0.json").json()
        assert (unlisted["listed"], unlisted["published"]) == (False, "1900-01-01T00:00:00+00:00")
        assert client.get("/v3/registration/contoso.core/3.0.0.json").status_code == 404
        assert client.get("/v3/registration/contoso.core/nope.json").status_code == 404
