"""Organizations' services: every rule, the audit events each change writes, the
invitation email, and two creations racing for one name."""

from datetime import timedelta

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from accounts import services
from accounts.models import Invitation, Membership, Organization, Role
from accounts.services import NotFound
from audit.models import Event, EventKind
from portal.models import UserPreference
from portal.security import security_events_for
from tests.races import race

pytestmark = pytest.mark.django_db

User = get_user_model()


@pytest.fixture
def admin(make_user):
    return make_user("ada")


@pytest.fixture
def bob(make_user):
    return make_user("bob")


@pytest.fixture
def carol(make_user):
    return make_user("carol")


@pytest.fixture
def contoso(make_organization, admin):
    return make_organization("Contoso", admin)


def kinds(account) -> list[str]:
    events, _cursor = security_events_for(account)
    return [event.kind for event in events]


def invite(organization, who, *, actor, role=Role.COLLABORATOR):
    return services.member_invite(organization=organization, who=who, role=role, actor=actor)


def role_in(organization, user):
    return (
        Membership.objects.filter(organization=organization, user=user)
        .values_list("role", flat=True)
        .first()
    )


# --- creating one ----------------------------------------------------------------------


def test_the_creator_is_the_first_administrator(admin):
    organization = services.organization_create(
        name="Contoso", email="team@contoso.example", actor=admin
    )

    assert organization.name == "Contoso"
    assert organization.email == "team@contoso.example"
    assert role_in(organization, admin) == Role.ADMINISTRATOR
    assert services.administrators_of(organization) == [admin]


def test_an_organization_account_can_never_sign_in(admin):
    organization = services.organization_create(
        name="Contoso", email="team@contoso.example", actor=admin
    )

    account = User.objects.get(pk=organization.pk)
    assert not account.has_usable_password()
    assert account.email == ""
    assert not account.emailaddress_set.exists()


@pytest.mark.parametrize("taken, wanted", [("Contoso", "contoso"), ("contoso", "CONTOSO")])
def test_a_user_name_in_any_casing_cannot_name_an_organization(make_user, admin, taken, wanted):
    make_user(taken)

    with pytest.raises(ValidationError) as refusal:
        services.organization_create(name=wanted, email="x@example.com", actor=admin)

    assert refusal.value.message_dict == {"name": ["This name is already taken."]}
    assert not Organization.objects.exists()


@pytest.mark.parametrize("wanted", ["Contoso", "contoso", "CONTOSO"])
def test_an_organization_name_in_any_casing_cannot_name_another(contoso, admin, wanted):
    with pytest.raises(ValidationError) as refusal:
        services.organization_create(name=wanted, email="x@example.com", actor=admin)

    assert "name" in refusal.value.message_dict
    assert Organization.objects.count() == 1


@pytest.mark.parametrize("name", ["Admin", "bad name", "-contoso", "a..b", "x"])
def test_reserved_and_malformed_names_are_refused_on_the_name(admin, name):
    with pytest.raises(ValidationError) as refusal:
        services.organization_create(name=name, email="x@example.com", actor=admin)

    assert list(refusal.value.message_dict) == ["name"]
    assert not User.objects.filter(username__iexact=name).exists()


def test_a_bad_contact_email_leaves_nothing_behind(admin):
    with pytest.raises(ValidationError) as refusal:
        services.organization_create(name="Contoso", email="not an address", actor=admin)

    assert "email" in refusal.value.message_dict
    assert not User.objects.filter(username="Contoso").exists()
    assert not Event.objects.exists()


def test_creation_is_in_the_histories_of_the_organization_and_its_creator(contoso, admin):
    assert kinds(contoso.account) == [EventKind.ORG_CREATED]
    assert kinds(admin) == [EventKind.ORG_CREATED]
    event = Event.objects.filter(subject_user=contoso.account).get()
    assert event.actor == admin
    assert event.details["organization"] == "Contoso"


@pytest.mark.django_db(transaction=True)
def test_two_creations_racing_for_one_name_in_two_casings_give_one_organization(make_user):
    ada, bob = make_user("ada"), make_user("bob")

    results = race(
        lambda: services.organization_create(name="Contoso", email="a@example.com", actor=ada),
        lambda: services.organization_create(name="contoso", email="b@example.com", actor=bob),
    )

    created = [r for r in results if isinstance(r, Organization)]
    refused = [r for r in results if isinstance(r, ValidationError)]
    assert len(created) == 1 and len(refused) == 1, results
    assert refused[0].message_dict == {"name": ["This name is already taken."]}
    assert Organization.objects.count() == 1
    assert User.objects.filter(username__iexact="contoso").count() == 1
    # The loser wrote nothing: one membership, one creation event per history.
    assert Membership.objects.count() == 1
    assert Event.objects.filter(kind=EventKind.ORG_CREATED).count() == 2


# --- settings and deletion --------------------------------------------------------------


def test_an_administrator_changes_the_contact_email(contoso, admin, bob):
    services.organization_edit(organization=contoso, email="new@contoso.example", actor=admin)

    contoso.refresh_from_db()
    assert contoso.email == "new@contoso.example"
    assert kinds(contoso.account)[0] == EventKind.ORG_EDITED


def test_a_collaborator_cannot_change_the_contact_email(make_organization, admin, bob):
    organization = make_organization("Contoso", admin, {bob: Role.COLLABORATOR})

    with pytest.raises(PermissionDenied):
        services.organization_edit(organization=organization, email="x@example.com", actor=bob)

    organization.refresh_from_db()
    assert organization.email == "contoso@example.com"


def test_an_organization_that_owns_a_package_cannot_be_deleted(contoso, admin, make_package):
    make_package("Contoso.Widgets", contoso.account)

    with pytest.raises(ValidationError) as refusal:
        services.organization_delete(organization=contoso, actor=admin)

    assert "owns packages" in refusal.value.messages[0]
    assert Organization.objects.filter(pk=contoso.pk).exists()
    assert EventKind.ORG_DELETED not in kinds(contoso.account)


def test_deleting_removes_the_account_memberships_and_invitations(contoso, admin, bob):
    invite(contoso, "bob", actor=admin)

    services.organization_delete(organization=contoso, actor=admin)

    assert not User.objects.filter(username="Contoso").exists()
    assert not Membership.objects.exists()
    assert not Invitation.objects.exists()
    # The name is free again.
    services.organization_create(name="contoso", email="x@example.com", actor=bob)
    # The history outlives it.
    assert kinds(admin)[0] == EventKind.ORG_DELETED


def test_a_collaborator_cannot_delete_the_organization(make_organization, admin, bob):
    organization = make_organization("Contoso", admin, {bob: Role.COLLABORATOR})

    with pytest.raises(PermissionDenied):
        services.organization_delete(organization=organization, actor=bob)

    assert Organization.objects.filter(pk=organization.pk).exists()


# --- invitations ------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["bob", "BOB", " bob ", "bob@example.com", "Bob@Example.com"])
def test_an_administrator_invites_by_user_name_or_confirmed_email(contoso, admin, bob, who):
    invitation = invite(contoso, who, actor=admin, role=Role.ADMINISTRATOR)

    assert invitation.user == bob
    assert invitation.role == Role.ADMINISTRATOR
    assert invitation.invited_by == admin
    assert invitation.expires_at - invitation.created_at == timedelta(days=7)


@pytest.mark.parametrize("who", ["nobody", "nobody@example.com", "Contoso", "dora@example.com"])
def test_no_invitation_for_strangers_organizations_or_unconfirmed_emails(
    contoso, admin, make_user, who
):
    make_user("dora", confirmed=False)

    with pytest.raises(ValidationError) as refusal:
        invite(contoso, who, actor=admin)

    assert list(refusal.value.message_dict) == ["who"]
    assert not Invitation.objects.exists()


def test_no_invitation_for_a_member(make_organization, admin, bob):
    organization = make_organization("Contoso", admin, {bob: Role.COLLABORATOR})

    with pytest.raises(ValidationError) as refusal:
        invite(organization, "bob", actor=admin)

    assert refusal.value.message_dict == {"who": ["bob is already a member."]}


def test_a_collaborator_cannot_invite(make_organization, admin, bob, carol):
    organization = make_organization("Contoso", admin, {bob: Role.COLLABORATOR})

    with pytest.raises(PermissionDenied):
        invite(organization, "carol", actor=bob)

    assert not Invitation.objects.exists()


def test_inviting_again_renews_the_invitation(contoso, admin, bob):
    first = invite(contoso, "bob", actor=admin)
    Invitation.objects.filter(pk=first.pk).update(expires_at=timezone.now() - timedelta(days=1))

    again = invite(contoso, "bob", actor=admin, role=Role.ADMINISTRATOR)

    assert Invitation.objects.get() == again
    assert again.role == Role.ADMINISTRATOR
    assert not again.is_expired()
    membership = services.invitation_accept(invitation_id=again.pk, user=bob)
    assert membership.role == Role.ADMINISTRATOR


def test_inviting_again_emails_again_only_after_a_while(
    contoso, admin, bob, django_capture_on_commit_callbacks, mailoutbox
):
    from accounts import conf

    for _ in range(5):
        with django_capture_on_commit_callbacks(execute=True):
            invitation = invite(contoso, "bob", actor=admin)
    assert len(mailoutbox) == 1

    Invitation.objects.filter(pk=invitation.pk).update(
        created_at=timezone.now() - conf.RESEND_AFTER
    )
    with django_capture_on_commit_callbacks(execute=True):
        invite(contoso, "bob", actor=admin)
    assert len(mailoutbox) == 2


def test_the_invitation_email_is_sent_with_its_link(
    contoso, admin, bob, settings, django_capture_on_commit_callbacks, mailoutbox
):
    settings.SITE_URL = "https://nuget.example"

    with django_capture_on_commit_callbacks(execute=True):
        invitation = invite(contoso, "bob", actor=admin, role=Role.ADMINISTRATOR)

    (mail,) = mailoutbox
    assert mail.to == ["bob@example.com"]
    assert "Contoso" in mail.subject
    assert f"https://nuget.example/organization/invitations/{invitation.pk}" in mail.body
    assert "ada invited you to join the organization Contoso" in mail.body
    assert "as Administrator" in mail.body


def test_no_email_when_the_invitation_is_refused(
    contoso, admin, django_capture_on_commit_callbacks, mailoutbox
):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError):
        invite(contoso, "nobody", actor=admin)

    assert mailoutbox == []


@pytest.fixture
def marked_italian(tmp_path, settings):
    """An Italian catalog, searched first, that marks the invitation's subject: the
    email shows whether it was rendered in Italian, whatever the site's own catalog
    says (or does not say yet)."""
    catalog = Catalog(locale="it", domain="django")
    catalog.add("You are invited to join %(organization)s", "ITALIANO %(organization)s")
    folder = tmp_path / "it" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with (folder / "django.mo").open("wb") as mo:
        write_mo(mo, catalog)
    settings.LOCALE_PATHS = [str(tmp_path), *settings.LOCALE_PATHS]


def test_the_invitation_email_is_in_the_invitees_language(
    contoso, admin, bob, carol, marked_italian, django_capture_on_commit_callbacks, mailoutbox
):
    UserPreference.objects.create(user=bob, language="it")

    with django_capture_on_commit_callbacks(execute=True):
        invite(contoso, "bob", actor=admin)
        invite(contoso, "carol", actor=admin)

    by_recipient = {mail.to[0]: mail for mail in mailoutbox}
    assert "ITALIANO Contoso" in by_recipient["bob@example.com"].subject
    assert "ITALIANO" not in by_recipient["carol@example.com"].subject


def test_the_invitee_accepts_with_the_invited_role(contoso, admin, bob):
    invitation = invite(contoso, "bob", actor=admin)

    membership = services.invitation_accept(invitation_id=invitation.pk, user=bob)

    assert membership.role == Role.COLLABORATOR
    assert role_in(contoso, bob) == Role.COLLABORATOR
    assert not Invitation.objects.exists()
    assert services.may_publish_for(bob, contoso.account)
    assert not services.may_administer(bob, contoso.account)


def test_nobody_else_can_accept_or_decline(contoso, admin, bob, carol):
    invitation = invite(contoso, "bob", actor=admin)

    for someone in (carol, admin):
        with pytest.raises(NotFound):
            services.invitation_for(invitation.pk, someone)
        with pytest.raises(NotFound):
            services.invitation_accept(invitation_id=invitation.pk, user=someone)
        with pytest.raises(NotFound):
            services.invitation_decline(invitation_id=invitation.pk, user=someone)

    assert role_in(contoso, carol) is None
    assert Invitation.objects.filter(pk=invitation.pk).exists()


def test_an_invitation_is_accepted_once(contoso, admin, bob):
    invitation = invite(contoso, "bob", actor=admin)
    services.invitation_accept(invitation_id=invitation.pk, user=bob)

    with pytest.raises(NotFound):
        services.invitation_accept(invitation_id=invitation.pk, user=bob)
    with pytest.raises(NotFound):
        services.invitation_for(invitation.pk, bob)

    assert kinds(contoso.account).count(EventKind.ORG_MEMBER_JOINED) == 1


def test_an_expired_invitation_cannot_be_accepted(contoso, admin, bob):
    invitation = invite(contoso, "bob", actor=admin)
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now())

    with pytest.raises(ValidationError) as refusal:
        services.invitation_accept(invitation_id=invitation.pk, user=bob)

    assert "expired" in refusal.value.messages[0]
    assert role_in(contoso, bob) is None
    assert EventKind.ORG_MEMBER_JOINED not in kinds(contoso.account)


def test_the_invitee_declines(contoso, admin, bob):
    invitation = invite(contoso, "bob", actor=admin)

    services.invitation_decline(invitation_id=invitation.pk, user=bob)

    assert not Invitation.objects.exists()
    assert role_in(contoso, bob) is None
    for account in (contoso.account, bob):
        assert kinds(account)[0] == EventKind.ORG_MEMBER_DECLINED
    with pytest.raises(NotFound):
        services.invitation_accept(invitation_id=invitation.pk, user=bob)


def test_an_administrator_cancels_an_invitation(contoso, admin, bob):
    invitation = invite(contoso, "bob", actor=admin)

    services.invitation_cancel(organization=contoso, invitation_id=invitation.pk, actor=admin)

    with pytest.raises(NotFound):
        services.invitation_accept(invitation_id=invitation.pk, user=bob)
    for account in (contoso.account, admin, bob):
        event = Event.objects.filter(subject_user=account).latest("occurred_at", "pk")
        assert event.kind == EventKind.ORG_MEMBER_DECLINED
        assert event.actor == admin
        assert event.details == {"organization": "Contoso", "member": "bob", "cancelled": True}


def test_a_collaborator_cannot_cancel_an_invitation(make_organization, admin, bob, carol):
    organization = make_organization("Contoso", admin, {bob: Role.COLLABORATOR})
    invitation = invite(organization, "carol", actor=admin)

    with pytest.raises(PermissionDenied):
        services.invitation_cancel(
            organization=organization, invitation_id=invitation.pk, actor=bob
        )

    assert Invitation.objects.filter(pk=invitation.pk).exists()


def test_an_invitation_is_cancelled_only_through_its_own_organization(
    make_organization, admin, bob, carol
):
    contoso = make_organization("Contoso", admin)
    fabrikam = make_organization("Fabrikam", carol)
    invitation = invite(fabrikam, "bob", actor=carol)

    with pytest.raises(NotFound):
        services.invitation_cancel(organization=contoso, invitation_id=invitation.pk, actor=admin)

    assert Invitation.objects.filter(pk=invitation.pk).exists()


def test_invitations_to_lists_mine_only(make_organization, admin, bob, carol):
    contoso = make_organization("Contoso", admin)
    fabrikam = make_organization("Fabrikam", admin)
    mine = [invite(contoso, "bob", actor=admin), invite(fabrikam, "bob", actor=admin)]
    invite(contoso, "carol", actor=admin)

    assert set(services.invitations_to(bob)) == set(mine)


# --- roles and removal ------------------------------------------------------------------


def test_the_last_administrator_cannot_be_demoted(contoso, admin):
    with pytest.raises(ValidationError) as refusal:
        services.member_role_set(
            organization=contoso, member=admin, role=Role.COLLABORATOR, actor=admin
        )

    assert "at least one administrator" in refusal.value.messages[0]
    assert role_in(contoso, admin) == Role.ADMINISTRATOR


def test_an_administrator_changes_roles_while_another_remains(make_organization, admin, bob):
    organization = make_organization("Contoso", admin, {bob: Role.COLLABORATOR})

    services.member_role_set(
        organization=organization, member=bob, role=Role.ADMINISTRATOR, actor=admin
    )
    services.member_role_set(
        organization=organization, member=admin, role=Role.COLLABORATOR, actor=admin
    )

    assert role_in(organization, bob) == Role.ADMINISTRATOR
    assert role_in(organization, admin) == Role.COLLABORATOR
    events = Event.objects.filter(
        subject_user=bob, kind=EventKind.ORG_MEMBER_ROLE_CHANGED
    ).values_list("details", flat=True)
    assert list(events) == [{"organization": "Contoso", "member": "bob", "role": "admin"}]


def test_a_collaborator_cannot_change_roles(make_organization, admin, bob, carol):
    organization = make_organization(
        "Contoso", admin, {bob: Role.COLLABORATOR, carol: Role.COLLABORATOR}
    )

    for member in (carol, bob, admin):
        with pytest.raises(PermissionDenied):
            services.member_role_set(
                organization=organization, member=member, role=Role.ADMINISTRATOR, actor=bob
            )

    assert role_in(organization, bob) == role_in(organization, carol) == Role.COLLABORATOR
    assert role_in(organization, admin) == Role.ADMINISTRATOR


def test_roles_of_non_members_are_not_found(contoso, admin, bob):
    with pytest.raises(NotFound):
        services.member_role_set(
            organization=contoso, member=bob, role=Role.COLLABORATOR, actor=admin
        )
    with pytest.raises(NotFound):
        services.member_remove(organization=contoso, member=bob, actor=admin)


def test_the_last_administrator_cannot_leave(make_organization, admin, bob):
    organization = make_organization("Contoso", admin, {bob: Role.COLLABORATOR})

    with pytest.raises(ValidationError) as refusal:
        services.member_remove(organization=organization, member=admin, actor=admin)

    assert "at least one administrator" in refusal.value.messages[0]
    assert role_in(organization, admin) == Role.ADMINISTRATOR


def test_the_last_administrator_cannot_be_removed_by_another_administrator_s_departure(
    make_organization, admin, bob
):
    organization = make_organization("Contoso", admin, {bob: Role.ADMINISTRATOR})
    services.member_remove(organization=organization, member=bob, actor=admin)

    with pytest.raises(ValidationError):
        services.member_remove(organization=organization, member=admin, actor=admin)

    assert services.administrators_of(organization) == [admin]


def test_a_collaborator_cannot_remove_others(make_organization, admin, bob, carol):
    organization = make_organization(
        "Contoso", admin, {bob: Role.COLLABORATOR, carol: Role.COLLABORATOR}
    )

    for member in (carol, admin):
        with pytest.raises(PermissionDenied):
            services.member_remove(organization=organization, member=member, actor=bob)

    assert role_in(organization, carol) == Role.COLLABORATOR
    assert role_in(organization, admin) == Role.ADMINISTRATOR


def test_a_member_leaves(make_organization, admin, bob):
    organization = make_organization("Contoso", admin, {bob: Role.COLLABORATOR})

    services.member_remove(organization=organization, member=bob, actor=bob)

    assert role_in(organization, bob) is None
    assert not services.may_publish_for(bob, organization.account)
    for account in (organization.account, bob):
        assert kinds(account)[0] == EventKind.ORG_MEMBER_LEFT


def test_a_removal_is_in_the_histories_of_the_organization_the_member_and_the_actor(
    make_organization, admin, bob
):
    organization = make_organization("Contoso", admin, {bob: Role.COLLABORATOR})

    services.member_remove(organization=organization, member=bob, actor=admin)

    assert role_in(organization, bob) is None
    for account in (organization.account, bob, admin):
        event = Event.objects.filter(subject_user=account).latest("occurred_at", "pk")
        assert event.kind == EventKind.ORG_MEMBER_REMOVED
        assert event.actor == admin
        assert event.details == {"organization": "Contoso", "member": "bob"}


def test_the_whole_invitation_is_in_all_three_histories(contoso, admin, bob):
    invitation = invite(contoso, "bob", actor=admin)
    services.invitation_accept(invitation_id=invitation.pk, user=bob)

    joined_and_invited = [EventKind.ORG_MEMBER_JOINED, EventKind.ORG_MEMBER_INVITED]
    assert kinds(contoso.account)[:2] == joined_and_invited
    assert kinds(bob) == joined_and_invited
    # The administrator invited; bob's joining is his own and the organization's.
    assert kinds(admin)[:1] == [EventKind.ORG_MEMBER_INVITED]


def test_organization_named_ignores_casing_and_users(contoso, bob):
    assert services.organization_named("CONTOSO") == contoso
    assert services.organization_named("bob") is None
    assert services.organization_named("nothing") is None
