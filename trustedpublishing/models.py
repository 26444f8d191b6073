"""Trusted publishing policies, and the token IDs already exchanged."""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apikeys.scopes import Action, grant_errors
from trustedpublishing import conf


class Provider(models.TextChoices):
    GITHUB = conf.GITHUB, _("GitHub Actions")
    GITLAB = conf.GITLAB, _("GitLab CI/CD")


class Policy(models.Model):
    """Who may mint short-lived keys for ``owner``: one CI identity, one provider.

    ``owner`` is the user who made the policy, the user name a token exchange
    names; the minted keys are theirs. ``package_owner`` is the Package Owner they
    act for, as a key's: null for the user, else an organization the user may
    publish for, checked at each exchange and, through the minted key, at each use.
    ``subject_owner``/``subject`` are the GitHub repository owner and repository,
    or the GitLab namespace and project path.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.CASCADE,
        related_name="trusted_publishing_policies",
    )
    package_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("package owner"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="scoped_trusted_publishing_policies",
    )
    name = models.CharField(_("name"), max_length=256)
    provider = models.CharField(_("provider"), max_length=16, choices=Provider.choices)
    enabled = models.BooleanField(_("enabled"), default=True)
    actions = models.JSONField(_("scopes"), default=list)
    package_ids = models.JSONField(_("packages"), default=list, blank=True)
    globs = models.JSONField(_("glob patterns"), default=list, blank=True)
    subject_owner = models.CharField(_("repository owner or namespace"), max_length=255)
    subject = models.CharField(_("repository or project"), max_length=255)
    workflow = models.CharField(_("workflow file"), max_length=255, blank=True)
    ref = models.CharField(_("branch"), max_length=255, blank=True)
    environment = models.CharField(_("environment"), max_length=255, blank=True)
    # Recorded from the first accepted token, then required: a repository deleted
    # and re-created under the same name gets new IDs and is refused.
    subject_owner_id = models.CharField(_("owner or namespace ID"), max_length=64, blank=True)
    subject_id = models.CharField(_("repository or project ID"), max_length=64, blank=True)
    armed_at = models.DateTimeField(_("armed"), default=timezone.now)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta:
        verbose_name = _("trusted publishing policy")
        verbose_name_plural = _("trusted publishing policies")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["owner", "created_at"], name="tp_policy_owner_idx")]

    def __str__(self):
        return self.name

    @property
    def account(self):
        """The account whose packages the minted keys act on: its Package Owner."""
        return self.package_owner if self.package_owner_id else self.owner

    @property
    def ids_locked(self) -> bool:
        return bool(self.subject_owner_id and self.subject_id)

    def armed_until(self):
        return self.armed_at + timedelta(days=conf.ARMED_DAYS)

    def is_armed(self, now=None) -> bool:
        """May the first token still record the IDs (unlocked, within the window)?"""
        return not self.ids_locked and (now or timezone.now()) < self.armed_until()

    def needs_rearming(self, now=None) -> bool:
        return not self.ids_locked and not self.is_armed(now)

    @property
    def scope_labels(self) -> list[str]:
        return [str(Action(a).label) for a in self.actions if a in Action.values]

    @property
    def workflow_label(self) -> str:
        return self.workflow if self.provider == Provider.GITHUB else self.ref

    def clean(self):
        errors = grant_errors(self.actions, self.package_ids, self.globs)
        if self.provider == Provider.GITHUB:
            if not self.workflow:
                errors["workflow"] = _("Enter the workflow file name, such as release.yml.")
            elif "/" in self.workflow or not self.workflow.endswith((".yml", ".yaml")):
                errors["workflow"] = _(
                    "Enter only the workflow's file name, such as release.yml, without a folder."
                )
            if "/" in self.subject_owner:
                errors["subject_owner"] = _("Enter the owner alone, without a “/”.")
            if "/" in self.subject:
                errors["subject"] = _("Enter the repository name alone, without its owner.")
        if errors:
            raise ValidationError(errors)


class UsedToken(models.Model):
    """An exchanged token's ``jti``, kept until the token expires: a replay of the
    same token finds it and is refused. Only the ID, never the token."""

    issuer = models.CharField(_("issuer"), max_length=255)
    jti = models.CharField(_("token ID"), max_length=255)
    expires_at = models.DateTimeField(_("expires"))

    class Meta:
        verbose_name = _("used token ID")
        verbose_name_plural = _("used token IDs")
        constraints = [
            models.UniqueConstraint(fields=["issuer", "jti"], name="tp_used_token_unique"),
        ]
        indexes = [models.Index(fields=["expires_at"], name="tp_used_token_expires_idx")]

    def __str__(self):
        return self.jti
