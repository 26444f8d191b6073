"""Changing API keys. Each service validates, writes its audit event in the same
transaction, and sends its email once the transaction commits.

Three kinds of key, one model:

- a user's own key (``owner`` the user, ``package_owner`` null);
- a member's organization-scoped key (``owner`` the user, ``package_owner`` the
  organization): made only by a member, and working only while they are one (the
  key check decides with the membership of the moment);
- an organization key (``owner`` the organization's account): made and managed by
  any of its administrators, ``created_by`` the one who made it. It does not
  depend on any one member staying.

A key that acts for an organization writes its events in the owner's history and
in the organization's, so that its administrators see them.
"""

from datetime import timedelta

from allauth.account.utils import has_verified_email
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from accounts.services import may_administer, may_publish_for, organization_of
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


def _record(kind, *, api_key: ApiKey, actor, request, details: dict) -> None:
    """The key's event in its owner's history and, for a member's key that acts
    for an organization, in the organization's too."""
    if api_key.package_owner_id:
        details = {**details, "package_owner": api_key.package_owner.get_username()}
    subjects = [api_key.owner]
    if api_key.package_owner_id and api_key.package_owner_id != api_key.owner_id:
        subjects.append(api_key.package_owner)
    for subject in subjects:
        record(kind, actor=actor, subject_user=subject, api_key=api_key, request=request,
               details=details)  # fmt: skip


def _require_manager(api_key: ApiKey, actor) -> None:
    """An organization's own key is managed by its administrators only."""
    if organization_of(api_key.owner) is not None and not (
        actor is not None and may_administer(actor, api_key.owner)
    ):
        raise PermissionDenied


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
    package_owner=None,
    request=None,
) -> tuple[ApiKey, str]:
    """Create a key; returns it with its value, which exists nowhere else.

    ``owner`` is a user, or an organization's account for an organization key
    (``actor`` one of its administrators). ``package_owner`` is the account a
    user's key acts for: the user (or None), or an organization they may publish
    for, checked now and again on every use. Raises ValidationError on
    ``package_owner`` when the owner may not publish for it, PermissionDenied when
    ``actor`` may not make an organization's key.
    """
    if organization_of(owner) is not None:
        # The organization's own key: its administrators make it, and it acts for
        # the organization itself.
        if actor is None or not may_administer(actor, owner):
            raise PermissionDenied
        if package_owner is not None and package_owner.pk != owner.pk:
            raise ValidationError(
                {"package_owner": _("An organization's key acts for the organization.")}
            )
        package_owner = None
        created_by = actor
        confirmed_by = actor
    else:
        if package_owner is not None and package_owner.pk == owner.pk:
            package_owner = None
        if package_owner is not None and not may_publish_for(owner, package_owner):
            raise ValidationError(
                {
                    "package_owner": _("You may not publish for %(owner)s.")
                    % {"owner": package_owner.get_username()}
                }
            )
        created_by = owner
        confirmed_by = owner
    if not has_verified_email(confirmed_by):
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
        package_owner=package_owner,
        created_by=created_by,
        name=name.strip(),
        actions=sorted(set(actions)),
        package_ids=packages_owned_check(package_owner or owner, package_ids),
        globs=list(globs),
        created_at=now,
        expiration_days=expiration_days,
        expires_at=now + timedelta(days=expiration_days),
    )
    plaintext = _set_new_secret(api_key)
    api_key.full_clean()
    api_key.save()
    _record(EventKind.API_KEY_CREATED, api_key=api_key, actor=actor, request=request,
            details=_scope_details(api_key))  # fmt: skip
    transaction.on_commit(lambda: emails.send_key_added(api_key))
    return api_key, plaintext


@transaction.atomic
def api_key_edit(*, api_key: ApiKey, package_ids: list[str], globs: list[str], actor, request=None):
    """Change which packages a key covers; nothing else about it changes (its
    Package Owner included, as on nuget.org).

    A member's organization-scoped key can be changed only while they are a member:
    the organization's packages are no longer theirs to pick from.
    """
    _require_manager(api_key, actor)
    if api_key.package_owner_id and not may_publish_for(api_key.owner, api_key.package_owner):
        raise ValidationError(
            _("You are no longer a member of %(organization)s: this key cannot be changed.")
            % {"organization": api_key.package_owner.get_username()}
        )
    before = {"packages": list(api_key.package_ids), "globs": list(api_key.globs)}
    api_key.package_ids = packages_owned_check(api_key.account, package_ids)
    api_key.globs = list(globs)
    api_key.full_clean()
    api_key.save(update_fields=["package_ids", "globs"])
    _record(
        EventKind.API_KEY_EDITED,
        api_key=api_key,
        actor=actor,
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
    _require_manager(api_key, actor)
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
    _record(EventKind.API_KEY_REGENERATED, api_key=api_key, actor=actor, request=request,
            details={**_scope_details(api_key), "previous_hint": old_hint})  # fmt: skip
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
    organization=None,
) -> ApiKey:
    """Stop a key at once; it stays listed as Revoked and can be regenerated.
    ``organization`` is the organization whose administrator revoked it, if one did."""
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
    if organization is not None:
        details["organization"] = organization.get_username()
    _record(EventKind.API_KEY_REVOKED, api_key=api_key, actor=actor, request=request,
            details=details)  # fmt: skip
    transaction.on_commit(
        lambda: emails.send_key_revoked(api_key, leak_url=leak_url, organization=organization)
    )
    return api_key


def acts_for(api_key: ApiKey, organization) -> bool:
    """Does ``api_key`` act for ``organization``'s account: its own key, or a
    member's key scoped to it?"""
    return organization.pk in (api_key.owner_id, api_key.package_owner_id)


@transaction.atomic
def api_key_revoke_for_organization(
    *, api_key: ApiKey, organization, reason: str, actor, request=None
) -> ApiKey:
    """An administrator of ``organization`` (its account) revokes a key that acts
    for it: the organization's own, or a member's organization-scoped key. The
    reason is required; it is in the audit event and in the email to the key's
    creator. Raises PermissionDenied, or ValidationError on ``reason``."""
    if not may_administer(actor, organization) or not acts_for(api_key, organization):
        raise PermissionDenied
    reason = " ".join((reason or "").split())
    if not reason:
        raise ValidationError({"reason": _("Say why the key is revoked; its creator is told.")})
    # The organization revoking its own key is its owner doing it; a member's key
    # is stopped by someone else, as a site administrator would.
    own = api_key.owner_id == organization.pk
    return api_key_revoke(
        api_key=api_key,
        actor=actor,
        request=request,
        source=RevocationSource.USER if own else RevocationSource.ADMIN,
        reason=reason,
        organization=organization,
    )


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
    _require_manager(api_key, actor)
    _record(EventKind.API_KEY_DELETED, api_key=api_key, actor=actor, request=request,
            details=_scope_details(api_key))  # fmt: skip
    # The email needs the key's name, owner and creator after the row is gone.
    snapshot = ApiKey(
        pk=api_key.pk,
        owner=api_key.owner,
        package_owner=api_key.package_owner,
        created_by=api_key.created_by,
        name=api_key.name,
        hint=api_key.hint,
    )
    api_key.delete()
    transaction.on_commit(lambda: emails.send_key_removed(snapshot))
