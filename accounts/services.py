"""Organizations and their members. Each service checks who may act, writes its
audit events in the same transaction, and sends its email once that commits.

Who may do what, as on nuget.org: administrators and collaborators act for the
organization's packages (push, unlist, relist); only administrators manage members,
owners and the organization itself. An organization always keeps an administrator.
"""

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Case, Exists, OuterRef, Subquery, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import conf, emails
from accounts.models import Invitation, Membership, Organization, Role
from accounts.names import name_check
from audit.events import record
from audit.models import EventKind


class NotFound(Exception):
    """No such invitation for this user: answered as 404, whoever else it is for."""


# --- reading who may act -----------------------------------------------------------


def organization_of(account) -> Organization | None:
    """``account``'s Organization, or None for a user (one query, cached on the account)."""
    try:
        return account.organization
    except Organization.DoesNotExist:
        return None


def role_of(user, account) -> str | None:
    """``Role.ADMINISTRATOR`` when ``user`` is ``account`` itself or one of its
    administrators, ``Role.COLLABORATOR`` for a collaborator, None otherwise."""
    if not getattr(user, "is_authenticated", False):
        return None
    if user.pk == account.pk:
        return Role.ADMINISTRATOR
    return (
        Membership.objects.filter(organization_id=account.pk, user_id=user.pk)
        .values_list("role", flat=True)
        .first()
    )


def with_roles(accounts, user):
    """``accounts`` (a queryset of the user table) annotated, in the same query, with
    ``is_organization`` and ``viewer_role``: ``role_of(user, account)`` for every row."""
    user_pk = user.pk if getattr(user, "is_authenticated", False) else None
    membership = Membership.objects.filter(organization_id=OuterRef("pk"), user_id=user_pk)
    return accounts.annotate(
        is_organization=Exists(Organization.objects.filter(account_id=OuterRef("pk"))),
        viewer_role=Case(
            When(pk=user_pk, then=Value(Role.ADMINISTRATOR)),
            default=Subquery(membership.values("role")[:1]),
        ),
    )


def may_publish_for(user, account) -> bool:
    """May ``user`` push, unlist and relist for ``account``'s packages?"""
    return role_of(user, account) is not None


def may_administer(user, account) -> bool:
    """May ``user`` manage ``account``'s members, package owners and settings?"""
    return role_of(user, account) == Role.ADMINISTRATOR


def accounts_for(user) -> list:
    """``user`` then every organization they are a member of, by name: the accounts
    they may publish for (the Package Owner choices)."""
    User = get_user_model()
    organizations = User.objects.filter(organization__memberships__user=user).order_by("username")
    return [user, *organizations]


def memberships_of(user):
    """``user``'s memberships with their organizations' accounts, by name."""
    return (
        Membership.objects.filter(user=user)
        .select_related("organization__account")
        .order_by("organization__account__username")
    )


def organization_named(name: str) -> Organization | None:
    """The organization called ``name``, in any casing, with its account; None if none."""
    return (
        Organization.objects.select_related("account")
        .filter(account__username__iexact=name, account__is_active=True)
        .first()
    )


def members_of(organization: Organization):
    """The organization's memberships with their users, by user name."""
    return (
        Membership.objects.filter(organization=organization)
        .select_related("user")
        .order_by("user__username")
    )


def invitations_of(organization: Organization):
    """The organization's pending invitations (expired ones too), by invitee."""
    return (
        Invitation.objects.filter(organization=organization)
        .select_related("user", "invited_by")
        .order_by("user__username")
    )


def invitations_to(user):
    """The pending invitations addressed to ``user``, newest first."""
    return Invitation.objects.filter(user_id=user.pk).select_related(
        "organization__account", "invited_by"
    )


def administrators_of(organization: Organization) -> list:
    User = get_user_model()
    return list(
        User.objects.filter(
            memberships__organization=organization, memberships__role=Role.ADMINISTRATOR
        ).order_by("username")
    )


# --- the organization -------------------------------------------------------------


def _event(kind, *, organization, actor, request, member=None, **details):
    """One event in the organization's history and, when a member is involved, one
    in theirs (and the actor's own, if that is someone else)."""
    details = {"organization": organization.name, **details}
    if member is not None:
        details["member"] = member.get_username()
    involved = [organization.account, actor]
    if member is not None:
        involved.append(member)
    seen = set()
    for subject in involved:
        if subject is None or subject.pk in seen:
            continue
        seen.add(subject.pk)
        record(kind, actor=actor, subject_user=subject, request=request, details=details)


@transaction.atomic
def organization_create(*, name: str, email: str, actor, request=None) -> Organization:
    """A new organization named ``name``, ``actor`` its first administrator.
    Raises ValidationError on ``name`` when the name is not free."""
    try:
        name_check(name)
    except ValidationError as error:
        raise ValidationError({"name": error.messages}) from None
    User = get_user_model()
    # No email and no usable password: the account can never sign in or reset one.
    account = User(username=name, email="")
    account.set_unusable_password()
    try:
        with transaction.atomic():
            account.save(force_insert=True)
    except IntegrityError:
        # Taken a moment ago, in some casing (the lower-cased name's unique index).
        raise ValidationError({"name": _("This name is already taken.")}) from None
    organization = Organization(account=account, email=email)
    organization.full_clean()
    organization.save(force_insert=True)
    Membership.objects.create(organization=organization, user=actor, role=Role.ADMINISTRATOR)
    _event(EventKind.ORG_CREATED, organization=organization, actor=actor, request=request,
           email=email)  # fmt: skip
    return organization


@transaction.atomic
def organization_edit(*, organization: Organization, email: str, actor, request=None):
    _require_administrator(actor, organization)
    organization.email = email
    organization.full_clean()
    organization.save(update_fields=["email"])
    _event(EventKind.ORG_EDITED, organization=organization, actor=actor, request=request,
           email=email)  # fmt: skip
    return organization


@transaction.atomic
def organization_delete(*, organization: Organization, actor, request=None) -> None:
    """Delete an organization that owns no packages; its keys and memberships go too."""
    _require_administrator(actor, organization)
    # Locked first: a push adding a package to the organization while it is being
    # deleted either commits before the check sees it, or waits and fails.
    get_user_model().objects.select_for_update().filter(pk=organization.pk).first()
    if organization.account.packages.exists():
        raise ValidationError(
            _("An organization that owns packages cannot be deleted. Remove it as owner first.")
        )
    _event(EventKind.ORG_DELETED, organization=organization, actor=actor, request=request)
    organization.account.delete()


def _require_administrator(actor, organization: Organization) -> None:
    if not Membership.objects.filter(
        organization=organization, user_id=actor.pk, role=Role.ADMINISTRATOR
    ).exists():
        raise PermissionDenied


# --- members ------------------------------------------------------------------------


def _user_named(who: str):
    """The user (never an organization) with this user name or confirmed email address."""
    User = get_user_model()
    users = User.objects.filter(organization__isnull=True, is_active=True)
    who = who.strip()
    if "@" in who:
        return users.filter(emailaddress__email__iexact=who, emailaddress__verified=True).first()
    return users.filter(username__iexact=who).first()


@transaction.atomic
def member_invite(*, organization: Organization, who: str, role: str, actor, request=None):
    """Invite the user named by ``who`` (user name or confirmed email address) with
    ``role``; inviting again renews the invitation (and emails again once
    ``conf.RESEND_AFTER`` has passed). Raises ValidationError on ``who``."""
    _require_administrator(actor, organization)
    if role not in Role.values:
        raise ValidationError({"role": _("Choose a role.")})
    invitee = _user_named(who)
    if invitee is None:
        raise ValidationError({"who": _("No user has this user name or confirmed email address.")})
    if Membership.objects.filter(organization=organization, user=invitee).exists():
        raise ValidationError({"who": _("%(name)s is already a member.") % {"name": invitee}})
    now = timezone.now()
    previous = (
        Invitation.objects.filter(organization=organization, user=invitee)
        .values_list("created_at", flat=True)
        .first()
    )
    invitation, _created = Invitation.objects.update_or_create(
        organization=organization,
        user=invitee,
        defaults={
            "role": role,
            "invited_by": actor,
            "created_at": now,
            "expires_at": now + conf.INVITATION_LIFETIME,
        },
    )
    _event(EventKind.ORG_MEMBER_INVITED, organization=organization, actor=actor,
           request=request, member=invitee, role=role)  # fmt: skip
    if resend_due(previous, now):
        transaction.on_commit(lambda: emails.send_invitation(invitation))
    return invitation


def resend_due(previous_sent_at, now) -> bool:
    """Should renewing an invitation or request sent at ``previous_sent_at`` (None:
    never) email again? Only after ``conf.RESEND_AFTER``."""
    return previous_sent_at is None or now - previous_sent_at >= conf.RESEND_AFTER


def invitation_for(invitation_id: int, user) -> Invitation:
    """The pending invitation ``invitation_id`` addressed to ``user``; NotFound for
    anyone else's, an answered one, or a made-up ID."""
    invitation = (
        Invitation.objects.select_related("organization__account", "invited_by")
        .filter(pk=invitation_id, user_id=getattr(user, "pk", None))
        .first()
    )
    if invitation is None:
        raise NotFound
    return invitation


@transaction.atomic
def invitation_accept(*, invitation_id: int, user, request=None) -> Membership:
    """Join. Raises NotFound (not theirs, or answered already) or ValidationError (expired)."""
    invitation = _claim(invitation_id, user)
    organization = invitation.organization
    if invitation.is_expired():
        raise ValidationError(_("This invitation has expired. Ask for a new one."))
    invitation.delete()
    membership, _created = Membership.objects.get_or_create(
        organization=organization, user=user, defaults={"role": invitation.role}
    )
    _event(EventKind.ORG_MEMBER_JOINED, organization=organization, actor=user,
           request=request, member=user, role=membership.role)  # fmt: skip
    return membership


@transaction.atomic
def invitation_decline(*, invitation_id: int, user, request=None) -> None:
    invitation = _claim(invitation_id, user)
    invitation.delete()
    _event(EventKind.ORG_MEMBER_DECLINED, organization=invitation.organization, actor=user,
           request=request, member=user)  # fmt: skip


@transaction.atomic
def invitation_cancel(*, organization: Organization, invitation_id: int, actor,
                      request=None) -> None:  # fmt: skip
    """An administrator withdraws a pending invitation; its link stops working. Raises
    NotFound when the organization has no such invitation (answered, or made up)."""
    _require_administrator(actor, organization)
    invitation = (
        Invitation.objects.select_for_update()
        .select_related("user")
        .filter(pk=invitation_id, organization=organization)
        .first()
    )
    if invitation is None:
        raise NotFound
    invitation.delete()
    # No kind of its own: a declined invitation, declined by an administrator.
    _event(EventKind.ORG_MEMBER_DECLINED, organization=organization, actor=actor,
           request=request, member=invitation.user, cancelled=True)  # fmt: skip


def _claim(invitation_id: int, user) -> Invitation:
    # Locked, so that a double submit answers once and the second gets NotFound.
    invitation = (
        Invitation.objects.select_for_update()
        .select_related("organization__account")
        .filter(pk=invitation_id, user_id=getattr(user, "pk", None))
        .first()
    )
    if invitation is None:
        raise NotFound
    return invitation


def _locked_memberships(organization: Organization) -> dict:
    """The organization's memberships by user ID, locked: two administrators demoting
    each other at once cannot leave it without one."""
    rows = Membership.objects.select_for_update().filter(organization=organization)
    return {m.user_id: m for m in rows}


def _keeps_an_administrator(memberships: dict, without_user_id: int) -> bool:
    return any(
        m.role == Role.ADMINISTRATOR for uid, m in memberships.items() if uid != without_user_id
    )


@transaction.atomic
def member_role_set(*, organization: Organization, member, role: str, actor, request=None):
    _require_administrator(actor, organization)
    if role not in Role.values:
        raise ValidationError({"role": _("Choose a role.")})
    memberships = _locked_memberships(organization)
    membership = memberships.get(member.pk)
    if membership is None:
        raise NotFound
    if role != Role.ADMINISTRATOR and not _keeps_an_administrator(memberships, member.pk):
        raise ValidationError(_("An organization must keep at least one administrator."))
    if membership.role == role:
        return membership
    membership.role = role
    membership.save(update_fields=["role"])
    _event(EventKind.ORG_MEMBER_ROLE_CHANGED, organization=organization, actor=actor,
           request=request, member=member, role=role)  # fmt: skip
    return membership


@transaction.atomic
def member_remove(*, organization: Organization, member, actor, request=None) -> None:
    """An administrator removes ``member``, or a member leaves (``member`` is ``actor``).
    Their organization-scoped keys stop at once and work again if they are re-added."""
    leaving = member.pk == actor.pk
    if not leaving:
        _require_administrator(actor, organization)
    memberships = _locked_memberships(organization)
    if member.pk not in memberships:
        raise NotFound
    if not _keeps_an_administrator(memberships, member.pk):
        raise ValidationError(
            _(
                "An organization must keep at least one administrator. Make someone else an "
                "administrator first, or delete the organization."
            )
        )
    memberships[member.pk].delete()
    kind = EventKind.ORG_MEMBER_LEFT if leaving else EventKind.ORG_MEMBER_REMOVED
    _event(kind, organization=organization, actor=actor, request=request, member=member)
