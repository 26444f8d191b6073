"""Changing API keys. Each service validates, writes its audit event in the same
transaction, and sends its email once the transaction commits."""

from datetime import timedelta

from allauth.account.utils import has_verified_email
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from apikeys import conf, emails, keys
from apikeys.models import ApiKey, RevocationSource
from audit.events import record
from audit.models import EventKind
from packages.selectors import package_names_owned_by


def _scope_details(api_key: ApiKey) -> dict:
    # Audit details describe the key's reach; never its value or digest.
    return {
        "name": api_key.name,
        "actions": list(api_key.actions),
        "packages": list(api_key.package_ids),
        "globs": list(api_key.globs),
        "expires_at": api_key.expires_at.isoformat(),
    }


def packages_owned_check(owner, package_ids: list[str]) -> list[str]:
    """The picked IDs in their display casing; every one must be the owner's, else
    ValidationError on ``package_ids`` names the others. Policies pick packages too."""
    owned = {name.lower(): name for name in package_names_owned_by(owner)}
    unknown = [p for p in package_ids if p.lower() not in owned]
    if unknown:
        raise ValidationError(
            {
                "package_ids": _("You do not own these packages: %(ids)s")
                % {"ids": ", ".join(unknown)}
            }
        )
    return sorted({owned[p.lower()] for p in package_ids}, key=str.lower)


@sensitive_variables()
def _set_new_secret(api_key: ApiKey) -> str:
    plaintext = keys.generate()
    api_key.digest = keys.digests(plaintext)[0]
    api_key.hint = keys.hint(plaintext)
    return plaintext


@sensitive_variables()
@transaction.atomic
def api_key_create(
    *,
    owner,
    name: str,
    actions: list[str],
    package_ids: list[str],
    globs: list[str],
    expiration_days: int,
    actor,
    request=None,
) -> tuple[ApiKey, str]:
    """Create a key; returns it with its value, which exists nowhere else."""
    if not has_verified_email(owner):
        raise ValidationError(_("Confirm your email address before you create an API key."))
    # Checked before the expiry date is computed, which would overflow first.
    if expiration_days < 1:
        raise ValidationError({"expiration_days": _("A key must last at least 1 day.")})
    if expiration_days > conf.max_expiration_days():
        raise ValidationError(
            {
                "expiration_days": _("Keys can last at most %(max)d days.")
                % {"max": conf.max_expiration_days()}
            }
        )
    now = timezone.now()
    api_key = ApiKey(
        owner=owner,
        name=name.strip(),
        actions=sorted(set(actions)),
        package_ids=packages_owned_check(owner, package_ids),
        globs=list(globs),
        created_at=now,
        expiration_days=expiration_days,
        expires_at=now + timedelta(days=expiration_days),
    )
    plaintext = _set_new_secret(api_key)
    api_key.full_clean()
    api_key.save()
    record(
        EventKind.API_KEY_CREATED,
        actor=actor,
        subject_user=owner,
        api_key=api_key,
        request=request,
        details=_scope_details(api_key),
    )
    transaction.on_commit(lambda: emails.send_key_added(api_key))
    return api_key, plaintext


@transaction.atomic
def api_key_edit(*, api_key: ApiKey, package_ids: list[str], globs: list[str], actor, request=None):
    """Change which packages a key covers; nothing else about it changes."""
    before = {"packages": list(api_key.package_ids), "globs": list(api_key.globs)}
    api_key.package_ids = packages_owned_check(api_key.owner, package_ids)
    api_key.globs = list(globs)
    api_key.full_clean()
    api_key.save(update_fields=["package_ids", "globs"])
    record(
        EventKind.API_KEY_EDITED,
        actor=actor,
        subject_user=api_key.owner,
        api_key=api_key,
        request=request,
        details={
            "before": before,
            "after": {"packages": api_key.package_ids, "globs": api_key.globs},
        },
    )
    return api_key


@sensitive_variables()
@transaction.atomic
def api_key_regenerate(*, api_key: ApiKey, actor, request=None) -> tuple[ApiKey, str]:
    """A new value for the same name, owner, scopes and packages.

    Works on expired and revoked keys too; the old value stops working at once
    because its digest is gone. The new expiry is now plus the original duration.
    """
    old_hint = api_key.hint
    now = timezone.now()
    plaintext = _set_new_secret(api_key)
    # The operator may have shortened the choices since: a regenerated key lasts
    # at most the longest one offered now.
    api_key.expiration_days = min(api_key.expiration_days, conf.longest_expiration())
    api_key.expires_at = now + api_key.duration
    api_key.revoked_at = None
    api_key.revoked_by = None
    api_key.revocation_source = ""
    api_key.revocation_reason = ""
    api_key.revocation_url = ""
    api_key.full_clean()
    api_key.save()
    record(
        EventKind.API_KEY_REGENERATED,
        actor=actor,
        subject_user=api_key.owner,
        api_key=api_key,
        request=request,
        details={**_scope_details(api_key), "previous_hint": old_hint},
    )
    transaction.on_commit(lambda: emails.send_key_added(api_key, regenerated=True))
    return api_key, plaintext


@transaction.atomic
def api_key_revoke(
    *,
    api_key: ApiKey,
    actor,
    request=None,
    source: str = RevocationSource.USER,
    reason: str = "",
    leak_url: str = "",
) -> ApiKey:
    """Stop a key at once; it stays listed as Revoked and can be regenerated."""
    if api_key.is_revoked:
        return api_key
    api_key.revoked_at = timezone.now()
    api_key.revoked_by = actor if actor is not None and actor.is_authenticated else None
    api_key.revocation_source = source
    api_key.revocation_reason = reason[:500]
    api_key.revocation_url = leak_url[:2048]
    # Conditional, not a plain save: a revocation racing this one (GitHub reports the
    # same leak more than once) or made from a stale copy must not overwrite the
    # first one's record, nor write a second event or send a second email.
    revoked = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
        revoked_at=api_key.revoked_at,
        revoked_by=api_key.revoked_by,
        revocation_source=api_key.revocation_source,
        revocation_reason=api_key.revocation_reason,
        revocation_url=api_key.revocation_url,
    )
    if not revoked:
        api_key.refresh_from_db()
        return api_key
    details = {"name": api_key.name, "source": source, "reason": api_key.revocation_reason}
    if leak_url:
        details["leak_url"] = leak_url
    record(
        EventKind.API_KEY_REVOKED,
        actor=actor,
        subject_user=api_key.owner,
        api_key=api_key,
        request=request,
        details=details,
    )
    transaction.on_commit(lambda: emails.send_key_revoked(api_key, leak_url=leak_url))
    return api_key


def api_key_purge_short_lived(now=None) -> int:
    """Delete the expired keys that trusted publishing minted; returns how many.

    They lived minutes and nobody can renew them, so unlike other keys they are
    not kept as "Expired". Their audit events stay.
    """
    deleted, _ = ApiKey.objects.filter(
        policy__isnull=False, expires_at__lte=now or timezone.now()
    ).delete()
    return deleted


@transaction.atomic
def api_key_delete(*, api_key: ApiKey, actor, request=None) -> None:
    """Remove a key for good. Its audit events stay."""
    record(
        EventKind.API_KEY_DELETED,
        actor=actor,
        subject_user=api_key.owner,
        api_key=api_key,
        request=request,
        details=_scope_details(api_key),
    )
    # The email needs the key's name and owner after the row is gone.
    snapshot = ApiKey(pk=api_key.pk, owner=api_key.owner, name=api_key.name, hint=api_key.hint)
    api_key.delete()
    transaction.on_commit(lambda: emails.send_key_removed(snapshot))
