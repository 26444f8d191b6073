"""API keys: who owns them, what they may do, for which packages, until when."""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apikeys import conf
from apikeys.scopes import Action, Grant, grant_errors

# A key this close to its expiry is "expiring soon": the push warning, the expiry
# notice email and the admin's filter all use it.
EXPIRY_WARNING = timedelta(days=10)


def days_left(expires_at, now=None) -> int:
    """Whole days until ``expires_at``, rounding up: a key expiring in 3 hours has 1
    day left, an expired one 0."""
    remaining = expires_at - (now or timezone.now())
    return max(0, -(-remaining // timedelta(days=1)))


def expires_soon(expires_at, now=None) -> bool:
    """True from ``EXPIRY_WARNING`` before ``expires_at`` on, expired keys included."""
    return expires_at - (now or timezone.now()) <= EXPIRY_WARNING


class RevocationSource(models.TextChoices):
    USER = "user", _("Revoked by its owner")
    ADMIN = "admin", _("Revoked by an administrator")
    LEAK = "leak", _("Revoked because it leaked")
    GITHUB = "github", _("Revoked after GitHub secret scanning found it")
    POLICY = "policy", _("Revoked when its trusted publishing policy changed")


class ApiKeyQuerySet(models.QuerySet):
    def active(self, now=None):
        now = now or timezone.now()
        return self.filter(revoked_at__isnull=True, expires_at__gt=now)


class ApiKey(models.Model):
    # A user, or an organization for the keys its administrators share (which then
    # do not depend on any one member staying).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.CASCADE,
        related_name="api_keys",
    )
    # The Package Owner the key acts for, when that is an organization its user
    # owner belongs to (null: the owner itself). Membership is checked on every use,
    # so a removed member's key stops without being deleted.
    package_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("package owner"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="scoped_api_keys",
    )
    # Who made it: the owner for a user's own key; the administrator for an
    # organization's key (shown in key oversight, emailed about it).
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    name = models.CharField(_("name"), max_length=256)
    # HMAC-SHA256 of the value under the server's pepper: the value itself is never stored.
    digest = models.CharField(_("digest"), max_length=64, unique=True, editable=False)
    hint = models.CharField(_("hint"), max_length=32, editable=False)
    actions = models.JSONField(_("scopes"), default=list)
    package_ids = models.JSONField(_("packages"), default=list, blank=True)
    globs = models.JSONField(_("glob patterns"), default=list, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"))
    expiration_days = models.PositiveSmallIntegerField(_("duration in days"))
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("revoked by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    revocation_source = models.CharField(
        _("revocation source"), max_length=16, choices=RevocationSource.choices, blank=True
    )
    revocation_reason = models.CharField(_("revocation reason"), max_length=500, blank=True)
    # Where a leaked key was found (leak reports and secret scanning).
    revocation_url = models.URLField(_("leak URL"), max_length=2048, blank=True)
    # Expiry notices are sent once per state; each field holds the expiry date the
    # notice was sent for, so a regenerated key (new expiry) is notified afresh.
    expiring_notice_for = models.DateTimeField(
        _("about-to-expire notice sent for"), null=True, blank=True
    )
    expired_notice_for = models.DateTimeField(_("expired notice sent for"), null=True, blank=True)

    # Set on the short-lived keys a trusted publishing policy mints: they are
    # shown read-only under their policy, never emailed about, and purged once
    # expired. By label, not import: the policies' app sits above this one.
    policy = models.ForeignKey(
        "trustedpublishing.Policy",
        verbose_name=_("trusted publishing policy"),
        null=True,
        blank=True,
        editable=False,
        on_delete=models.CASCADE,
        related_name="api_keys",
    )

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="apikeys_owner_created_idx"),
            models.Index(fields=["expires_at"], name="apikeys_expires_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expiration_days__gte=1), name="apikeys_duration_positive"
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.hint})"

    def clean(self):
        errors = grant_errors(self.actions, self.package_ids, self.globs)
        if self.expiration_days and self.expiration_days > conf.max_expiration_days():
            errors["expiration_days"] = _("Keys can last at most %(max)d days.") % {
                "max": conf.max_expiration_days()
            }
        if errors:
            raise ValidationError(errors)

    @property
    def account_id(self) -> int:
        """The account whose packages the key acts on: its Package Owner."""
        return self.package_owner_id or self.owner_id

    @property
    def account(self):
        """The account whose packages the key acts on: its Package Owner."""
        return self.package_owner if self.package_owner_id else self.owner

    @property
    def creator(self):
        """Who the key's emails go to: the administrator who made an organization's
        key, else its owner (keys made before ``created_by`` existed have none)."""
        return self.created_by if self.created_by_id else self.owner

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def is_expired(self, now=None) -> bool:
        return self.expires_at <= (now or timezone.now())

    def is_active(self, now=None) -> bool:
        return not self.is_revoked and not self.is_expired(now)

    def days_left(self, now=None) -> int:
        """Whole days until expiry, rounding up: a key expiring in 3 hours has 1 day left."""
        return days_left(self.expires_at, now)

    def status_label(self, now=None) -> str:
        if self.is_revoked:
            return _("Revoked")
        if self.is_expired(now):
            return _("Expired")
        return _("Active")

    @property
    def duration(self) -> timedelta:
        return timedelta(days=self.expiration_days)

    @property
    def grant(self) -> Grant:
        return Grant.of(self.actions, self.package_ids, self.globs)

    @property
    def scope_labels(self) -> list[str]:
        # Plain strings, in the active language: templates rendered with
        # autoescape off (emails) cannot join lazy ones.
        return [str(Action(a).label) for a in self.actions if a in Action.values]
