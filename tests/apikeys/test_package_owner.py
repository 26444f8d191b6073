"""The Package Owner of a key: the user, or an organization they may publish for.

Through the API Keys page (the select, its message, the packages that follow the
chosen owner) and through ``api_key_create`` (the rule, whatever the form says).
"""

import re

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from accounts.services import member_remove
from apikeys.authentication import authenticate
from apikeys.models import ApiKey
from apikeys.services import api_key_create, api_key_edit
from audit.models import Event, EventKind
from tests.conftest import PASSWORD

PAGE = "/account/apikeys"
pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(make_user, make_package):
    user = make_user("alice")
    make_package("Alice.Tools", user)
    return user


@pytest.fixture
def contoso(make_user, make_organization, make_package, alice):
    organization = make_organization("Contoso", make_user("olivia"), {alice: "collaborator"})
    make_package("Contoso.Core", organization.account)
    make_package("Contoso.Utils", organization.account)
    # Owned by both: offered under either owner.
    make_package("Shared.Lib", organization.account, alice)
    return organization


@pytest.fixture
def fabrikam(make_user, make_organization, make_package):
    # Alice is not a member.
    organization = make_organization("Fabrikam", make_user("frank"))
    make_package("Fabrikam.Web", organization.account)
    return organization


@pytest.fixture
def keys_client(client, alice):
    client.post("/users/account/LogOn", {"login": "alice", "password": PASSWORD})
    return client


def token_in(html: str) -> str:
    return re.search(r'name="form_token" value="([^"]+)"', html)[1]


def value_in(html: str) -> str | None:
    match = re.search(r'aria-label="API key value" value="([^"]+)"', html)
    return match[1] if match else None


def owner_options(html: str) -> list[tuple[str, bool]]:
    select = re.search(r'<select name="owner".*?</select>', html, re.S)[0]
    return [(v, bool(s)) for v, s in re.findall(r'<option value="([^"]*)"( selected)?', select)]


def create_form(client, **overrides):
    data = {
        "form_token": token_in(client.get(PAGE).content.decode()),
        "name": "Build server",
        "expires_in": "365",
        "owner": "Contoso",
        "push": "on",
        "push_type": "package:push",
        "globs": "",
        "packages": ["Contoso.Core"],
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


class TestTheSelect:
    def test_one_choice_is_preselected(self, keys_client):
        html = keys_client.get(PAGE).content.decode()
        assert owner_options(html) == [("alice", True)]

    def test_with_organizations_nothing_is_preselected(self, keys_client, contoso, fabrikam):
        html = keys_client.get(PAGE).content.decode()
        # The user, then each organization they may publish for (not Fabrikam), below
        # a placeholder that is what shows until the user chooses.
        assert owner_options(html) == [("", True), ("alice", False), ("Contoso", False)]
        assert '<option value="" selected>Select a package owner</option>' in html

    def test_submitting_without_a_choice_says_so_next_to_the_field(self, keys_client, contoso):
        response = keys_client.post(PAGE, create_form(keys_client, owner=None))
        assert response.status_code == 400
        assert response.context["form"].errors["owner"] == ["A package owner must be selected."]
        html = response.content.decode()
        error = re.search(r'<div class="field__errors" id="id_owner_error">(.*?)</div>', html, re.S)
        assert "A package owner must be selected." in error[1]
        assert not ApiKey.objects.exists()

    def test_an_organization_one_is_not_in_is_refused_next_to_the_field(
        self, keys_client, contoso, fabrikam
    ):
        response = keys_client.post(
            PAGE, create_form(keys_client, owner="Fabrikam", packages=None, globs="*")
        )
        assert response.status_code == 400
        assert response.context["form"].errors["owner"] == [
            "You may not publish for this package owner."
        ]
        assert not ApiKey.objects.exists()
        assert not Event.objects.filter(kind__startswith="api_key:").exists()

    def test_each_package_names_its_owners_for_the_script(self, keys_client, contoso, fabrikam):
        html = keys_client.get(PAGE).content.decode()
        owners = {
            package: names
            for names, package in re.findall(
                r'<li class="package-list__item" data-owners="([^"]*)"><label>'
                r'<input type="checkbox" name="packages" value="([^"]+)"',
                html,
            )
        }
        assert owners == {
            "Alice.Tools": "alice",
            "Contoso.Core": "Contoso",
            "Contoso.Utils": "Contoso",
            "Shared.Lib": "alice Contoso",
        }
        assert "Fabrikam.Web" not in html
        assert "data-package-owner" in html


class TestCreate:
    def test_an_organization_scoped_key(self, keys_client, alice, contoso):
        response = keys_client.post(
            PAGE, create_form(keys_client, packages=["Contoso.Core", "Shared.Lib"])
        )
        assert response.status_code == 200
        key = authenticate(value_in(response.content.decode()))
        assert (key.owner_id, key.account_id) == (alice.pk, contoso.account.pk)
        api_key = ApiKey.objects.get()
        assert api_key.package_owner == contoso.account
        assert api_key.created_by == alice
        assert api_key.package_ids == ["Contoso.Core", "Shared.Lib"]
        # The Manage list says whom it acts for.
        html = keys_client.get(PAGE).content.decode()
        row = re.search(r'<li class="key.*?</li>\s*</ul>', html, re.S)[0]
        assert "<dt>Package Owner</dt><dd>Contoso</dd>" in row

    def test_the_users_own_choice_stores_no_package_owner(self, keys_client, alice, contoso):
        response = keys_client.post(
            PAGE, create_form(keys_client, owner="alice", packages=["Alice.Tools"])
        )
        assert response.status_code == 200
        api_key = ApiKey.objects.get()
        assert api_key.package_owner is None and api_key.owner == alice
        assert "<dt>Package Owner</dt><dd>alice</dd>" in keys_client.get(PAGE).content.decode()

    def test_packages_of_another_owner_are_refused_next_to_the_field(self, keys_client, contoso):
        # Without JavaScript every owner's packages are listed: the server decides.
        response = keys_client.post(
            PAGE, create_form(keys_client, packages=["Contoso.Core", "Alice.Tools"])
        )
        assert response.status_code == 400
        assert response.context["form"].errors["packages"] == [
            "Contoso does not own these packages: Alice.Tools"
        ]
        assert 'id="id_packages_error"' in response.content.decode()
        assert not ApiKey.objects.exists()


class TestTheService:
    def arguments(self, **overrides):
        return {"name": "k", "actions": ["package:push"], "package_ids": [], "globs": ["*"],
                "expiration_days": 30, **overrides}  # fmt: skip

    def test_a_user_cannot_create_a_key_for_an_organization_they_are_not_in(self, alice, fabrikam):
        with pytest.raises(ValidationError) as raised:
            api_key_create(owner=alice, package_owner=fabrikam.account, actor=alice,
                           **self.arguments())  # fmt: skip
        assert "package_owner" in raised.value.error_dict
        assert not ApiKey.objects.exists()

    def test_nor_for_another_user(self, alice, make_user):
        with pytest.raises(ValidationError):
            api_key_create(owner=alice, package_owner=make_user("bob"), actor=alice,
                           **self.arguments())  # fmt: skip

    def test_the_picked_packages_must_be_the_package_owners(self, alice, contoso):
        with pytest.raises(ValidationError) as raised:
            api_key_create(owner=alice, package_owner=contoso.account, actor=alice,
                           **self.arguments(package_ids=["Alice.Tools"], globs=[]))  # fmt: skip
        assert "package_ids" in raised.value.error_dict

    def test_the_users_own_account_as_package_owner_stores_none(self, alice):
        api_key, _ = api_key_create(owner=alice, package_owner=alice, actor=alice,
                                    **self.arguments())  # fmt: skip
        assert api_key.package_owner is None

    def test_a_member_cannot_make_the_organizations_own_key(self, alice, contoso):
        with pytest.raises(PermissionDenied):
            api_key_create(owner=contoso.account, actor=alice, **self.arguments())

    def test_events_land_in_the_members_and_the_organizations_history(self, alice, contoso):
        api_key, _ = api_key_create(owner=alice, package_owner=contoso.account, actor=alice,
                                    **self.arguments())  # fmt: skip
        events = Event.objects.filter(kind=EventKind.API_KEY_CREATED, api_key_id=api_key.pk)
        assert sorted(e.subject_user.username for e in events) == ["Contoso", "alice"]
        assert {e.actor for e in events} == {alice}
        assert {e.details["package_owner"] for e in events} == {"Contoso"}


class TestEdit:
    def test_the_owner_stays_and_the_organizations_packages_are_offered(
        self, keys_client, alice, contoso, make_key
    ):
        key, _ = make_key(alice, package_owner=contoso.account)
        page = keys_client.get(f"{PAGE}/{key.pk}/edit").content.decode()
        assert "<dt>Package Owner</dt><dd>Contoso</dd>" in page
        assert 'value="Contoso.Utils"' in page
        assert 'value="Alice.Tools"' not in page
        response = keys_client.post(
            f"{PAGE}/{key.pk}/edit", {"globs": "", "packages": ["Contoso.Utils"], "owner": "alice"}
        )
        assert response.status_code == 302
        key.refresh_from_db()
        assert key.package_ids == ["Contoso.Utils"]
        assert key.package_owner == contoso.account

    def test_after_leaving_the_organization_the_key_cannot_be_changed(
        self, keys_client, alice, contoso, make_key
    ):
        key, _ = make_key(alice, package_owner=contoso.account, globs=["Contoso.*"])
        member_remove(organization=contoso, member=alice, actor=alice)

        page = keys_client.get(f"{PAGE}/{key.pk}/edit").content.decode()
        assert "Contoso.Utils" not in page
        response = keys_client.post(f"{PAGE}/{key.pk}/edit", {"globs": "*"})
        assert response.status_code == 400
        assert "You are no longer a member of Contoso" in response.content.decode()
        key.refresh_from_db()
        assert key.globs == ["Contoso.*"]
        with pytest.raises(ValidationError):
            api_key_edit(api_key=key, package_ids=[], globs=["*"], actor=alice)
