"""The API Keys page over HTTP: every flow and every validation error."""

import re
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apikeys.authentication import authenticate
from apikeys.models import ApiKey
from audit.models import Event
from tests.conftest import PASSWORD

PAGE = "/account/apikeys"
pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(make_user, make_package):
    user = make_user("alice")
    for name in ("Contoso.Core", "Contoso.Utils", "Fabrikam.Web"):
        make_package(name, user)
    return user


@pytest.fixture
def keys_client(client, alice):
    # Signing in through the form records when, which the page's re-authentication reads.
    client.post("/users/account/LogOn", {"login": "alice", "password": PASSWORD})
    return client


def token_in(html: str) -> str:
    return re.search(r'name="form_token" value="([^"]+)"', html)[1]


def value_in(html: str) -> str | None:
    match = re.search(r'aria-label="API key value" value="([^"]+)"', html)
    return match[1] if match else None


def create_form(client, **overrides):
    data = {
        "form_token": token_in(client.get(PAGE).content.decode()),
        "name": "Build server",
        "expires_in": "365",
        "owner": "alice",
        "push": "on",
        "push_type": "package:push",
        "globs": "Contoso.*",
        "packages": ["Fabrikam.Web"],
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


class TestAccess:
    def test_anonymous_users_are_sent_to_sign_in(self, client):
        response = client.get(PAGE)
        assert response.status_code == 302
        assert response["Location"].startswith("/users/account/LogOn?next=")

    def test_unconfirmed_users_see_the_notice_and_cannot_create(self, client, make_user):
        make_user("bob", confirmed=False)
        client.post("/users/account/LogOn", {"login": "bob", "password": PASSWORD})
        page = client.get(PAGE).content.decode()
        assert "You must confirm your account before you can get an API key." in page
        assert 'name="form_token"' not in page
        response = client.post(PAGE, {"name": "x", "push": "on", "globs": "*"})
        assert response.status_code == 403
        assert not ApiKey.objects.exists()

    @pytest.mark.parametrize("action", ["edit", "regenerate", "revoke", "delete"])
    def test_someone_elses_key_is_a_404(self, keys_client, make_user, make_key, action):
        mallory = make_user("mallory")
        key, _ = make_key(mallory)
        url = f"{PAGE}/{key.pk}/{action}"
        assert keys_client.get(url).status_code == 404
        assert keys_client.post(url, {"globs": "*", "form_token": "x"}).status_code == 404
        key.refresh_from_db()
        assert key.is_active()


class TestCreateForm:
    def test_labels_match_nuget_org(self, keys_client):
        html = keys_client.get(PAGE).content.decode()
        for label in (
            "Create", "Manage", "Key Name", "Expires In", "Package Owner", "Select Scopes",
            "Push", "Push new packages and package versions", "Push only new package versions",
            "Unlist or relist package versions", "Select Packages", "Glob Pattern",
            "Available Packages", "Cancel", "Always keep your API keys secret!",
        ):  # fmt: skip
            assert label in html, label
        assert "You don't have any API keys." in html

    def test_expiry_choices_with_365_preselected(self, keys_client):
        html = keys_client.get(PAGE).content.decode()
        options = re.findall(r'<option value="(\d+)"( selected)?>', html)
        assert [v for v, _ in options] == ["1", "90", "180", "270", "365"]
        assert [v for v, s in options if s] == ["365"]

    def test_expiry_choices_are_capped_by_the_setting(self, keys_client, settings):
        settings.APIKEYS_MAX_EXPIRATION_DAYS = 180
        html = keys_client.get(PAGE).content.decode()
        options = re.findall(r'<option value="(\d+)"( selected)?>', html)
        assert [v for v, _ in options] == ["1", "90", "180"]
        assert [v for v, s in options if s] == ["180"]
        response = keys_client.post(PAGE, create_form(keys_client, expires_in="365"))
        assert response.status_code == 400
        assert not ApiKey.objects.exists()

    def test_only_the_owners_packages_are_offered(self, keys_client, make_user, make_package):
        make_package("Someone.Else", make_user("carol"))
        html = keys_client.get(PAGE).content.decode()
        assert 'value="Contoso.Core"' in html
        assert "Someone.Else" not in html


class TestCreate:
    def test_the_value_is_shown_once_and_never_cached(self, keys_client, alice):
        response = keys_client.post(PAGE, create_form(keys_client))
        assert response.status_code == 200
        value = value_in(response.content.decode())
        assert value is not None
        assert "no-store" in response["Cache-Control"]
        # The next page load shows the key in the list, not its value.
        html = keys_client.get(PAGE).content.decode()
        assert value not in html
        assert value_in(html) is None
        assert "Build server" in html
        assert "Expires in 365 days" in html
        assert "Never used" in html
        key = authenticate(value)
        assert key is not None and key.owner_id == alice.pk
        assert key.grant.actions == {"package:push"}
        assert key.grant.globs == ("Contoso.*",)
        assert key.grant.package_ids == {"fabrikam.web"}
        # Using the key shows on the page.
        assert "Never used" not in keys_client.get(PAGE).content.decode()

    def test_reposting_the_same_form_creates_nothing_and_shows_nothing(self, keys_client):
        form = create_form(keys_client)
        first = keys_client.post(PAGE, form)
        value = value_in(first.content.decode())
        again = keys_client.post(PAGE, form)
        assert again.status_code == 302
        assert again["Location"] == PAGE
        follow = keys_client.get(PAGE).content.decode()
        assert value not in follow
        assert "That form was already sent." in follow
        assert ApiKey.objects.count() == 1

    def test_value_is_not_in_the_session_or_messages(self, keys_client):
        from django.contrib.sessions.models import Session

        response = keys_client.post(PAGE, create_form(keys_client))
        value = value_in(response.content.decode())
        secret = value[4:-6]
        for session in Session.objects.all():
            decoded = str(session.get_decoded())
            assert value not in decoded and secret not in decoded

    @pytest.mark.parametrize(
        ("overrides", "field", "message"),
        [
            ({"name": ""}, "name", "The key name is required."),
            ({"name": "x" * 257}, "name", "The key name can be at most 256 characters long."),
            ({"push": None, "unlist": None}, "push", "At least one scope must be selected."),
            (
                {"globs": "", "packages": None},
                "globs",
                "Enter a glob pattern or select at least one package.",
            ),
            ({"globs": "Contoso.?"}, "globs", "may contain only letters, digits"),
            ({"globs": "\n".join(f"G{i}.*" for i in range(11))}, "globs", "at most 10"),
            ({"packages": ["Someone.Else"]}, "packages", "Select a valid choice."),
            ({"push_type": "package:delete"}, "push_type", "Select a valid choice."),
            ({"expires_in": "1000"}, "expires_in", "Select a valid choice."),
            ({"owner": "mallory"}, "owner", "You may not publish for this package owner."),
        ],
    )
    def test_bad_values_are_explained_next_to_the_field_and_nothing_is_written(
        self, keys_client, overrides, field, message
    ):
        response = keys_client.post(PAGE, create_form(keys_client, **overrides))
        assert response.status_code == 400
        errors = response.context["form"].errors
        assert field in errors, errors
        assert any(message in e for e in errors[field]), errors[field]
        html = response.content.decode().replace("&#x27;", "'").replace("&quot;", '"')
        assert f'id="id_{field}_error"' in html
        assert value_in(html) is None
        assert not ApiKey.objects.exists()
        assert not Event.objects.filter(kind__startswith="api_key:").exists()
        # The user's input is kept for the next try.
        assert "Build server" in html or overrides.get("name") is not None

    def test_unlist_only_key(self, keys_client):
        response = keys_client.post(PAGE, create_form(keys_client, push=None, unlist="on"))
        key = authenticate(value_in(response.content.decode()))
        assert key.grant.actions == {"package:unlist"}


class TestReauthentication:
    def test_a_stale_sign_in_asks_for_the_password_then_creates_the_key_once(
        self, keys_client, monkeypatch
    ):
        form = create_form(keys_client)
        # An hour passes after signing in.
        now = time.time
        monkeypatch.setattr(time, "time", lambda: now() + 3600)

        response = keys_client.post(PAGE, form)
        assert response.status_code == 302
        assert response["Location"].startswith("/users/account/reauthenticate/")
        assert not ApiKey.objects.exists()

        # After the password, allauth replays the suspended POST: nothing is typed twice.
        response = keys_client.post(response["Location"], {"password": PASSWORD}, follow=False)
        assert response.status_code == 200
        value = value_in(response.content.decode())
        assert value is not None and authenticate(value) is not None
        assert ApiKey.objects.count() == 1

    def test_a_fresh_sign_in_needs_no_password(self, keys_client):
        response = keys_client.post(PAGE, create_form(keys_client))
        assert response.status_code == 200


class TestManage:
    def test_edit_changes_only_the_packages(self, keys_client, alice, make_key):
        key, value = make_key(alice, name="Deploy", globs=["Contoso.*"])
        page = keys_client.get(f"{PAGE}/{key.pk}/edit")
        assert page.status_code == 200
        assert "Contoso.*" in page.content.decode()
        response = keys_client.post(
            f"{PAGE}/{key.pk}/edit", {"globs": "Fabrikam.*", "packages": ["Contoso.Core"]}
        )
        assert response.status_code == 302
        key.refresh_from_db()
        assert key.globs == ["Fabrikam.*"]
        assert key.package_ids == ["Contoso.Core"]
        assert key.name == "Deploy" and key.actions == ["package:push"]
        assert authenticate(value).grant.covers("Fabrikam.Web")

    def test_edit_with_a_bad_glob_keeps_the_key(self, keys_client, alice, make_key):
        key, _ = make_key(alice, globs=["Contoso.*"])
        response = keys_client.post(f"{PAGE}/{key.pk}/edit", {"globs": "bad glob!"})
        assert response.status_code == 400
        assert "may contain only letters" in response.content.decode()
        key.refresh_from_db()
        assert key.globs == ["Contoso.*"]

    def test_regenerate_confirms_then_shows_a_new_value(self, keys_client, alice, make_key):
        key, old = make_key(alice)
        confirm = keys_client.get(f"{PAGE}/{key.pk}/regenerate")
        assert confirm.status_code == 200
        assert "The current value stops working at once" in confirm.content.decode()
        form = {"form_token": token_in(confirm.content.decode())}
        response = keys_client.post(f"{PAGE}/{key.pk}/regenerate", form)
        new = value_in(response.content.decode())
        assert new and new != old
        assert authenticate(old) is None
        assert authenticate(new) is not None
        # Reloading the answer regenerates nothing and shows nothing.
        again = keys_client.post(f"{PAGE}/{key.pk}/regenerate", form)
        assert again.status_code == 302
        assert authenticate(new) is not None

    def test_revoke_keeps_the_key_listed_as_revoked(self, keys_client, alice, make_key):
        key, value = make_key(alice)
        assert (
            "stops working at once" in keys_client.get(f"{PAGE}/{key.pk}/revoke").content.decode()
        )
        response = keys_client.post(f"{PAGE}/{key.pk}/revoke")
        assert response.status_code == 302
        assert authenticate(value) is None
        html = keys_client.get(PAGE).content.decode()
        assert "Revoked" in html
        assert "was revoked and no longer works" in html

    def test_expired_keys_get_a_banner(self, keys_client, alice, make_key):
        from django.utils import timezone

        key, _ = make_key(alice)
        ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now())
        html = keys_client.get(PAGE).content.decode()
        assert "Expired" in html
        assert "One of your API keys has expired." in html

    def test_delete_removes_the_key(self, keys_client, alice, make_key):
        key, value = make_key(alice)
        assert keys_client.get(f"{PAGE}/{key.pk}/delete").status_code == 200
        response = keys_client.post(f"{PAGE}/{key.pk}/delete")
        assert response.status_code == 302
        assert not ApiKey.objects.exists()
        assert authenticate(value) is None
        assert "You don't have any API keys." in keys_client.get(PAGE).content.decode()

    def test_packages_show_three_then_more(self, keys_client, alice, make_key, make_package):
        names = [f"Pkg.N{i}" for i in range(5)]
        for name in names:
            make_package(name, alice)
        make_key(alice, package_ids=names)
        html = keys_client.get(PAGE).content.decode()
        assert "Pkg.N0, Pkg.N1, Pkg.N2" in html
        assert "more…" in html


def test_the_list_costs_the_same_queries_for_few_and_many_keys(
    keys_client, alice, make_key, make_package
):
    def count():
        with CaptureQueriesContext(connection) as queries:
            assert keys_client.get(PAGE).status_code == 200
        return len(queries)

    make_key(alice)
    few = count()
    for i in range(30):
        make_package(f"Many.P{i}", alice)
        make_key(alice, name=f"k{i}", package_ids=[f"Many.P{i}"])
    assert count() == few
    assert few <= 9
