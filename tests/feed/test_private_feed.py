"""Private feeds (FEED_READ_ACCESS=authenticated) over HTTP: every read resource needs
a key with package:read, sent in X-NuGet-ApiKey or as the password of HTTP Basic."""

import base64
from io import StringIO

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.utils import timezone

from apikeys import keys
from apikeys.authentication import authenticate
from apikeys.models import ApiKey
from apikeys.scopes import Action, Grant
from apikeys.services import api_key_revoke
from audit.models import Event, EventKind
from tests.feed import read_fixtures
from tests.nupkgs import make_nupkg

pytestmark = pytest.mark.django_db
publish = read_fixtures.publish
READ = Action.READ.value
FLAT = "/v3/flatcontainer"

# Every read resource of Contoso.Core 1.0.0 (the readme included) and of the feed.
READS = [
    "/v3/index.json",
    f"{FLAT}/contoso.core/index.json",
    f"{FLAT}/contoso.core/1.0.0/contoso.core.1.0.0.nupkg",
    f"{FLAT}/contoso.core/1.0.0/contoso.core.nuspec",
    f"{FLAT}/contoso.core/1.0.0/readme",
    "/v3/registration/contoso.core/index.json",
    "/v3/registration-semver2/contoso.core/index.json",
    "/v3/registration-semver2/contoso.core/1.0.0.json",
    "/v3/registration-semver2/contoso.core/page/1.0.0/1.0.0.json",
    "/v3/search?q=contoso",
    "/v3/autocomplete?q=contoso",
    "/v3/autocomplete?id=Contoso.Core",
]


def basic(password: str, user: str = "anyone") -> dict:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def header(value: str) -> dict:
    return {"X-NuGet-ApiKey": value}


@pytest.fixture
def packages(publish):
    """Contoso.Core (with a readme), Contoso.Data and Fabrikam.Tools, pushed while the
    feed is public."""
    publish(
        "Contoso.Core", "1.0.0",
        metadata_extra="<readme>README.md</readme>", extra_files={"README.md": b"# Hi\n"},
    )  # fmt: skip
    publish("Contoso.Data", "1.0.0")
    publish("Fabrikam.Tools", "1.0.0")


@pytest.fixture
def private(settings, packages):
    settings.FEED_READ_ACCESS = "authenticated"
    settings.SITE_NAME = "Contoso Feed"


@pytest.fixture
def reader(owner, make_key):
    """A read key for every ID."""
    return make_key(owner, name="Restore", actions=[READ])[1]


def test_the_default_is_public_and_an_unknown_value_is_refused(client, settings, packages):
    del settings.FEED_READ_ACCESS
    assert client.get(READS[1]).status_code == 200
    settings.FEED_READ_ACCESS = "private"
    with pytest.raises(ImproperlyConfigured):
        client.get(READS[1])
    settings.FEED_READ_ACCESS = "authenticated"
    assert client.get(READS[1]).status_code == 401


class TestNoKey:
    @pytest.mark.parametrize("url", READS)
    def test_every_read_resource_answers_401_with_a_basic_challenge(self, client, private, url):
        response = client.get(url)
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == 'Basic realm="Contoso Feed"'
        assert "X-NuGet-ApiKey" in response.reason_phrase
        assert client.head(url).status_code == 401

    @pytest.mark.parametrize("url", READS)
    def test_a_read_key_reads_everything(self, client, private, reader, url):
        assert client.get(url).status_code == 401
        assert client.get(url, headers=basic(reader)).status_code == 200
        assert client.get(url, headers=header(reader)).status_code == 200

    def test_the_service_index_needs_a_key_and_then_lists_the_read_resources(
        self, client, private, reader
    ):
        assert client.get("/v3/index.json").status_code == 401
        types = {r["@type"] for r in client.get("/v3/index.json", headers=basic(reader)).json()[
            "resources"
        ]}  # fmt: skip
        assert {"PackageBaseAddress/3.0.0", "SearchQueryService/3.5.0", "PackagePublish/2.0.0"} <= (
            types
        )

    def test_a_user_name_without_a_password_is_no_key(self, client, private, reader):
        token = base64.b64encode(reader.encode()).decode()
        response = client.get(READS[1], headers={"Authorization": f"Basic {token}"})
        assert response.status_code == 401
        assert not Event.objects.filter(kind=EventKind.API_KEY_AUTH_FAILED).exists()


class TestWrongKey:
    @pytest.mark.parametrize("send", [basic, header])
    @pytest.mark.parametrize("value", ["garbage", "ngk_" + "A" * 38])
    def test_is_401_and_audited_without_the_value(self, client, private, send, value):
        response = client.get(f"{FLAT}/contoso.core/index.json", headers=send(value))
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == 'Basic realm="Contoso Feed"'
        event = Event.objects.get(kind=EventKind.API_KEY_AUTH_FAILED)
        assert event.details["failure"] in ("malformed", "unknown")
        assert value not in str(event.details)

    def test_broken_basic_credentials_are_a_failed_key(self, client, private):
        response = client.get(READS[1], headers={"Authorization": "Basic %%%not-base64"})
        assert response.status_code == 401
        assert Event.objects.get(kind=EventKind.API_KEY_AUTH_FAILED).details["failure"] == (
            "malformed"
        )

    def test_an_expired_key_is_401(self, client, private, owner, make_key):
        key, value = make_key(owner, actions=[READ])
        ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now())
        assert client.get(READS[2], headers=basic(value)).status_code == 401
        assert Event.objects.get(kind=EventKind.API_KEY_AUTH_FAILED).details["failure"] == (
            "expired"
        )

    def test_a_revoked_key_is_401(self, client, private, owner, make_key):
        key, value = make_key(owner, actions=[READ])
        assert client.get(READS[2], headers=basic(value)).status_code == 200
        api_key_revoke(api_key=key, actor=owner)
        assert client.get(READS[2], headers=basic(value)).status_code == 401

    def test_failures_share_the_push_endpoints_limit(
        self, client, private, settings, reader, push, owner, make_key
    ):
        settings.FEED_AUTH_FAILURE_LIMIT = 3
        _, pusher = make_key(owner)
        # Well-formed keys that do not exist: over the limit, the first is audited.
        statuses = [client.get(READS[1], headers=basic(keys.generate())).status_code
                    for _ in range(4)]  # fmt: skip
        assert statuses == [401, 401, 401, 429]
        limited = client.get("/v3/search", headers=header("garbage"))
        assert limited.status_code == 429
        assert int(limited["Retry-After"]) >= 1
        # The push endpoint counts the same failures ...
        assert push(make_nupkg("Contoso.New"), "ngk_" + "C" * 38).status_code == 429
        # ... and a valid key is not slowed by them, on either side.
        assert client.get(READS[1], headers=basic(reader)).status_code == 200
        assert push(make_nupkg("Contoso.New"), pusher).status_code == 201
        # Over the limit, only the first refusal was audited.
        failed = Event.objects.filter(kind=EventKind.API_KEY_AUTH_FAILED).order_by("pk")
        assert [event.details.get("rate_limited", False) for event in failed] == [
            False,
            False,
            False,
            True,
        ]

    def test_a_failed_key_is_counted_once_per_search(self, client, private, settings):
        # Search asks both whether the request may read and what it may see.
        settings.FEED_AUTH_FAILURE_LIMIT = 2
        bad = header("ngk_" + "D" * 38)
        statuses = [client.get("/v3/search", headers=bad).status_code for _ in range(3)]
        assert statuses == [401, 401, 429]


class TestPushOnlyKey:
    @pytest.mark.parametrize("url", READS)
    def test_is_403(self, client, private, owner, make_key, url):
        _, value = make_key(owner, actions=[Action.PUSH.value, Action.UNLIST.value])
        response = client.get(url, headers=basic(value))
        assert response.status_code == 403
        assert "package:read" in response.reason_phrase

    def test_the_refusal_is_audited_with_its_reason(self, client, private, owner, make_key):
        key, value = make_key(owner)
        client.get(f"{FLAT}/contoso.core/index.json", headers=header(value))
        event = Event.objects.get(kind=EventKind.PACKAGE_REFUSED)
        assert event.api_key_id == key.pk
        assert event.package_id == "contoso.core"
        assert event.details["action"] == "read"
        assert event.details["code"] == "scope"


class TestKeyForSomePackages:
    @pytest.fixture
    def contoso(self, owner, make_key):
        return make_key(owner, actions=[READ], globs=["Contoso.*"])[1]

    @pytest.mark.parametrize(
        "url",
        [
            f"{FLAT}/fabrikam.tools/index.json",
            f"{FLAT}/fabrikam.tools/1.0.0/fabrikam.tools.1.0.0.nupkg",
            f"{FLAT}/fabrikam.tools/1.0.0/fabrikam.tools.nuspec",
            "/v3/registration/fabrikam.tools/index.json",
            "/v3/registration-semver2/fabrikam.tools/1.0.0.json",
        ],
    )
    def test_others_are_404_as_a_missing_package_is(self, client, private, contoso, url):
        assert client.get(url, headers=basic(contoso)).status_code == 404
        missing = url.replace("fabrikam.tools", "fabrikam.nothing")
        assert client.get(missing, headers=basic(contoso)).status_code == 404
        own = url.replace("fabrikam.tools", "contoso.data")
        assert client.get(own, headers=basic(contoso)).status_code == 200
        assert client.get(url).status_code == 401

    def test_picked_packages_count_as_globs_do(self, client, private, owner, make_key):
        _, value = make_key(owner, actions=[READ], package_ids=["Fabrikam.Tools"])
        picked = client.get(f"{FLAT}/fabrikam.tools/index.json", headers=basic(value))
        assert picked.status_code == 200
        other = client.get(f"{FLAT}/contoso.core/index.json", headers=basic(value))
        assert other.status_code == 404

    def test_search_shows_and_counts_only_covered_ids(self, client, private, contoso, reader):
        assert client.get("/v3/search").status_code == 401
        everything = client.get("/v3/search?q=", headers=basic(reader)).json()
        assert everything["totalHits"] == 3
        found = client.get("/v3/search?q=&take=1", headers=basic(contoso)).json()
        assert found["totalHits"] == 2
        (hit,) = found["data"]
        assert hit["id"] in ("Contoso.Core", "Contoso.Data")
        hidden = client.get("/v3/search?q=fabrikam", headers=basic(contoso)).json()
        assert hidden == {"totalHits": 0, "data": []}

    def test_autocomplete_hides_the_others(self, client, private, contoso):
        assert client.get("/v3/autocomplete?q=o").status_code == 401
        ids = client.get("/v3/autocomplete?q=o", headers=header(contoso)).json()
        assert ids["totalHits"] == 2
        assert sorted(ids["data"]) == ["Contoso.Core", "Contoso.Data"]
        versions = client.get("/v3/autocomplete?id=Fabrikam.Tools", headers=header(contoso))
        assert versions.json() == {"data": []}
        versions = client.get("/v3/autocomplete?id=Contoso.Data", headers=header(contoso))
        assert versions.json() == {"data": ["1.0.0"]}


class TestReadsWithAKey:
    def test_update_its_last_used_time(self, client, private, owner, make_key):
        key, value = make_key(owner, actions=[READ])
        assert key.last_used_at is None
        assert client.get(READS[1]).status_code == 401
        assert client.get(READS[1], headers=basic(value)).status_code == 200
        key.refresh_from_db()
        assert key.last_used_at is not None

    def test_answers_are_private_to_their_reader(self, client, settings, packages, reader):
        nupkg = READS[2]
        assert "public" in client.get(nupkg)["Cache-Control"]
        settings.FEED_READ_ACCESS = "authenticated"
        assert client.get(nupkg).status_code == 401
        response = client.get(nupkg, headers=basic(reader))
        assert response.status_code == 200
        assert "private" in response["Cache-Control"]
        assert "public" not in response["Cache-Control"]
        assert {"authorization", "x-nuget-apikey"} <= {
            name.strip().lower() for name in response["Vary"].split(",")
        }


class TestPushStaysAsItWas:
    def test_push_and_unlist_need_their_own_scopes_not_read(
        self, client, private, push, owner, make_key
    ):
        _, pusher = make_key(owner, actions=[Action.PUSH.value, Action.UNLIST.value])
        _, read_only = make_key(owner, actions=[READ])
        assert client.get(READS[1], headers=header(pusher)).status_code == 403
        assert push(make_nupkg("Contoso.Core", "2.0.0"), pusher).status_code == 201
        assert push(make_nupkg("Contoso.Core", "3.0.0"), read_only).status_code == 403
        unlisted = client.delete("/api/v2/package/Contoso.Core/2.0.0", headers=header(read_only))
        assert unlisted.status_code == 403
        missing = push(make_nupkg("Contoso.Core", "3.0.0"), None)
        assert missing.status_code == 401
        assert missing["WWW-Authenticate"].startswith("ApiKey ")


class TestPublicFeed:
    def test_ignores_presented_keys(self, client, settings, packages):
        for url in READS:
            assert client.get(url, headers=basic("garbage")).status_code == 200, url
            assert client.get(url, headers=header("ngk_" + "A" * 38)).status_code == 200, url
        assert not Event.objects.filter(kind=EventKind.API_KEY_AUTH_FAILED).exists()
        settings.FEED_READ_ACCESS = "authenticated"
        assert client.get(READS[1], headers=basic("garbage")).status_code == 401


class TestReadScope:
    """The decision itself, and where the scope is offered."""

    def test_grant_reads_what_its_globs_cover_whoever_owns_it(self, client, private):
        assert client.get(READS[1]).status_code == 401
        grant = Grant.of([READ], ["Fabrikam.Tools"], ["Contoso.*"])
        assert grant.allows_read()
        assert grant.allows_read("contoso.core")
        assert grant.allows_read("FABRIKAM.TOOLS")
        assert grant.allows_read("Fabrikam.Web").code == "package"
        assert grant.allows(READ, "Contoso.Core", package_exists=True)
        push_only = Grant.of([Action.PUSH.value], [], ["*"])
        assert push_only.allows_read().code == "scope"
        assert push_only.allows_read("Contoso.Core").code == "scope"
        assert not Grant.of([READ], [], ["*"]).allows(Action.PUSH, "X", package_exists=False)

    def test_manage_py_apikey_create_scope_read(self, client, private, owner):
        stdout = StringIO()
        call_command(
            "apikey", "create", "--user", owner.username, "--name", "Restore",
            "--scope", "read", "--glob", "Contoso.*", stdout=stdout,
        )  # fmt: skip
        value = stdout.getvalue().splitlines()[-1]
        assert authenticate(value).grant.actions == {READ}
        assert client.get(READS[1]).status_code == 401
        assert client.get(READS[1], headers=basic(value)).status_code == 200

    def test_the_api_keys_page_offers_download_packages(self, client, private, owner):
        from tests.conftest import PASSWORD

        client.post("/users/account/LogOn", {"login": owner.username, "password": PASSWORD})
        page = client.get("/account/apikeys").content.decode()
        assert 'name="read"' in page
        assert "Download packages" in page
        token = page.split('name="form_token" value="', 1)[1].split('"', 1)[0]
        response = client.post(
            "/account/apikeys",
            {"form_token": token, "name": "Restore", "expires_in": "365",
             "owner": owner.username, "read": "on", "globs": "Contoso.*"},
        )  # fmt: skip
        assert response.status_code in (200, 302)
        key = ApiKey.objects.get(name="Restore")
        assert key.actions == [READ]
        assert key.scope_labels == ["Download packages"]
        assert client.get(READS[1]).status_code == 401


class TestStartupCheck:
    def test_a_misspelt_read_access_stops_the_server_from_starting(self, settings):
        from django.core.management import call_command
        from django.core.management.base import SystemCheckError

        settings.FEED_READ_ACCESS = "authenticate"
        with pytest.raises(SystemCheckError, match="FEED_READ_ACCESS"):
            call_command("check")

    def test_the_defaults_pass(self):
        from django.core.management import call_command

        call_command("check")
