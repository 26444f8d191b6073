"""Search and autocomplete over HTTP, shaped as Visual Studio and `dotnet package search`
send them: packages pushed through the publish endpoint, found through the service
index's URLs."""

import pytest

from tests.nupkgs import make_nupkg

pytestmark = pytest.mark.django_db
UNLIST = "/api/v2/package/{}/{}"


@pytest.fixture
def key(owner, make_key):
    return make_key(owner, actions=["package:push", "package:unlist"])[1]


@pytest.fixture
def publish(push, key):
    def send(package_id, version="1.0.0", **nuspec):
        response = push(make_nupkg(package_id, version, **nuspec), key)
        assert response.status_code == 201, response.reason_phrase
        return response

    return send


def resource(client, kind: str) -> str:
    resources = client.get("/v3/index.json").json()["resources"]
    (found,) = [r["@id"] for r in resources if r["@type"] == kind]
    return found


class TestServiceIndex:
    @pytest.mark.parametrize(
        "kind",
        [
            "SearchQueryService",
            "SearchQueryService/3.0.0-beta",
            "SearchQueryService/3.0.0-rc",
            "SearchQueryService/3.5.0",
        ],
    )
    def test_search_is_offered_under_the_types_clients_match(self, client, kind):
        assert resource(client, kind) == "http://testserver/v3/search"

    @pytest.mark.parametrize(
        "kind",
        [
            "SearchAutocompleteService",
            "SearchAutocompleteService/3.0.0-beta",
            "SearchAutocompleteService/3.0.0-rc",
        ],
    )
    def test_autocomplete_is_offered(self, client, kind):
        assert resource(client, kind) == "http://testserver/v3/autocomplete"

    def test_site_url_wins(self, client, settings):
        settings.SITE_URL = "https://nuget.example.com"
        assert resource(client, "SearchQueryService") == "https://nuget.example.com/v3/search"


class TestSearch:
    def test_the_answer_has_nugets_shape(self, client, publish, owner):
        publish(
            "Contoso.Core",
            "1.0.0",
            authors="Ann, Bob",
            description="Core pieces",
            metadata_extra=(
                "<title>Contoso Core</title><tags>web json</tags><summary>Short</summary>"
                "<projectUrl>https://example.com/p</projectUrl>"
                "<iconUrl>https://example.com/i.png</iconUrl>"
                "<licenseUrl>https://example.com/l</licenseUrl>"
            ),
        )
        publish("Contoso.Core", "1.1.0", authors="Ann, Bob", description="Core pieces")
        url = resource(client, "SearchQueryService/3.5.0")
        response = client.get(url, {"q": "contoso", "semVerLevel": "2.0.0"})
        assert response.status_code == 200
        assert response["Content-Type"] == "application/json"
        body = response.json()
        assert body["totalHits"] == 1
        (hit,) = body["data"]
        registration = "http://testserver/v3/registration-semver2/contoso.core/index.json"
        assert hit == {
            "@id": registration,
            "@type": "Package",
            "registration": registration,
            "id": "Contoso.Core",
            "version": "1.1.0",
            "description": "Core pieces",
            "summary": "",
            "title": "Contoso.Core",
            "iconUrl": "",
            "licenseUrl": "",
            "projectUrl": "",
            "tags": [],
            "authors": ["Ann", "Bob"],
            "owners": ["alice"],
            "totalDownloads": 0,
            "verified": False,
            "packageTypes": [{"name": "Dependency"}],
            "versions": [
                {
                    "version": "1.0.0",
                    "downloads": 0,
                    "@id": "http://testserver/v3/registration-semver2/contoso.core/1.0.0.json",
                },
                {
                    "version": "1.1.0",
                    "downloads": 0,
                    "@id": "http://testserver/v3/registration-semver2/contoso.core/1.1.0.json",
                },
            ],
        }

    def test_the_texts_are_the_latest_versions(self, client, publish):
        publish(
            "Contoso.Core",
            "2.0.0",
            description="Core pieces",
            metadata_extra=(
                "<title>Contoso Core</title><tags>web json</tags><summary>Short</summary>"
                "<projectUrl>https://example.com/p</projectUrl>"
                "<iconUrl>https://example.com/i.png</iconUrl>"
                "<licenseUrl>https://example.com/l</licenseUrl>"
            ),
        )
        (hit,) = client.get("/v3/search", {"q": "json"}).json()["data"]
        assert (hit["title"], hit["summary"], hit["tags"]) == (
            "Contoso Core",
            "Short",
            ["web", "json"],
        )
        assert (hit["projectUrl"], hit["iconUrl"], hit["licenseUrl"]) == (
            "https://example.com/p",
            "https://example.com/i.png",
            "https://example.com/l",
        )

    def test_semver1_clients_get_the_semver1_registration(self, client, publish):
        publish("Contoso.Core")
        (hit,) = client.get("/v3/search").json()["data"]
        assert hit["registration"] == "http://testserver/v3/registration/contoso.core/index.json"
        assert hit["versions"][0]["@id"] == (
            "http://testserver/v3/registration/contoso.core/1.0.0.json"
        )

    def test_total_hits_is_every_match_and_data_the_page(self, client, publish):
        for n in range(5):
            publish(f"Contoso.P{n}")
        body = client.get("/v3/search", {"q": "contoso", "skip": "1", "take": "2"}).json()
        assert body["totalHits"] == 5
        assert [hit["id"] for hit in body["data"]] == ["Contoso.P1", "Contoso.P2"]

    def test_unlisted_versions_never_appear(self, client, publish, key):
        publish("Contoso.Core", "1.0.0")
        publish("Contoso.Core", "2.0.0")
        publish("Contoso.Gone", "1.0.0")
        headers = {"X-NuGet-ApiKey": key}
        assert (
            client.delete(UNLIST.format("Contoso.Core", "2.0.0"), headers=headers).status_code
            == 204
        )
        assert (
            client.delete(UNLIST.format("Contoso.Gone", "1.0.0"), headers=headers).status_code
            == 204
        )
        body = client.get("/v3/search", {"q": "contoso"}).json()
        assert body["totalHits"] == 1
        (hit,) = body["data"]
        assert (hit["version"], [v["version"] for v in hit["versions"]]) == ("1.0.0", ["1.0.0"])
        assert (
            client.post(UNLIST.format("Contoso.Gone", "1.0.0"), headers=headers).status_code == 200
        )
        assert client.get("/v3/search", {"q": "contoso"}).json()["totalHits"] == 2

    def test_prerelease_and_semver2(self, client, publish):
        publish("Contoso.Core", "1.0.0")
        publish("Contoso.Core", "2.0.0-beta")
        publish("Contoso.Core", "3.0.0-beta.1")

        def version(**params):
            (hit,) = client.get("/v3/search", params).json()["data"]
            return hit["version"]

        assert version() == "1.0.0"
        assert version(prerelease="true") == "2.0.0-beta"
        assert version(prerelease="true", semVerLevel="2.0.0") == "3.0.0-beta.1"
        assert version(prerelease="false", semVerLevel="2.0.0") == "1.0.0"

    def test_prefixes_and_ranking(self, client, publish):
        publish("Fabrikam.Json", description="x")
        publish("Json", description="x")
        publish("Contoso.Core", description="reads json")
        publish("Json.Tools", description="x")

        def found(q):
            return [hit["id"] for hit in client.get("/v3/search", {"q": q}).json()["data"]]

        assert found("json") == ["Json", "Json.Tools", "Fabrikam.Json", "Contoso.Core"]
        assert found("packageid:json") == ["Json"]
        assert found("description:reads") == ["Contoso.Core"]
        assert sorted(found("owner:alice")) == [
            "Contoso.Core",
            "Fabrikam.Json",
            "Json",
            "Json.Tools",
        ]

    def test_package_type(self, client, publish):
        publish("Contoso.Core")
        assert client.get("/v3/search", {"packageType": "Dependency"}).json()["totalHits"] == 1
        assert client.get("/v3/search", {"packageType": "DotnetTool"}).json() == {
            "totalHits": 0,
            "data": [],
        }

    @pytest.mark.parametrize(
        "params",
        [
            {"skip": "3001"},
            {"take": "1001"},
            {"skip": "-5"},
            {"take": "many"},
            {"prerelease": "perhaps"},
            {"semVerLevel": "next"},
            {"q": "x" * 600},
        ],
    )
    def test_bad_parameters_are_400_with_a_reason(self, client, params):
        response = client.get("/v3/search", params)
        assert response.status_code == 400
        assert response.reason_phrase != "Bad Request"
        assert response.content.decode().strip()

    def test_the_caps_themselves_are_accepted(self, client, publish):
        publish("Contoso.Core")
        response = client.get("/v3/search", {"skip": "3000", "take": "1000"})
        assert response.status_code == 200
        assert response.json() == {"totalHits": 1, "data": []}

    def test_head_has_headers_and_no_body(self, client):
        response = client.head("/v3/search")
        assert response.status_code == 200
        assert response["Content-Type"] == "application/json"
        assert response.content == b""

    def test_other_methods_are_405(self, client):
        assert client.post("/v3/search").status_code == 405

    def test_a_page_costs_four_queries(self, client, publish, django_assert_num_queries):
        for n in range(25):
            publish(f"Contoso.P{n}")
            publish(f"Contoso.P{n}", "2.0.0")
        with django_assert_num_queries(4):
            body = client.get("/v3/search", {"q": "contoso", "take": "20"}).json()
        assert len(body["data"]) == 20


class TestAutocomplete:
    def test_ids_prefix_matches_first(self, client, publish):
        publish("Fabrikam.Json")
        publish("JsonKit")
        publish("Other")
        url = resource(client, "SearchAutocompleteService/3.0.0-rc")
        assert client.get(url, {"q": "json"}).json() == {
            "totalHits": 2,
            "data": ["JsonKit", "Fabrikam.Json"],
        }
        assert client.get(url, {"q": "json", "skip": "1", "take": "5"}).json() == {
            "totalHits": 2,
            "data": ["Fabrikam.Json"],
        }

    def test_ids_filters(self, client, publish):
        publish("Beta.Only", "1.0.0-beta")
        publish("Meta.Only", "1.0.0+abc")
        assert client.get("/v3/autocomplete", {"q": "only"}).json()["totalHits"] == 0
        assert client.get("/v3/autocomplete", {"q": "only", "prerelease": "true"}).json() == {
            "totalHits": 1,
            "data": ["Beta.Only"],
        }
        assert client.get("/v3/autocomplete", {"q": "only", "semVerLevel": "2.0.0"}).json() == {
            "totalHits": 1,
            "data": ["Meta.Only"],
        }

    def test_versions_of_one_package(self, client, publish, key):
        for version in ("1.0.0", "2.0.0-beta", "1.5.0", "3.0.0-rc.1", "4.0.0"):
            publish("Contoso.Core", version)
        client.delete(UNLIST.format("Contoso.Core", "4.0.0"), headers={"X-NuGet-ApiKey": key})
        get = client.get
        assert get("/v3/autocomplete", {"id": "contoso.core"}).json() == {
            "data": ["1.0.0", "1.5.0"]
        }
        assert get("/v3/autocomplete", {"id": "Contoso.Core", "prerelease": "true"}).json() == {
            "data": ["1.0.0", "1.5.0", "2.0.0-beta"]
        }
        assert get(
            "/v3/autocomplete", {"id": "Contoso.Core", "prerelease": "true", "semVerLevel": "2.0.0"}
        ).json() == {"data": ["1.0.0", "1.5.0", "2.0.0-beta", "3.0.0-rc.1"]}
        assert get("/v3/autocomplete", {"id": "Missing"}).json() == {"data": []}

    @pytest.mark.parametrize(
        "params", [{"take": "1001"}, {"skip": "x"}, {"id": "A", "prerelease": "yes please"}]
    )
    def test_bad_parameters_are_400(self, client, params):
        assert client.get("/v3/autocomplete", params).status_code == 400


class TestDownloadsReachTheRanking:
    def test_folded_downloads_reorder_an_empty_query(self, client, publish):
        from packages import downloads

        publish("Alpha.Lib")
        publish("Beta.Lib")
        search = resource(client, "SearchQueryService")
        nupkg = resource(client, "PackageBaseAddress/3.0.0") + "beta.lib/1.0.0/beta.lib.1.0.0.nupkg"
        for _ in range(3):
            assert client.get(nupkg).status_code == 200
        downloads.flush()

        data = client.get(search, {"q": ""}).json()["data"]
        assert [hit["id"] for hit in data] == ["Beta.Lib", "Alpha.Lib"]
        assert [hit["totalDownloads"] for hit in data] == [3, 0]
