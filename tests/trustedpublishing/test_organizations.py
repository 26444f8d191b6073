"""Policies that act for an organization: chosen on the page as a key's Package
Owner is, minting keys that act for it, and refused once their owner has left."""

import re

import pytest
from django.core.exceptions import ValidationError

from accounts.services import member_remove
from apikeys.models import ApiKey
from audit.models import Event, EventKind
from packages.models import Package
from tests.nupkgs import make_nupkg
from trustedpublishing.models import Policy
from trustedpublishing.services import policy_create, policy_edit

from .conftest import AUDIENCE
from .test_exchange import exchange, last_refusal, refused
from .test_views import GITHUB_FORM, URL

pytestmark = pytest.mark.django_db


@pytest.fixture
def olivia(make_user):
    return make_user("olivia")


@pytest.fixture
def contoso(make_organization, olivia, user):
    return make_organization("Contoso", olivia, {user: "collaborator"})


def owner_options(html: str) -> list[tuple[str, bool]]:
    select = re.search(r'<select name="owner".*?</select>', html, re.S)[0]
    return [(v, bool(s)) for v, s in re.findall(r'<option value="([^"]*)"( selected)?', select)]


class TestThePage:
    def test_the_package_owner_is_not_preselected_with_a_choice_to_make(
        self, signed_in_client, contoso
    ):
        html = signed_in_client.get(URL).content.decode()
        assert owner_options(html) == [("", True), ("alice", False), ("Contoso", False)]

        response = signed_in_client.post(URL, {**GITHUB_FORM, "owner": ""})
        assert response.status_code == 400
        assert response.context["form"].errors["owner"] == ["A package owner must be selected."]
        assert not Policy.objects.exists()

    def test_a_policy_for_an_organization(self, signed_in_client, user, contoso):
        response = signed_in_client.post(URL, {**GITHUB_FORM, "owner": "Contoso"})
        assert response.status_code == 302
        policy = Policy.objects.get()
        assert (policy.owner, policy.package_owner) == (user, contoso.account)
        assert (
            "<dt>Package Owner</dt><dd>Contoso</dd>" in signed_in_client.get(URL).content.decode()
        )
        events = Event.objects.filter(kind=EventKind.TP_POLICY_CREATED)
        assert sorted(e.subject_user.username for e in events) == ["Contoso", "alice"]

    def test_an_organization_one_is_not_in_is_refused(
        self, signed_in_client, make_organization, olivia
    ):
        make_organization("Fabrikam", olivia)
        response = signed_in_client.post(URL, {**GITHUB_FORM, "owner": "Fabrikam"})
        assert response.status_code == 400
        assert response.context["form"].errors["owner"] == [
            "You may not publish for this package owner."
        ]
        assert not Policy.objects.exists()

    def test_editing_keeps_the_package_owner(self, signed_in_client, user, contoso, make_policy):
        policy = make_policy(user, package_owner=contoso.account)
        page = signed_in_client.get(f"{URL}/{policy.pk}/edit").content.decode()
        assert owner_options(page) == [("Contoso", True)]
        # A changed owner in the post is ignored: the field is fixed.
        response = signed_in_client.post(
            f"{URL}/{policy.pk}/edit", {**GITHUB_FORM, "name": "Renamed", "owner": "alice"}
        )
        assert response.status_code == 302
        policy.refresh_from_db()
        assert (policy.name, policy.package_owner) == ("Renamed", contoso.account)


class TestTheServices:
    def test_only_an_organization_one_may_publish_for(self, user, make_organization, olivia):
        fabrikam = make_organization("Fabrikam", olivia)
        with pytest.raises(ValidationError) as raised:
            policy_create(
                owner=user,
                package_owner=fabrikam.account,
                actor=user,
                name="p",
                provider="github",
                subject_owner="c",
                subject="w",
                workflow="release.yml",
                actions=["package:push"],
                globs=["*"],
            )
        assert "package_owner" in raised.value.error_dict

    def test_a_policy_cannot_be_changed_after_its_owner_left(
        self, user, contoso, olivia, make_policy
    ):
        policy = make_policy(user, package_owner=contoso.account)
        member_remove(organization=contoso, member=user, actor=olivia)
        with pytest.raises(ValidationError):
            policy_edit(policy=policy, actor=user, globs=["*"])


class TestTheExchange:
    def test_the_minted_key_acts_for_the_organization(
        self, client, issuer, user, contoso, make_policy, push
    ):
        policy = make_policy(user, package_owner=contoso.account)

        response = exchange(client, issuer.token("github", AUDIENCE))

        assert response.status_code == 200, response.content
        api_key = ApiKey.objects.get(policy=policy)
        assert (api_key.owner, api_key.package_owner) == (user, contoso.account)
        assert (
            push(make_nupkg("Contoso.Widgets", "1.0.0"), response.json()["apiKey"]).status_code
            == 201
        )
        owners = Package.objects.get(name="Contoso.Widgets").owners.all()
        assert [o.username for o in owners] == ["Contoso"]

    def test_refused_once_the_policys_owner_is_no_longer_a_member(
        self, client, issuer, user, contoso, olivia, make_policy
    ):
        policy = make_policy(user, package_owner=contoso.account)
        member_remove(organization=contoso, member=user, actor=olivia)

        error = refused(exchange(client, issuer.token("github", AUDIENCE)), 403)

        assert error == "The policy's package owner may no longer publish."
        event = last_refusal()
        assert event.details["code"] == "owner_not_allowed"
        assert "no longer a member" in event.details["reason"]
        assert (event.details["package_owner"], event.details["policy_id"]) == (
            "Contoso",
            policy.pk,
        )
        assert not ApiKey.objects.filter(policy__isnull=False).exists()

    def test_a_live_key_stops_when_its_owner_leaves(
        self, client, issuer, user, contoso, olivia, make_policy, push
    ):
        make_policy(user, package_owner=contoso.account)
        value = exchange(client, issuer.token("github", AUDIENCE)).json()["apiKey"]
        member_remove(organization=contoso, member=user, actor=olivia)

        assert push(make_nupkg("Contoso.Widgets", "1.0.0"), value).status_code == 403
        failure = Event.objects.filter(kind=EventKind.API_KEY_AUTH_FAILED).latest("id")
        assert failure.details["failure"] == "not_member"
