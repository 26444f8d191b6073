"""Pushing, unlisting and relisting for an organization, through the protocol: a
member's organization-scoped key, the organization's own key, and the membership
checked at every request."""

import pytest

from accounts.services import invitation_accept, member_invite, member_remove
from apikeys.authentication import Failure, check
from apikeys.models import ApiKey
from audit.models import Event, EventKind
from packages.models import Package, PackageVersion
from tests.nupkgs import make_nupkg

pytestmark = pytest.mark.django_db

PUSH_AND_UNLIST = ["package:push", "package:unlist"]


@pytest.fixture
def admin(make_user):
    return make_user("olivia")


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def contoso(make_organization, admin, alice):
    return make_organization("Contoso", admin, {alice: "collaborator"})


def unlist(client, package_id, version, key):
    return client.delete(f"/api/v2/package/{package_id}/{version}", headers={"X-NuGet-ApiKey": key})


def relist(client, package_id, version, key):
    return client.post(f"/api/v2/package/{package_id}/{version}", headers={"X-NuGet-ApiKey": key})


def owners_of(package_id):
    return sorted(u.username for u in Package.objects.get(name=package_id).owners.all())


def last_refusal():
    return Event.objects.filter(kind=EventKind.PACKAGE_REFUSED).latest("id")


class TestOrganizationScopedKeys:
    def test_a_new_id_pushed_with_it_becomes_the_organizations(
        self, push, alice, contoso, make_key
    ):
        key, value = make_key(alice, package_owner=contoso.account)

        assert push(make_nupkg("Contoso.Core", "1.0.0"), value).status_code == 201

        assert owners_of("Contoso.Core") == ["Contoso"]
        version = PackageVersion.objects.get()
        assert (version.pushed_by, version.api_key_id) == (alice, key.pk)
        # The organization's package takes further versions from the same key.
        assert push(make_nupkg("Contoso.Core", "1.1.0"), value).status_code == 201
        assert owners_of("Contoso.Core") == ["Contoso"]

    def test_it_unlists_and_relists_the_organizations_packages(
        self, client, push, alice, contoso, make_key
    ):
        _, value = make_key(alice, package_owner=contoso.account, actions=PUSH_AND_UNLIST)
        push(make_nupkg("Contoso.Core", "1.0.0"), value)

        assert unlist(client, "Contoso.Core", "1.0.0", value).status_code == 204
        assert not PackageVersion.objects.get().listed
        assert relist(client, "Contoso.Core", "1.0.0", value).status_code == 200
        assert PackageVersion.objects.get().listed

    def test_removing_the_member_stops_it_at_the_next_request_until_they_are_back(
        self, push, admin, alice, contoso, make_key
    ):
        key, value = make_key(alice, package_owner=contoso.account)
        assert push(make_nupkg("Contoso.Core", "1.0.0"), value).status_code == 201

        member_remove(organization=contoso, member=alice, actor=admin)
        response = push(make_nupkg("Contoso.Core", "1.1.0"), value)

        assert response.status_code == 403
        refused = Event.objects.filter(kind=EventKind.API_KEY_AUTH_FAILED).latest("id")
        assert refused.details["failure"] == "not_member"
        assert (refused.details["key_id"], refused.details["hint"]) == (key.pk, key.hint)
        # Refused, not deleted nor revoked.
        key.refresh_from_db()
        assert key.is_active()
        assert PackageVersion.objects.count() == 1

        invitation = member_invite(organization=contoso, who="alice", role="collaborator",
                                   actor=admin)  # fmt: skip
        invitation_accept(invitation_id=invitation.pk, user=alice)
        assert push(make_nupkg("Contoso.Core", "1.1.0"), value).status_code == 201

    def test_a_members_pushversion_key_cannot_create_a_new_id(
        self, push, admin, alice, contoso, make_key
    ):
        _, org_key = make_key(admin, package_owner=contoso.account)
        push(make_nupkg("Contoso.Core", "1.0.0"), org_key)
        _, value = make_key(alice, package_owner=contoso.account, actions=["package:pushversion"])

        assert push(make_nupkg("Contoso.Core", "2.0.0"), value).status_code == 201
        response = push(make_nupkg("Contoso.New", "1.0.0"), value)

        assert response.status_code == 403
        assert not Package.objects.filter(name="Contoso.New").exists()
        assert last_refusal().package_id == "Contoso.New"

    def test_a_key_for_one_organization_cannot_touch_anothers_packages(
        self, client, push, make_user, make_organization, alice, contoso, make_key
    ):
        # Alice belongs to both; her key for Contoso is not a key for Fabrikam.
        fabrikam = make_organization("Fabrikam", make_user("frank"), {alice: "admin"})
        _, fabrikam_key = make_key(alice, package_owner=fabrikam.account, actions=PUSH_AND_UNLIST)
        assert push(make_nupkg("Fabrikam.Web", "1.0.0"), fabrikam_key).status_code == 201
        _, contoso_key = make_key(alice, package_owner=contoso.account, actions=PUSH_AND_UNLIST)

        assert push(make_nupkg("Fabrikam.Web", "1.1.0"), contoso_key).status_code == 403
        assert last_refusal().details["code"] == "owner"
        assert unlist(client, "Fabrikam.Web", "1.0.0", contoso_key).status_code == 403
        assert relist(client, "Fabrikam.Web", "1.0.0", contoso_key).status_code == 403
        assert PackageVersion.objects.get().listed
        assert owners_of("Fabrikam.Web") == ["Fabrikam"]

    def test_the_users_own_key_does_not_act_for_the_organization(
        self, client, push, alice, contoso, make_key
    ):
        _, org_scoped = make_key(alice, package_owner=contoso.account, actions=PUSH_AND_UNLIST)
        push(make_nupkg("Contoso.Core", "1.0.0"), org_scoped)
        _, own = make_key(alice, actions=PUSH_AND_UNLIST)

        assert push(make_nupkg("Contoso.Core", "1.1.0"), own).status_code == 403
        assert unlist(client, "Contoso.Core", "1.0.0", own).status_code == 403
        # And a new ID pushed with it is hers, not the organization's.
        assert push(make_nupkg("Alice.Tools", "1.0.0"), own).status_code == 201
        assert owners_of("Alice.Tools") == ["alice"]


class TestOrganizationKeys:
    def test_the_organizations_key_pushes_and_unlists(self, client, push, admin, contoso, make_key):
        key, value = make_key(contoso.account, actor=admin, actions=PUSH_AND_UNLIST)

        assert push(make_nupkg("Contoso.Core", "1.0.0"), value).status_code == 201
        assert owners_of("Contoso.Core") == ["Contoso"]
        assert unlist(client, "Contoso.Core", "1.0.0", value).status_code == 204
        assert not PackageVersion.objects.get().listed
        assert relist(client, "Contoso.Core", "1.0.0", value).status_code == 200
        assert PackageVersion.objects.get().listed
        assert PackageVersion.objects.get().api_key_id == key.pk

    def test_it_outlives_the_administrator_who_made_it(
        self, push, make_user, admin, contoso, make_key
    ):
        other = make_user("oscar")
        invitation = member_invite(organization=contoso, who="oscar", role="admin", actor=admin)
        invitation_accept(invitation_id=invitation.pk, user=other)
        _, value = make_key(contoso.account, actor=admin)

        member_remove(organization=contoso, member=admin, actor=other)

        assert push(make_nupkg("Contoso.Core", "1.0.0"), value).status_code == 201

    def test_it_cannot_touch_a_members_own_packages(
        self, client, push, admin, alice, contoso, make_key
    ):
        _, own = make_key(alice, actions=PUSH_AND_UNLIST)
        push(make_nupkg("Alice.Tools", "1.0.0"), own)
        _, value = make_key(contoso.account, actor=admin, actions=PUSH_AND_UNLIST)

        assert push(make_nupkg("Alice.Tools", "1.1.0"), value).status_code == 403
        assert unlist(client, "Alice.Tools", "1.0.0", value).status_code == 403


class TestTheKeyCheck:
    """One query, whatever the key acts for: the membership is joined in."""

    def test_a_members_key_is_checked_in_one_query(
        self, alice, contoso, make_key, django_assert_num_queries
    ):
        _, value = make_key(alice, package_owner=contoso.account)
        assert check(value).key is not None  # writes last use once

        with django_assert_num_queries(1):
            outcome = check(value)

        assert outcome.key.account_id == contoso.account.pk
        assert outcome.key.owner_id == alice.pk

    def test_a_removed_members_key_is_refused_in_one_query(
        self, admin, alice, contoso, make_key, django_assert_num_queries
    ):
        key, value = make_key(alice, package_owner=contoso.account)
        member_remove(organization=contoso, member=alice, actor=admin)

        with django_assert_num_queries(1):
            outcome = check(value)

        assert (outcome.key, outcome.failure, outcome.key_id) == (None, Failure.NOT_MEMBER, key.pk)
        assert ApiKey.objects.filter(pk=key.pk).exists()

    def test_an_organization_key_is_checked_in_one_query(
        self, admin, contoso, make_key, django_assert_num_queries
    ):
        _, value = make_key(contoso.account, actor=admin)
        assert check(value).key is not None

        with django_assert_num_queries(1):
            outcome = check(value)

        assert outcome.key.account_id == outcome.key.owner_id == contoso.account.pk
