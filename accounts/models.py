"""Organizations: accounts that own packages and keys but never sign in.

An organization is a row in the user table (its account) plus an ``Organization``
row beside it. Packages, API keys and policies point at accounts, so an
organization owns them exactly as a user does, with no parallel fields; its name is
a user name, so users and organizations share one namespace (case-insensitive,
enforced by the database: migration 0001 adds a unique index on the lower-cased
user name). The account has an unusable password and no email address, so it
cannot sign in or reset a password.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    ADMINISTRATOR = "admin", _("Administrator")
    COLLABORATOR = "collaborator", _("Collaborator")


class Organization(models.Model):
    account = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="organization",
        verbose_name=_("account"),
    )
    # Where the organization is reached; never a sign-in address.
    email = models.EmailField(_("contact email"))
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("organization")
        verbose_name_plural = _("organizations")

    def __str__(self):
        return self.account.username

    @property
    def name(self) -> str:
        return self.account.username


class Membership(models.Model):
    organization = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        related_name="memberships",
        verbose_name=_("organization"),
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="memberships",
        verbose_name=_("member"),
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(_("joined"), default=timezone.now)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        ordering = ["organization", "user__username"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "user"], name="accounts_membership_unique"
            ),
        ]
        # The key check joins on (organization, user): the unique index serves it.

    def __str__(self):
        return f"{self.user} in {self.organization} ({self.role})"

    @property
    def is_administrator(self) -> bool:
        return self.role == Role.ADMINISTRATOR


class Invitation(models.Model):
    """A pending invitation: accepted or declined, it is deleted (the audit log keeps it)."""

    organization = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        related_name="invitations",
        verbose_name=_("organization"),
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="organization_invitations",
        verbose_name=_("invitee"),
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("invited by"),
    )
    created_at = models.DateTimeField(_("sent"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"))

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        ordering = ["-created_at"]
        constraints = [
            # Inviting again replaces the pending invitation (new role, new expiry).
            models.UniqueConstraint(
                fields=["organization", "user"], name="accounts_invitation_unique"
            ),
        ]

    def __str__(self):
        return f"{self.user} to {self.organization}"

    def is_expired(self, now=None) -> bool:
        return self.expires_at <= (now or timezone.now())
