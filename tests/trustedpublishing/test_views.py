"""The Trusted Publishing page, and short-lived keys on the API Keys page."""

import pytest

from apikeys.models import ApiKey
from trustedpublishing.models import Policy

from .conftest import AUDIENCE
from .test_exchange import exchange

URL = "/account/trustedpublishing"

GITHUB_FORM = {
    "name": "Release", "owner": "alice", "provider": "github",
    "github_owner": "contoso", "github_repository": "widgets",
    "github_workflow": "release.yml", "github_environment": "release",
    "push": "on", "push_type": "package:push", "globs": "Contoso.*",
}  # fmt: skip


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get(URL)
    assert response.status_code == 302 and "LogOn" in response["Location"]


def test_the_page_is_in_the_user_menu(signed_in_client):
    page = signed_in_client.get("/account").content.decode()
    assert f'href="{URL}"' in page


def test_create_a_github_policy(signed_in_client, user):
    response = signed_in_client.post(URL, GITHUB_FORM)
    assert response.status_code == 302
    policy = Policy.objects.get()
    assert (policy.owner, policy.provider, policy.subject_owner, policy.subject) == (
        user,
        "github",
        "contoso",
        "widgets",
    )
    assert (policy.workflow, policy.environment, policy.actions, policy.globs) == (
        "release.yml",
        "release",
        ["package:push"],
        ["Contoso.*"],
    )
    page = signed_in_client.get(URL).content.decode()
    assert "contoso/widgets" in page and "release.yml" in page


def test_create_a_gitlab_policy(signed_in_client):
    form = {
        "name": "GL",
        "owner": "alice",
        "provider": "gitlab",
        "gitlab_namespace": "contoso",
        "gitlab_project": "widgets",
        "gitlab_ref": "main",
        "unlist": "on",
        "globs": "*",
        "github_workflow": "ignored.yml",
    }
    assert signed_in_client.post(URL, form).status_code == 302
    policy = Policy.objects.get()
    assert (policy.provider, policy.ref, policy.workflow) == ("gitlab", "main", "")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"github_workflow": ""}, "This field is required."),
        ({"github_workflow": ".github/workflows/release.yml"}, "without a folder"),
        ({"push": ""}, "At least one scope"),
        ({"globs": ""}, "Enter a glob pattern or select"),
        ({"globs": "\n".join(f"G{i}.*" for i in range(11))}, "Enter at most 10 glob patterns."),
    ],
)
def test_invalid_forms_are_400_with_the_message(signed_in_client, change, message):
    response = signed_in_client.post(URL, {**GITHUB_FORM, **change})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Policy.objects.exists()


def test_an_unconfirmed_user_cannot_add_policies(client, make_user):
    client.force_login(make_user("carol", confirmed=False))
    assert client.post(URL, {**GITHUB_FORM, "owner": "carol"}).status_code == 403
    assert not Policy.objects.exists()


def test_edit_disable_enable_rearm_delete(signed_in_client, user, make_policy):
    policy = make_policy(user)
    edit = f"{URL}/{policy.pk}/edit"
    assert "contoso" in signed_in_client.get(edit).content.decode()
    assert signed_in_client.post(edit, {**GITHUB_FORM, "name": "Renamed"}).status_code == 302
    policy.refresh_from_db()
    assert policy.name == "Renamed" and policy.environment == "release"
    signed_in_client.post(f"{URL}/{policy.pk}/enabled", {"enabled": "false"})
    policy.refresh_from_db()
    assert not policy.enabled
    signed_in_client.post(f"{URL}/{policy.pk}/enabled", {"enabled": "true"})
    policy.refresh_from_db()
    assert policy.enabled
    assert signed_in_client.post(f"{URL}/{policy.pk}/rearm").status_code == 302
    assert signed_in_client.get(f"{URL}/{policy.pk}/delete").status_code == 200
    assert signed_in_client.post(f"{URL}/{policy.pk}/delete").status_code == 302
    assert not Policy.objects.exists()


def test_someone_elses_policy_is_404(signed_in_client, make_user, make_policy):
    policy = make_policy(make_user("bob"))
    for suffix in ("edit", "delete"):
        assert signed_in_client.get(f"{URL}/{policy.pk}/{suffix}").status_code == 404
    assert (
        signed_in_client.post(f"{URL}/{policy.pk}/enabled", {"enabled": "false"}).status_code == 404
    )
    assert Policy.objects.get().enabled


def test_short_lived_keys_are_listed_read_only_under_their_policy(
    client, issuer, user, make_policy
):
    policy = make_policy(user, name="Release pipeline")
    assert exchange(client, issuer.token("github", AUDIENCE)).status_code == 200
    api_key = ApiKey.objects.get(policy=policy)
    client.force_login(user)
    page = client.get("/account/apikeys").content.decode()
    assert "Short-lived keys" in page and "Release pipeline" in page and api_key.hint in page
    assert f"/account/apikeys/{api_key.pk}/regenerate" not in page
    # Read-only: the key pages do not know it.
    assert client.get(f"/account/apikeys/{api_key.pk}/regenerate").status_code == 404
    assert client.post(f"/account/apikeys/{api_key.pk}/delete").status_code == 404
