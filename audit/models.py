"""The append-only event log every app writes to."""

from django.conf import settings
from django.db import models
from django.db.models import F
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class EventKind(models.TextChoices):
    """Every kind of event, named ``subject:action``. One enum for the whole product."""

    API_KEY_CREATED = "api_key:created", _("API key created")
    API_KEY_EDITED = "api_key:edited", _("API key packages changed")
    API_KEY_REGENERATED = "api_key:regenerated", _("API key regenerated")
    API_KEY_REVOKED = "api_key:revoked", _("API key revoked")
    API_KEY_DELETED = "api_key:deleted", _("API key deleted")
    API_KEY_AUTH_FAILED = "api_key:auth_failed", _("API key refused")
    PACKAGE_PUSHED = "package:pushed", _("Package version pushed")
    PACKAGE_UNLISTED = "package:unlisted", _("Package version unlisted")
    PACKAGE_RELISTED = "package:relisted", _("Package version relisted")
    PACKAGE_REFUSED = "package:refused", _("Package request refused")
    API_KEY_EXPIRY_NOTICE = "api_key:expiry_notice", _("API key expiry notice sent")
    USER_SIGNED_IN = "user:signed_in", _("Signed in")
    USER_SIGN_IN_FAILED = "user:sign_in_failed", _("Sign-in failed")
    USER_SIGNED_OUT = "user:signed_out", _("Signed out")
    USER_SIGNED_UP = "user:signed_up", _("Account created")
    USER_PASSWORD_CHANGED = "user:password_changed", _("Password changed")
    USER_PASSWORD_RESET = "user:password_reset", _("Password reset")
    USER_EMAIL_ADDED = "user:email_added", _("Email address added")
    USER_EMAIL_CONFIRMED = "user:email_confirmed", _("Email address confirmed")
    USER_EMAIL_REMOVED = "user:email_removed", _("Email address removed")
    USER_EMAIL_PRIMARY = "user:email_primary", _("Primary email address changed")
    USER_MFA_ACTIVATED = "user:mfa_activated", _("Two-factor authentication turned on")
    USER_MFA_DEACTIVATED = "user:mfa_deactivated", _("Two-factor authentication turned off")
    USER_RECOVERY_CODES = "user:recovery_codes_generated", _("Recovery codes generated")
    SECRET_SCANNING_REPORT = "secret_scanning:report", _("Secret scanning report received")
    SECRET_SCANNING_REFUSED = "secret_scanning:refused", _("Secret scanning report refused")
    PACKAGE_OWNERS_CHANGED = "package:owners_changed", _("Package owners changed")
    AUDIT_EXPORTED = "audit:exported", _("Audit events exported")
    TP_POLICY_CREATED = "trusted_publishing:policy_created", _("Trusted publishing policy added")
    TP_POLICY_EDITED = "trusted_publishing:policy_edited", _("Trusted publishing policy changed")
    TP_POLICY_ENABLED = "trusted_publishing:policy_enabled", _("Trusted publishing policy enabled")
    TP_POLICY_DISABLED = (
        "trusted_publishing:policy_disabled",
        _("Trusted publishing policy disabled"),
    )
    TP_POLICY_REARMED = "trusted_publishing:policy_rearmed", _("Trusted publishing policy re-armed")
    TP_POLICY_DELETED = "trusted_publishing:policy_deleted", _("Trusted publishing policy deleted")
    TP_KEY_MINTED = "trusted_publishing:key_minted", _("Short-lived API key issued")
    TP_EXCHANGE_REFUSED = "trusted_publishing:refused", _("Trusted publishing token refused")
    ORG_CREATED = "organization:created", _("Organization created")
    ORG_EDITED = "organization:edited", _("Organization settings changed")
    ORG_DELETED = "organization:deleted", _("Organization deleted")
    ORG_MEMBER_INVITED = "organization:member_invited", _("Member invited")
    ORG_MEMBER_JOINED = "organization:member_joined", _("Member joined")
    ORG_MEMBER_DECLINED = "organization:member_declined", _("Invitation declined")
    ORG_MEMBER_REMOVED = "organization:member_removed", _("Member removed")
    ORG_MEMBER_LEFT = "organization:member_left", _("Member left")
    ORG_MEMBER_ROLE_CHANGED = "organization:member_role_changed", _("Member role changed")
    OWNERSHIP_REQUESTED = "package:ownership_requested", _("Package ownership requested")
    OWNERSHIP_ACCEPTED = "package:ownership_accepted", _("Package ownership accepted")
    OWNERSHIP_DECLINED = "package:ownership_declined", _("Package ownership declined")
    OWNER_REMOVED = "package:owner_removed", _("Package owner removed")


class AppendOnlyError(Exception):
    """Raised when code tries to change or remove an event."""


class EventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("audit events cannot be updated")

    def delete(self):
        raise AppendOnlyError("audit events cannot be deleted")


class Event(models.Model):
    kind = models.CharField(_("kind"), max_length=64, choices=EventKind.choices)
    occurred_at = models.DateTimeField(_("when"), default=timezone.now)
    # Users are referenced without a database constraint and never cascaded:
    # an event outlives whoever it names, and deleting a user must not rewrite
    # history. The username is kept beside the reference for the same reason.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_username = models.CharField(_("actor username"), max_length=150, blank=True)
    subject_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("subject user"),
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    # Keys can be deleted; their events stay, so the key is kept by value.
    api_key_id = models.BigIntegerField(_("API key ID"), null=True, blank=True)
    api_key_hint = models.CharField(_("API key hint"), max_length=64, blank=True)
    package_id = models.CharField(_("package ID"), max_length=128, blank=True)
    package_version = models.CharField(_("package version"), max_length=128, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=512, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)

    objects = EventQuerySet.as_manager()

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["subject_user", "-occurred_at"], name="audit_event_subject_idx"),
            models.Index(fields=["actor", "-occurred_at"], name="audit_event_actor_idx"),
            models.Index(fields=["kind", "-occurred_at"], name="audit_event_kind_idx"),
            models.Index(fields=["-occurred_at"], name="audit_event_time_idx"),
            # For the admin's searches, which must stay fast at millions of rows.
            models.Index(fields=["ip", "-occurred_at"], name="audit_event_ip_idx"),
            models.Index(
                Lower("package_id"), F("occurred_at").desc(), name="audit_event_package_idx"
            ),
            models.Index(fields=["api_key_hint"], name="audit_event_key_hint_idx"),
            models.Index(fields=["actor_username"], name="audit_event_actor_name_idx"),
        ]

    def __str__(self):
        return f"{self.kind} at {self.occurred_at:%Y-%m-%d %H:%M:%S}"

    def save(self, *args, **kwargs):
        # Any pk, not only a loaded row's: given an existing pk, a new instance's
        # save() would UPDATE that row. New events get their pk from the database.
        if self.pk is not None:
            raise AppendOnlyError("audit events cannot be updated")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("audit events cannot be deleted")
