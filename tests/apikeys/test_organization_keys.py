"""An organization's API Keys page: its own keys, made and managed by any of its
administrators, and oversight of every key that acts for it."""

import re

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Membership
from apikeys.authentication import authenticate
from apikeys.models import ApiKey, RevocationSource
from apikeys.services import api_key_delete, api_key_regenerate, api_key_revoke_for_organization
from audit.models import Event, EventKind
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def olivia(make_user):
    return make_user("olivia")


@pytest.fixture
def oscar(make_user):
    return make_user("oscar")


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def contoso(make_organization, make_package, olivia, oscar, alice):
    organization = make_organization("Contoso", olivia, {oscar: "admin", alice: "collaborator"})
    make_package("Contoso.Core", organization.account)
    return organization


@pytest.fixture
def page(contoso):
    return f"/organization/{contoso.name}/apikeys"


def signed_in(client, username):
    client.logout()
    client.post("/users/account/LogOn", {"login": username, "password": PASSWORD})
    return client


def token_in(html: str) -> str:
    return re.search(r'name="form_token" value="([^"]+)"', html)[1]


def value_in(html: str) -> str | None:
    match = re.search(r'aria-label="API key value" value="([^"]+)"', html)
    return match[1] if match else None


def create_form(client, page, **overrides):
    data = {
        "form_token": token_in(client.get(page).content.decode()),
        "name": "Release pipeline",
        "expires_in": "90",
        "owner": "Contoso",
        "push": "on",
        "push_type": "package:push",
        "globs": "Contoso.*",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def org_key(make_key, contoso, olivia):
    api_key, _ = make_key(contoso.account, actor=olivia, name="Org release")
    return api_key


class TestAccess:
    def test_administrators_only(self, client, page, contoso, make_user):
        assert client.get(page).status_code == 302  # to sign in
        signed_in(client, "olivia")
        assert client.get(page).status_code == 200
        assert client.get(page.replace("Contoso", "contoso")).status_code == 200
        for username in ("alice", "mallory"):
            if username == "mallory":
                make_user("mallory")
            signed_in(client, username)
            assert client.get(page).status_code == 404, username
            assert client.post(page, {"name": "x"}).status_code == 404, username
        assert not ApiKey.objects.exists()

    def test_a_user_is_not_an_organization(self, client, alice):
        signed_in(client, "alice")
        assert client.get("/organization/alice/apikeys").status_code == 404
        assert client.get("/organization/nobody/apikeys").status_code == 404

    @pytest.mark.parametrize("action", ["edit", "regenerate", "revoke", "delete"])
    def test_a_collaborator_cannot_manage_its_keys(self, client, page, org_key, action):
        signed_in(client, "alice")
        url = f"{page}/{org_key.pk}/{action}"
        assert client.get(url).status_code == 404
        assert client.post(url, {"reason": "x", "globs": "*"}).status_code == 404
        org_key.refresh_from_db()
        assert org_key.is_active()

    @pytest.mark.parametrize("action", ["edit", "regenerate", "revoke", "delete"])
    def test_its_keys_are_not_on_the_users_page(self, client, org_key, action):
        signed_in(client, "olivia")
        assert client.get(f"/account/apikeys/{org_key.pk}/{action}").status_code == 404

    def test_another_organizations_key_is_a_404(self, client, page, make_organization, make_key,
                                                olivia):  # fmt: skip
        other = make_organization("Fabrikam", olivia)
        key, _ = make_key(other.account, actor=olivia)
        signed_in(client, "olivia")
        for action in ("edit", "regenerate", "revoke", "delete"):
            assert client.get(f"{page}/{key.pk}/{action}").status_code == 404


class TestOrganizationKeys:
    def test_an_administrator_creates_one_and_sees_its_value_once(
        self, client, page, contoso, olivia, django_capture_on_commit_callbacks, mailoutbox
    ):
        signed_in(client, "olivia")
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(page, create_form(client, page))
        assert response.status_code == 200
        assert "no-store" in response["Cache-Control"]
        html = response.content.decode()
        value = value_in(html)
        assert value is not None and "data-copy-button" in html
        key = authenticate(value)
        assert key.owner_id == key.account_id == contoso.account.pk
        api_key = ApiKey.objects.get()
        assert (api_key.owner, api_key.created_by, api_key.package_owner) == (
            contoso.account,
            olivia,
            None,
        )
        event = Event.objects.get(kind=EventKind.API_KEY_CREATED)
        assert (event.actor, event.subject_user) == (olivia, contoso.account)
        # The organization has no address: its creator is told.
        (message,) = mailoutbox
        assert message.to == ["olivia@example.com"]
        assert "added to the organization Contoso" in message.body
        assert value not in message.body
        # Shown once: the next load lists it, without its value.
        again = client.get(page).content.decode()
        assert value_in(again) is None and "Release pipeline" in again
        assert "<dt>Created by</dt><dd>olivia</dd>" in again

    def test_the_same_form_sent_twice_creates_one(self, client, page):
        signed_in(client, "olivia")
        form = create_form(client, page)
        client.post(page, form)
        again = client.post(page, form)
        assert (again.status_code, again["Location"]) == (302, page)
        assert ApiKey.objects.count() == 1

    def test_only_the_organizations_packages_are_offered(self, client, page, make_package, olivia):
        make_package("Olivia.Own", olivia)
        signed_in(client, "olivia")
        html = client.get(page).content.decode()
        assert 'value="Contoso.Core"' in html and "Olivia.Own" not in html
        response = client.post(page, create_form(client, page, globs="", packages=["Olivia.Own"]))
        assert response.status_code == 400
        assert not ApiKey.objects.exists()

    def test_every_administrator_manages_it_and_is_named_for_it(self, client, page, org_key, oscar):
        signed_in(client, "oscar")
        assert "Org release" in client.get(page).content.decode()

        response = client.post(f"{page}/{org_key.pk}/edit", {"globs": "Contoso.Core"})
        assert (response.status_code, response["Location"]) == (302, page)
        confirm = client.get(f"{page}/{org_key.pk}/regenerate").content.decode()
        response = client.post(f"{page}/{org_key.pk}/regenerate", {"form_token": token_in(confirm)})
        assert value_in(response.content.decode()) is not None
        response = client.post(f"{page}/{org_key.pk}/revoke", {"reason": "rotating"})
        assert response.status_code == 302
        org_key.refresh_from_db()
        assert org_key.is_revoked and org_key.revocation_source == RevocationSource.USER
        response = client.post(f"{page}/{org_key.pk}/delete")
        assert response.status_code == 302
        assert not ApiKey.objects.exists()

        events = Event.objects.filter(api_key_id=org_key.pk).exclude(kind=EventKind.API_KEY_CREATED)
        assert [e.kind for e in events.order_by("id")] == [
            EventKind.API_KEY_EDITED,
            EventKind.API_KEY_REGENERATED,
            EventKind.API_KEY_REVOKED,
            EventKind.API_KEY_DELETED,
        ]
        assert {(e.actor.username, e.subject_user.username) for e in events} == {
            ("oscar", "Contoso")
        }

    def test_its_emails_go_to_its_creator(
        self, oscar, org_key, django_capture_on_commit_callbacks, mailoutbox
    ):
        with django_capture_on_commit_callbacks(execute=True):
            api_key_regenerate(api_key=org_key, actor=oscar)
            api_key_delete(api_key=org_key, actor=oscar)
        assert [m.to for m in mailoutbox] == [["olivia@example.com"], ["olivia@example.com"]]
        assert "deleted from the organization Contoso" in mailoutbox[1].body

    def test_a_collaborator_cannot_change_it_through_the_services(self, alice, org_key):
        with pytest.raises(PermissionDenied):
            api_key_regenerate(api_key=org_key, actor=alice)
        with pytest.raises(PermissionDenied):
            api_key_delete(api_key=org_key, actor=alice)
        assert ApiKey.objects.filter(pk=org_key.pk, digest=org_key.digest).exists()


class TestOversight:
    @pytest.fixture
    def members_key(self, make_key, contoso, alice):
        api_key, _ = make_key(alice, package_owner=contoso.account, name="Alice CI",
                              globs=["Contoso.*"])  # fmt: skip
        return api_key

    def test_every_key_acting_for_the_organization_is_listed(
        self, client, page, contoso, alice, members_key, org_key, make_key, make_organization
    ):
        make_key(alice, name="Alice personal")
        other = make_organization("Fabrikam", alice)
        make_key(alice, package_owner=other.account, name="Alice for Fabrikam")
        signed_in(client, "oscar")

        html = client.get(page).content.decode()
        oversight = html[html.index('id="oversight"') :]
        rows = dict(re.findall(r'data-acting-key="(\d+)">(.*?)</li>', oversight, re.S))
        assert set(rows) == {str(members_key.pk), str(org_key.pk)}
        row = rows[str(members_key.pk)]
        for shown in ("Alice CI", members_key.hint, "<dt>Created by</dt><dd>alice</dd>",
                      "Push new packages",
                      "<code>Contoso.*</code>", "Never used", "/revoke"):  # fmt: skip
            assert shown in row, shown
        assert "<dt>Created by</dt><dd>olivia</dd>" in rows[str(org_key.pk)]
        assert "Organization key" in rows[str(org_key.pk)]
        assert "Alice personal" not in html and "Alice for Fabrikam" not in html

    def test_a_key_of_someone_who_left_is_marked(self, client, page, contoso, alice, members_key):
        Membership.objects.filter(user=alice).delete()
        signed_in(client, "oscar")
        html = client.get(page).content.decode()
        row = re.search(rf'data-acting-key="{members_key.pk}">(.*?)</li>', html, re.S)[1]
        assert "no longer a member" in row

    def test_revoking_needs_a_reason(self, client, page, members_key):
        signed_in(client, "oscar")
        url = f"{page}/{members_key.pk}/revoke"
        assert "Reason" in client.get(url).content.decode()
        response = client.post(url, {"reason": "   "})
        assert response.status_code == 400
        assert "Say why the key is revoked" in response.content.decode()
        assert 'id="id_reason_error"' in response.content.decode()
        members_key.refresh_from_db()
        assert not members_key.is_revoked

    def test_revoking_a_members_key_audits_and_emails_the_reason(
        self, client, page, contoso, oscar, alice, members_key,
        django_capture_on_commit_callbacks, mailoutbox,
    ):  # fmt: skip
        signed_in(client, "oscar")
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                f"{page}/{members_key.pk}/revoke", {"reason": "Left the release team"}
            )
        assert (response.status_code, response["Location"]) == (302, page)
        members_key.refresh_from_db()
        assert members_key.is_revoked
        assert members_key.revoked_by == oscar
        assert members_key.revocation_source == RevocationSource.ADMIN
        assert members_key.revocation_reason == "Left the release team"
        events = Event.objects.filter(kind=EventKind.API_KEY_REVOKED)
        # In the member's history and in the organization's.
        assert sorted(e.subject_user.username for e in events) == ["Contoso", "alice"]
        for event in events:
            assert event.actor == oscar
            assert event.details["reason"] == "Left the release team"
            assert event.details["organization"] == "Contoso"
        (message,) = mailoutbox
        assert message.to == ["alice@example.com"]
        assert "An administrator of Contoso revoked it." in message.body
        assert "Reason: Left the release team" in message.body

    def test_the_service_refuses_a_collaborator_and_a_key_not_acting_for_it(
        self, contoso, alice, oscar, members_key, make_key
    ):
        with pytest.raises(PermissionDenied):
            api_key_revoke_for_organization(api_key=members_key, organization=contoso.account,
                                            reason="x", actor=alice)  # fmt: skip
        own, _ = make_key(alice)
        with pytest.raises(PermissionDenied):
            api_key_revoke_for_organization(api_key=own, organization=contoso.account,
                                            reason="x", actor=oscar)  # fmt: skip
        with pytest.raises(ValidationError):
            api_key_revoke_for_organization(api_key=members_key, organization=contoso.account,
                                            reason="", actor=oscar)  # fmt: skip
        assert not ApiKey.objects.filter(revoked_at__isnull=False).exists()

    def test_a_personal_key_of_a_member_cannot_be_revoked_from_the_page(
        self, client, page, alice, make_key
    ):
        own, _ = make_key(alice)
        signed_in(client, "oscar")
        assert client.post(f"{page}/{own.pk}/revoke", {"reason": "x"}).status_code == 404
        own.refresh_from_db()
        assert not own.is_revoked

    def test_the_page_costs_the_same_queries_however_many_keys(
        self, client, page, contoso, make_user, make_key, olivia
    ):
        signed_in(client, "olivia")

        def queries():
            with CaptureQueriesContext(connection) as captured:
                assert client.get(page).status_code == 200
            return len(captured)

        make_key(contoso.account, actor=olivia)
        baseline = queries()
        for n in range(5):
            member = make_user(f"member{n}")
            Membership.objects.create(organization=contoso, user=member, role="collaborator")
            make_key(member, package_owner=contoso.account)
            make_key(contoso.account, actor=olivia)
        assert queries() == baseline
