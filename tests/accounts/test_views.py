"""The organization pages over HTTP: adding one, listing mine, managing members and
invitations, answering an invitation, the organization's security history, and
organization accounts that can never sign in."""

import re
from datetime import timedelta
from html import unescape

import pytest
from django.contrib.auth import get_user, get_user_model
from django.utils import timezone

from accounts import services
from accounts.models import Invitation, Membership, Organization, Role
from audit.models import Event, EventKind
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

User = get_user_model()
LOG_ON = "/users/account/LogOn"
ADD = "/organization/add"
MINE = "/account/Organizations"
MANAGE = "/organization/Contoso/Manage"


@pytest.fixture
def bob(make_user):
    return make_user("bob")


@pytest.fixture
def carol(make_user):
    return make_user("carol")


@pytest.fixture
def contoso(make_organization, user):
    """Contoso: alice administers it."""
    return make_organization("Contoso", user)


@pytest.fixture
def with_bob(make_organization, user, bob):
    """Contoso: alice administers it, bob collaborates."""
    return make_organization("Contoso", user, {bob: Role.COLLABORATOR})


def as_user(client, user):
    client.force_login(user)
    return client


def page_of(response) -> str:
    return response.content.decode()


def field_error(response, field: str) -> str:
    """The text of the errors shown next to ``field`` (portal/_field.html)."""
    match = re.search(rf'id="id_{field}_error">(.*?)</div>', page_of(response), re.S)
    assert match, f"no error next to {field}"
    return unescape(re.sub(r"<[^>]+>", " ", match[1])).strip()


def role_in(organization, user):
    return (
        Membership.objects.filter(organization=organization, user=user)
        .values_list("role", flat=True)
        .first()
    )


def invite(organization, who, *, actor, role=Role.COLLABORATOR):
    return services.member_invite(organization=organization, who=who, role=role, actor=actor)


# --- signed out --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [ADD, MINE, MANAGE, "/organization/invitations/1", "/organization/Contoso/security",
     "/organization/Contoso/Delete"],
)  # fmt: skip
def test_signed_out_visitors_are_sent_to_sign_in_and_back(client, path):
    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"].startswith(f"{LOG_ON}?returnUrl=")
    assert response["Location"] == f"{LOG_ON}?returnUrl={path}"


# --- Add organization ---------------------------------------------------------------------


def test_the_add_form_asks_for_name_and_contact_email(signed_in_client):
    response = signed_in_client.get(ADD)

    assert response.status_code == 200
    page = page_of(response)
    assert "<h1>Add organization</h1>" in page
    assert 'name="name"' in page and 'name="email"' in page
    assert "csrfmiddlewaretoken" in page
    assert "style=" not in page and "<script>" not in page


def test_adding_makes_me_its_administrator(signed_in_client, user):
    response = signed_in_client.post(ADD, {"name": "Contoso", "email": "team@contoso.example"})

    assert response.status_code == 302
    assert response["Location"] == MANAGE
    organization = Organization.objects.get(account__username="Contoso")
    assert organization.email == "team@contoso.example"
    assert role_in(organization, user) == Role.ADMINISTRATOR
    page = page_of(signed_in_client.get(MANAGE))
    assert "The organization Contoso was created. You are its administrator." in page


@pytest.mark.parametrize("name", ["ALICE", "alice", "Alice"])
def test_a_user_s_name_in_any_casing_is_refused_next_to_the_field(signed_in_client, name):
    response = signed_in_client.post(ADD, {"name": name, "email": "team@example.com"})

    assert response.status_code == 400
    assert field_error(response, "name") == "This name is already taken."
    assert not Organization.objects.exists()


@pytest.mark.parametrize("name", ["CONTOSO", "contoso"])
def test_an_organization_s_name_in_any_casing_is_refused_next_to_the_field(
    signed_in_client, contoso, name
):
    response = signed_in_client.post(ADD, {"name": name, "email": "team@example.com"})

    assert response.status_code == 400
    assert field_error(response, "name") == "This name is already taken."
    assert Organization.objects.count() == 1


def test_missing_and_malformed_fields_are_named(signed_in_client):
    response = signed_in_client.post(ADD, {"name": "", "email": "nope"})

    assert response.status_code == 400
    assert field_error(response, "name") == "The organization name is required."
    assert "valid email" in field_error(response, "email")

    response = signed_in_client.post(ADD, {"name": "two words", "email": "a@example.com"})
    assert response.status_code == 400
    assert "letters, digits" in field_error(response, "name")
    assert not Organization.objects.exists()


def test_sign_up_refuses_an_organization_s_name_in_another_casing(client, contoso, mailoutbox):
    response = client.post(
        "/users/account/Register",
        {
            "email": "newcomer@example.com",
            "username": "CONTOSO",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )

    assert response.status_code == 200
    assert response.context["form"].errors["username"]
    assert not User.objects.filter(email="newcomer@example.com").exists()
    assert mailoutbox == []


# --- an organization account never signs in -----------------------------------------------


@pytest.mark.parametrize("password", [PASSWORD, "", "!"])
def test_signing_in_with_an_organization_s_name_fails(client, contoso, password):
    response = client.post(LOG_ON, {"login": "Contoso", "password": password})

    assert response.status_code == 200
    assert not get_user(client).is_authenticated


def test_a_password_reset_for_an_organization_sends_nothing(client, contoso, mailoutbox):
    client.post("/users/account/password/reset/", {"email": contoso.email})
    client.post("/users/account/password/reset/", {"email": "Contoso"})

    # At most allauth's "no account uses this address" notice; never a reset link.
    assert all("/password/reset/key/" not in mail.body for mail in mailoutbox)


# --- Organizations (mine) -----------------------------------------------------------------


def test_my_organizations_with_my_role_and_their_manage_pages(
    client, make_organization, user, bob, carol
):
    make_organization("Contoso", user, {bob: Role.COLLABORATOR})
    make_organization("Fabrikam", bob)
    make_organization("Northwind", carol)

    response = as_user(client, bob).get(MINE)

    assert response.status_code == 200
    page = page_of(response)
    assert re.search(r">Contoso</a></td>\s*<td>Collaborator</td>", page)
    assert re.search(r">Fabrikam</a></td>\s*<td>Administrator</td>", page)
    assert 'href="/organization/Contoso/Manage"' in page
    assert 'href="/organization/Fabrikam/Manage"' in page
    assert "Northwind" not in page
    assert f'href="{ADD}"' in page


def test_my_organizations_lists_invitations_to_me(client, contoso, user, bob):
    invitation = invite(contoso, "bob", actor=user)

    page = page_of(as_user(client, bob).get(MINE))

    assert "You are not a member of any organization." in page
    assert f'href="/organization/invitations/{invitation.pk}"' in page


def test_the_user_menu_and_account_settings_link_to_organizations(signed_in_client):
    assert f'href="{MINE}">Organizations</a></li>' in page_of(signed_in_client.get("/"))
    settings_page = page_of(signed_in_client.get("/account"))
    assert f'href="{MINE}"' in settings_page
    assert f'href="{ADD}">Add organization</a>' in settings_page


# --- Manage: who sees it ------------------------------------------------------------------


def test_an_administrator_sees_everything(signed_in_client, with_bob, user, carol):
    invite(with_bob, "carol@example.com", actor=user)

    response = signed_in_client.get(MANAGE)

    assert response.status_code == 200
    page = page_of(response)
    assert "Manage organization Contoso" in page
    assert 'action="/organization/Contoso/ChangeEmail"' in page
    assert 'value="contoso@example.com"' in page
    assert 'action="/organization/Contoso/AddMember"' in page
    assert 'action="/organization/Contoso/UpdateMember"' in page
    assert 'action="/organization/Contoso/DeleteMember"' in page
    assert 'href="/organization/Contoso/apikeys"' in page
    assert 'href="/organization/Contoso/security"' in page
    assert 'href="/organization/Contoso/Delete"' in page
    assert 'action="/organization/Contoso/Leave"' in page
    assert 'action="/organization/Contoso/CancelMemberRequest"' in page
    assert re.search(r"<td>carol</td>\s*<td>Collaborator</td>\s*<td>alice</td>", page)
    assert re.search(r">alice</a>.*?Administrator", page, re.S)
    assert re.search(r">bob</a>.*?Collaborator", page, re.S)
    assert "style=" not in page and "<script>" not in page


def test_a_collaborator_sees_members_and_may_leave_only(client, with_bob):
    response = as_user(client, with_bob.memberships.get(role=Role.COLLABORATOR).user).get(MANAGE)

    assert response.status_code == 200
    page = page_of(response)
    assert "contoso@example.com" in page
    assert ">alice</a>" in page and ">bob</a>" in page
    assert 'action="/organization/Contoso/Leave"' in page
    admins_only = ["ChangeEmail", "AddMember", "UpdateMember", "DeleteMember",
                   "CancelMemberRequest", "Contoso/Delete", "Contoso/security",
                   "Contoso/apikeys"]  # fmt: skip
    for action in admins_only:
        assert action not in page, action


def test_the_name_is_found_in_any_casing(signed_in_client, contoso):
    assert signed_in_client.get("/organization/contoso/Manage").status_code == 200


@pytest.mark.parametrize("path", [MANAGE, "/organization/Contoso/Delete"])
def test_others_get_404(client, contoso, carol, path):
    assert as_user(client, carol).get(path).status_code == 404


def test_no_such_organization_or_a_user_s_name_is_404(signed_in_client, bob):
    assert signed_in_client.get("/organization/Nothing/Manage").status_code == 404
    assert signed_in_client.get("/organization/bob/Manage").status_code == 404
    assert signed_in_client.get("/organization/alice/Manage").status_code == 404


@pytest.mark.parametrize(
    "action, data",
    [
        ("ChangeEmail", {"email": "x@example.com"}),
        ("AddMember", {"who": "alice", "role": "collaborator"}),
        ("UpdateMember", {"member": "alice", "role": "collaborator"}),
        ("DeleteMember", {"member": "alice"}),
        ("CancelMemberRequest", {"invitation": "1"}),
        ("Leave", {}),
        ("Delete", {}),
    ],
)
def test_a_stranger_s_posts_are_404(client, contoso, carol, action, data):
    response = as_user(client, carol).post(f"/organization/Contoso/{action}", data)

    assert response.status_code == 404
    assert role_in(contoso, carol) is None
    assert Organization.objects.filter(pk=contoso.pk).exists()


# --- Manage: contact email ----------------------------------------------------------------


def test_an_administrator_changes_the_contact_email(signed_in_client, contoso):
    response = signed_in_client.post(
        "/organization/Contoso/ChangeEmail", {"email": "new@contoso.example"}
    )

    assert response.status_code == 302
    contoso.refresh_from_db()
    assert contoso.email == "new@contoso.example"


def test_a_bad_contact_email_is_named_next_to_the_field(signed_in_client, contoso):
    response = signed_in_client.post("/organization/Contoso/ChangeEmail", {"email": "nope"})

    assert response.status_code == 400
    assert "valid email" in field_error(response, "email")
    contoso.refresh_from_db()
    assert contoso.email == "contoso@example.com"


def test_a_collaborator_cannot_change_the_contact_email(client, with_bob, bob):
    response = as_user(client, bob).post(
        "/organization/Contoso/ChangeEmail", {"email": "x@example.com"}
    )

    assert response.status_code == 403
    with_bob.refresh_from_db()
    assert with_bob.email == "contoso@example.com"


# --- Manage: inviting -------------------------------------------------------------------


def test_an_administrator_invites_and_the_email_links_to_the_invitation(
    client, signed_in_client, contoso, bob, django_capture_on_commit_callbacks, mailoutbox
):
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in_client.post(
            "/organization/Contoso/AddMember", {"who": "bob@example.com", "role": "admin"}
        )

    assert response.status_code == 302
    invitation = Invitation.objects.get(user=bob)
    assert invitation.role == Role.ADMINISTRATOR
    (mail,) = mailoutbox
    assert mail.to == ["bob@example.com"]
    link = re.search(r"/organization/invitations/\d+", mail.body)[0]
    assert link == f"/organization/invitations/{invitation.pk}"
    manage_page = page_of(signed_in_client.get(MANAGE))
    assert "bob was invited. The invitation expires in 7 days." in manage_page
    assert 'action="/organization/Contoso/CancelMemberRequest"' in manage_page

    bob_client = as_user(client, bob)
    page = page_of(bob_client.get(link))
    assert "Invitation to Contoso" in page
    response = bob_client.post(link, {"answer": "accept"})
    assert response.status_code == 302
    assert role_in(contoso, bob) == Role.ADMINISTRATOR


def test_an_unknown_invitee_is_named_next_to_the_field(signed_in_client, contoso, mailoutbox):
    response = signed_in_client.post(
        "/organization/Contoso/AddMember", {"who": "nobody", "role": "collaborator"}
    )

    assert response.status_code == 400
    assert field_error(response, "who") == "No user has this user name or confirmed email address."
    assert 'value="nobody"' in page_of(response)
    assert not Invitation.objects.exists()
    assert mailoutbox == []


def test_inviting_a_member_is_named_next_to_the_field(signed_in_client, with_bob):
    response = signed_in_client.post(
        "/organization/Contoso/AddMember", {"who": "BOB", "role": "collaborator"}
    )

    assert response.status_code == 400
    assert field_error(response, "who") == "bob is already a member."


def test_a_role_is_required(signed_in_client, contoso, bob):
    response = signed_in_client.post("/organization/Contoso/AddMember", {"who": "bob"})

    assert response.status_code == 400
    assert field_error(response, "role") == "Choose a role."
    assert not Invitation.objects.exists()


def test_a_collaborator_cannot_invite(client, with_bob, bob, carol):
    response = as_user(client, bob).post(
        "/organization/Contoso/AddMember", {"who": "carol", "role": "admin"}
    )

    assert response.status_code == 403
    assert not Invitation.objects.exists()


def test_an_administrator_cancels_an_invitation(signed_in_client, contoso, user, bob):
    invitation = invite(contoso, "bob", actor=user)

    response = signed_in_client.post(
        "/organization/Contoso/CancelMemberRequest", {"invitation": invitation.pk}
    )

    assert response.status_code == 302
    assert not Invitation.objects.exists()
    event = Event.objects.filter(subject_user=contoso.account).latest("occurred_at", "pk")
    assert event.kind == EventKind.ORG_MEMBER_DECLINED
    assert event.details["cancelled"] is True


@pytest.mark.parametrize("value", ["999999", "0", "x", ""])
def test_cancelling_a_made_up_invitation_is_404(signed_in_client, contoso, value):
    response = signed_in_client.post(
        "/organization/Contoso/CancelMemberRequest", {"invitation": value}
    )

    assert response.status_code == 404


def test_a_collaborator_cannot_cancel_an_invitation(client, with_bob, user, bob, carol):
    invitation = invite(with_bob, "carol", actor=user)

    response = as_user(client, bob).post(
        "/organization/Contoso/CancelMemberRequest", {"invitation": invitation.pk}
    )

    assert response.status_code == 403
    assert Invitation.objects.filter(pk=invitation.pk).exists()


# --- Manage: roles, removal, leaving ------------------------------------------------------


def test_an_administrator_changes_a_role(signed_in_client, with_bob, bob):
    response = signed_in_client.post(
        "/organization/Contoso/UpdateMember", {"member": "bob", "role": "admin"}
    )

    assert response.status_code == 302
    assert role_in(with_bob, bob) == Role.ADMINISTRATOR
    assert "bob is now Administrator." in page_of(signed_in_client.get(MANAGE))


def test_the_last_administrator_cannot_be_demoted_and_the_page_says_why(
    signed_in_client, with_bob, user
):
    response = signed_in_client.post(
        "/organization/Contoso/UpdateMember", {"member": "alice", "role": "collaborator"}
    )

    assert response.status_code == 400
    assert "An organization must keep at least one administrator." in page_of(response)
    assert role_in(with_bob, user) == Role.ADMINISTRATOR


def test_a_collaborator_cannot_change_roles(client, with_bob, bob):
    for member in ("bob", "alice"):
        response = as_user(client, bob).post(
            "/organization/Contoso/UpdateMember", {"member": member, "role": "admin"}
        )
        assert response.status_code == 403
    assert role_in(with_bob, bob) == Role.COLLABORATOR


def test_changing_the_role_of_a_non_member_is_404(signed_in_client, contoso, carol):
    for member in ("carol", "nobody"):
        response = signed_in_client.post(
            "/organization/Contoso/UpdateMember", {"member": member, "role": "admin"}
        )
        assert response.status_code == 404
    assert role_in(contoso, carol) is None


def test_a_made_up_role_is_refused(signed_in_client, with_bob, bob):
    response = signed_in_client.post(
        "/organization/Contoso/UpdateMember", {"member": "bob", "role": "owner"}
    )

    assert response.status_code == 400
    assert role_in(with_bob, bob) == Role.COLLABORATOR


def test_an_administrator_removes_a_member(signed_in_client, with_bob, bob):
    response = signed_in_client.post("/organization/Contoso/DeleteMember", {"member": "bob"})

    assert response.status_code == 302
    assert role_in(with_bob, bob) is None
    assert "bob was removed from Contoso." in page_of(signed_in_client.get(MANAGE))


def test_the_last_administrator_cannot_be_removed_and_the_page_says_why(
    signed_in_client, with_bob, user
):
    response = signed_in_client.post("/organization/Contoso/DeleteMember", {"member": "alice"})

    assert response.status_code == 400
    assert "An organization must keep at least one administrator." in page_of(response)
    assert role_in(with_bob, user) == Role.ADMINISTRATOR


def test_a_collaborator_cannot_remove_others(client, with_bob, make_user, user):
    dave = make_user("dave")
    Membership.objects.create(organization=with_bob, user=dave, role=Role.COLLABORATOR)

    for member in ("alice", "dave"):
        response = as_user(client, with_bob.memberships.get(user__username="bob").user).post(
            "/organization/Contoso/DeleteMember", {"member": member}
        )
        assert response.status_code == 403
    assert role_in(with_bob, dave) == Role.COLLABORATOR
    assert role_in(with_bob, user) == Role.ADMINISTRATOR


def test_a_collaborator_leaves(client, with_bob, bob):
    response = as_user(client, bob).post("/organization/Contoso/Leave")

    assert response.status_code == 302
    assert response["Location"] == MINE
    assert role_in(with_bob, bob) is None
    assert client.get(MANAGE).status_code == 404
    assert Event.objects.filter(subject_user=bob, kind=EventKind.ORG_MEMBER_LEFT).exists()


def test_the_last_administrator_cannot_leave_and_the_page_says_why(
    signed_in_client, with_bob, user
):
    response = signed_in_client.post("/organization/Contoso/Leave")

    assert response.status_code == 400
    assert "An organization must keep at least one administrator." in page_of(response)
    assert role_in(with_bob, user) == Role.ADMINISTRATOR


def test_leave_and_the_rest_are_post_only(signed_in_client, contoso):
    for action in ("Leave", "DeleteMember", "UpdateMember", "AddMember", "ChangeEmail"):
        assert signed_in_client.get(f"/organization/Contoso/{action}").status_code == 405
    assert role_in(contoso, contoso.memberships.get().user) == Role.ADMINISTRATOR


# --- Delete -------------------------------------------------------------------------------


def test_an_administrator_deletes_an_organization_without_packages(signed_in_client, contoso):
    page = page_of(signed_in_client.get("/organization/Contoso/Delete"))
    assert "This cannot be undone." in page

    response = signed_in_client.post("/organization/Contoso/Delete")

    assert response.status_code == 302
    assert response["Location"] == MINE
    assert not Organization.objects.exists()
    assert not User.objects.filter(username="Contoso").exists()
    assert "The organization Contoso was deleted." in page_of(signed_in_client.get(MINE))


def test_deleting_is_refused_while_it_owns_packages(signed_in_client, contoso, make_package):
    make_package("Contoso.Widgets", contoso.account)

    assert "owns 1 package" in page_of(signed_in_client.get(MANAGE))
    assert "owns 1 package" in page_of(signed_in_client.get("/organization/Contoso/Delete"))
    response = signed_in_client.post("/organization/Contoso/Delete")

    assert response.status_code == 400
    assert "An organization that owns packages cannot be deleted." in page_of(response)
    assert Organization.objects.filter(pk=contoso.pk).exists()


def test_a_collaborator_cannot_delete(client, with_bob, bob):
    client = as_user(client, bob)
    assert client.get("/organization/Contoso/Delete").status_code == 403
    assert client.post("/organization/Contoso/Delete").status_code == 403
    assert Organization.objects.filter(pk=with_bob.pk).exists()


# --- the invitation page ------------------------------------------------------------------


@pytest.fixture
def invitation(contoso, user, bob):
    return invite(contoso, "bob", actor=user, role=Role.ADMINISTRATOR)


def invitation_path(invitation) -> str:
    return f"/organization/invitations/{invitation.pk}"


def test_the_invitee_sees_organization_role_inviter_and_expiry(client, invitation, bob):
    response = as_user(client, bob).get(invitation_path(invitation))

    assert response.status_code == 200
    page = page_of(response)
    assert re.search(r"<dt>Organization</dt><dd><a [^>]*>Contoso</a>", page)
    assert "<dt>Role</dt><dd>Administrator</dd>" in page
    assert "<dt>Invited by</dt><dd>alice</dd>" in page
    assert f'<time datetime="{invitation.expires_at.isoformat()}' in page
    assert 'name="answer" value="accept"' in page
    assert 'name="answer" value="decline"' in page
    assert "style=" not in page and "<script>" not in page


def test_the_invitee_accepts(client, invitation, contoso, bob):
    response = as_user(client, bob).post(invitation_path(invitation), {"answer": "accept"})

    assert response.status_code == 302
    assert response["Location"] == MANAGE
    assert role_in(contoso, bob) == Role.ADMINISTRATOR
    assert "You joined Contoso as Administrator." in page_of(client.get(MANAGE))


def test_an_invitation_is_answered_once(client, invitation, bob):
    client = as_user(client, bob)
    client.post(invitation_path(invitation), {"answer": "accept"})

    assert client.get(invitation_path(invitation)).status_code == 404
    assert client.post(invitation_path(invitation), {"answer": "accept"}).status_code == 404
    assert client.post(invitation_path(invitation), {"answer": "decline"}).status_code == 404


def test_the_invitee_declines(client, invitation, contoso, bob):
    response = as_user(client, bob).post(invitation_path(invitation), {"answer": "decline"})

    assert response.status_code == 302
    assert response["Location"] == MINE
    assert role_in(contoso, bob) is None
    assert not Invitation.objects.exists()
    assert "You declined the invitation to Contoso." in page_of(client.get(MINE))


@pytest.mark.parametrize("someone", ["alice", "carol"])
def test_anyone_else_gets_404(client, invitation, contoso, carol, someone):
    client = as_user(client, User.objects.get(username=someone))

    assert client.get(invitation_path(invitation)).status_code == 404
    assert client.post(invitation_path(invitation), {"answer": "accept"}).status_code == 404
    assert client.post(invitation_path(invitation), {"answer": "decline"}).status_code == 404
    assert role_in(contoso, carol) is None
    assert Invitation.objects.filter(pk=invitation.pk).exists()


@pytest.mark.parametrize("pk", ["999999", "0", "99999999999999999999999"])
def test_a_made_up_invitation_is_404(client, invitation, bob, pk):
    assert as_user(client, bob).get(f"/organization/invitations/{pk}").status_code == 404


def test_an_expired_invitation_says_so_and_cannot_be_accepted(client, invitation, contoso, bob):
    Invitation.objects.filter(pk=invitation.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    client = as_user(client, bob)

    page = page_of(client.get(invitation_path(invitation)))
    assert "This invitation has expired." in page
    assert 'value="accept"' not in page

    response = client.post(invitation_path(invitation), {"answer": "accept"})
    assert response.status_code == 400
    assert "This invitation has expired. Ask for a new one." in page_of(response)
    assert role_in(contoso, bob) is None

    # Declining it still clears it away.
    assert client.post(invitation_path(invitation), {"answer": "decline"}).status_code == 302
    assert not Invitation.objects.exists()


def test_no_answer_is_no_answer(client, invitation, contoso, bob):
    response = as_user(client, bob).post(invitation_path(invitation), {"answer": "maybe"})

    assert response.status_code == 400
    assert role_in(contoso, bob) is None
    assert Invitation.objects.filter(pk=invitation.pk).exists()


def test_a_signed_out_invitee_signs_in_and_comes_back(client, invitation, bob):
    path = invitation_path(invitation)
    response = client.get(path)
    assert response["Location"] == f"{LOG_ON}?returnUrl={path}"

    response = client.post(response["Location"], {"login": "bob", "password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == path
    assert client.get(path).status_code == 200


# --- the organization's Security history ---------------------------------------------------

SECURITY = "/organization/Contoso/security"


def test_administrators_see_the_organization_s_history(signed_in_client, with_bob, user, carol):
    invitation = invite(with_bob, "carol", actor=user)
    services.invitation_accept(invitation_id=invitation.pk, user=carol)
    Event.objects.create(kind=EventKind.USER_SIGNED_IN, subject_user=carol)

    response = signed_in_client.get(SECURITY)

    assert response.status_code == 200
    shown = [event.kind for event in response.context["events"]]
    assert shown == [EventKind.ORG_MEMBER_JOINED, EventKind.ORG_MEMBER_INVITED,
                     EventKind.ORG_CREATED]  # fmt: skip
    page = page_of(response)
    assert "Security history of Contoso" in page
    assert "Member joined" in page and "Member invited" in page
    assert re.search(r"<td>carol</td>\s*<td>\s*member carol\s*Collaborator", page)
    assert "style=" not in page and "<script>" not in page


@pytest.mark.parametrize("who", ["bob", "carol"])
def test_collaborators_and_strangers_get_404(client, with_bob, carol, who):
    client = as_user(client, User.objects.get(username=who))
    assert client.get(SECURITY).status_code == 404


def test_a_user_s_own_history_is_not_an_organization_s(signed_in_client, user):
    assert signed_in_client.get("/organization/alice/security").status_code == 404


def test_the_history_is_paged_with_a_cursor(signed_in_client, contoso):
    now = timezone.now()
    Event.objects.bulk_create(
        Event(
            kind=EventKind.ORG_EDITED,
            subject_user=contoso.account,
            occurred_at=now - timedelta(minutes=i + 1),
        )
        for i in range(60)
    )

    first = signed_in_client.get(SECURITY)
    assert len(first.context["events"]) == 50
    older = unescape(re.search(r'href="(/organization/Contoso/security\?before=[^"]+)"',
                               page_of(first))[1])  # fmt: skip
    second = signed_in_client.get(older)

    assert len(second.context["events"]) == 11
    assert not {e.pk for e in first.context["events"]} & {e.pk for e in second.context["events"]}
    assert signed_in_client.get(SECURITY + "?before=nonsense").status_code == 404
