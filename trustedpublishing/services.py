"""Changing policies, and exchanging a CI token for a short-lived key.

Each service validates, and writes its audit event in the same transaction. A
minted key is an ``ApiKey`` row like any other (same format, digest storage and
key check), tied to its policy; editing, disabling or deleting the policy
revokes its live keys.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from allauth.account.utils import has_verified_email
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from accounts.services import may_publish_for
from apikeys import keys
from apikeys.models import ApiKey, RevocationSource
from apikeys.services import packages_owned_check
from audit.events import record
from audit.models import EventKind
from audit.ratelimit import Limiter
from trustedpublishing import conf, oidc, rules
from trustedpublishing.models import Policy, Provider, UsedToken

# The fields that name the CI identity: changing one forgets the recorded IDs.
_IDENTITY_FIELDS = ("provider", "subject_owner", "subject")
_RULE_FIELDS = ("provider", "subject_owner", "subject", "workflow", "ref", "environment")


def _policy_details(policy: Policy) -> dict:
    return {
        "policy_id": policy.pk,
        "name": policy.name,
        "package_owner": policy.account.get_username(),
        "provider": policy.provider,
        **{field: getattr(policy, field) for field in _RULE_FIELDS[1:]},
        "actions": list(policy.actions),
        "packages": list(policy.package_ids),
        "globs": list(policy.globs),
        "enabled": policy.enabled,
    }


def _revoke_live_keys(policy: Policy, actor, now) -> list[int]:
    live = ApiKey.objects.active(now).filter(policy=policy)
    revoked = list(live.values_list("pk", flat=True))
    live.filter(pk__in=revoked).update(
        revoked_at=now,
        revoked_by=actor if actor is not None and actor.is_authenticated else None,
        revocation_source=RevocationSource.POLICY,
        revocation_reason="trusted publishing policy changed",
    )
    return revoked


def _record(kind, *, policy: Policy, actor=None, request=None, api_key=None, details: dict):
    """The policy's event in its owner's history and, for a policy that acts for an
    organization, in the organization's too."""
    subjects = [policy.owner]
    if policy.package_owner_id:
        subjects.append(policy.package_owner)
    for subject in subjects:
        record(kind, actor=actor, subject_user=subject, api_key=api_key, request=request,
               details=details)  # fmt: skip


def _member_check(policy: Policy) -> None:
    """A policy acting for an organization changes only while its owner is a member."""
    if policy.package_owner_id and not may_publish_for(policy.owner, policy.package_owner):
        raise ValidationError(
            _("You are no longer a member of %(organization)s: this policy cannot be changed.")
            % {"organization": policy.package_owner.get_username()}
        )


@transaction.atomic
def policy_create(*, owner, actor, package_owner=None, request=None, **fields) -> Policy:
    """A new policy of the user ``owner``, acting for ``package_owner`` (the user
    or None, else an organization they may publish for, as with keys); ``fields``
    are the model's editable fields."""
    if not has_verified_email(owner):
        raise ValidationError(_("Confirm your email address before you add a policy."))
    if package_owner is not None and package_owner.pk == owner.pk:
        package_owner = None
    if package_owner is not None and not may_publish_for(owner, package_owner):
        raise ValidationError(
            {
                "package_owner": _("You may not publish for %(owner)s.")
                % {"owner": package_owner.get_username()}
            }
        )
    now = timezone.now()
    policy = Policy(
        owner=owner, package_owner=package_owner, created_at=now, updated_at=now, armed_at=now
    )
    _assign(policy, fields)
    policy.package_ids = packages_owned_check(policy.account, policy.package_ids)
    policy.full_clean()
    policy.save()
    _record(EventKind.TP_POLICY_CREATED, policy=policy, actor=actor, request=request,
            details=_policy_details(policy))  # fmt: skip
    return policy


def _assign(policy: Policy, fields: dict) -> None:
    for name in ("name", *_RULE_FIELDS):
        if name in fields:
            setattr(policy, name, (fields[name] or "").strip())
    if "actions" in fields:
        policy.actions = sorted(set(fields["actions"]))
    if "package_ids" in fields:
        policy.package_ids = list(fields["package_ids"])
    if "globs" in fields:
        policy.globs = list(fields["globs"])
    if policy.provider == Provider.GITHUB:
        policy.ref = ""
    else:
        policy.workflow = ""


@transaction.atomic
def policy_edit(*, policy: Policy, actor, request=None, **fields) -> Policy:
    """Change a policy; its live keys are revoked, and a new identity forgets the IDs.
    Its Package Owner stays, as a key's does."""
    _member_check(policy)
    before = _policy_details(policy)
    now = timezone.now()
    identity = [getattr(policy, f).casefold() for f in _IDENTITY_FIELDS]
    _assign(policy, fields)
    policy.package_ids = packages_owned_check(policy.account, policy.package_ids)
    # Only the fields a user edits: the IDs a concurrent first use records are
    # not overwritten with this copy's, unless the identity itself changed.
    fields_saved = ["name", *_RULE_FIELDS, "actions", "package_ids", "globs", "updated_at"]
    if [getattr(policy, f).casefold() for f in _IDENTITY_FIELDS] != identity:
        policy.subject_owner_id = policy.subject_id = ""
        policy.armed_at = now
        fields_saved += ["subject_owner_id", "subject_id", "armed_at"]
    policy.updated_at = now
    policy.full_clean()
    policy.save(update_fields=fields_saved)
    revoked = _revoke_live_keys(policy, actor, now)
    _record(
        EventKind.TP_POLICY_EDITED,
        policy=policy,
        actor=actor,
        request=request,
        details={"before": before, "after": _policy_details(policy), "revoked_keys": revoked},
    )
    return policy


@transaction.atomic
def policy_set_enabled(*, policy: Policy, enabled: bool, actor, request=None) -> Policy:
    """Enable or disable a policy; disabling revokes its live keys."""
    now = timezone.now()
    policy.enabled = enabled
    policy.updated_at = now
    policy.save(update_fields=["enabled", "updated_at"])
    revoked = [] if enabled else _revoke_live_keys(policy, actor, now)
    kind = EventKind.TP_POLICY_ENABLED if enabled else EventKind.TP_POLICY_DISABLED
    _record(
        kind,
        policy=policy,
        actor=actor,
        request=request,
        details={"policy_id": policy.pk, "name": policy.name, "revoked_keys": revoked},
    )
    return policy


@transaction.atomic
def policy_rearm(*, policy: Policy, actor, request=None) -> Policy:
    """Open a new window for the first use to record the IDs."""
    if policy.ids_locked:
        return policy
    policy.armed_at = timezone.now()
    policy.save(update_fields=["armed_at"])
    _record(
        EventKind.TP_POLICY_REARMED,
        policy=policy,
        actor=actor,
        request=request,
        details={
            "policy_id": policy.pk,
            "name": policy.name,
            "armed_until": policy.armed_until().isoformat(),
        },
    )
    return policy


@transaction.atomic
def policy_delete(*, policy: Policy, actor, request=None) -> None:
    """Remove a policy; its keys are revoked, then go with it."""
    revoked = _revoke_live_keys(policy, actor, timezone.now())
    _record(EventKind.TP_POLICY_DELETED, policy=policy, actor=actor, request=request,
            details={**_policy_details(policy), "revoked_keys": revoked})  # fmt: skip
    policy.delete()


# --- The exchange ---------------------------------------------------------------


class ExchangeRefused(Exception):
    """``status`` and ``message`` for the caller; ``code``, ``reason`` and
    ``details`` for the audit log (``exchange_refusal_record``)."""

    def __init__(self, status: int, message: str, code: str, reason: str = "", **details):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.reason = reason or message
        self.details = details


NO_MATCH = "No trusted publishing policy of this user matches the token."
OWNER_NOT_ALLOWED = "The policy's package owner may no longer publish."


@dataclass(frozen=True)
class MintedKey:
    api_key: ApiKey
    expires_at: datetime


def _limiter() -> Limiter:
    return Limiter("trustedpublishing:mint", conf.mint_limit(), conf.mint_window())


@sensitive_variables()
def token_exchange(*, token: str, username: str, audience: str, request=None):
    """Verify ``token``, find the user's first matching policy, mint its key.

    Returns ``(MintedKey, plaintext)``; raises ExchangeRefused (not yet audited).
    """
    try:
        verified = oidc.verify(token, audience=audience)
    except oidc.InvalidToken as invalid:
        raise ExchangeRefused(401, invalid.message, invalid.code, username=username) from None
    base = {
        "username": username,
        "issuer": verified.issuer,
        "provider": verified.provider,
        **rules.run_details(verified.provider, verified.claims),
    }
    user_model = get_user_model()
    owner = user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username}).first()
    if owner is None:
        raise ExchangeRefused(401, NO_MATCH, "unknown_user", **base)
    now = timezone.now()
    policies = Policy.objects.filter(owner=owner, provider=verified.provider).order_by(
        "created_at", "id"
    )
    found = None
    refusals = []
    for policy in policies:
        outcome = rules.match(policy, verified.claims, now)
        if outcome and policy.enabled:
            found = (policy, outcome)
            break
        if outcome:
            refusals.append((policy, "disabled", "the policy is disabled", True))
        else:
            refusals.append((policy, outcome.code, outcome.reason, outcome.names_matched))
    if found is None:
        _refuse_unmatched(refusals, base)
    policy, outcome = found
    details = {**base, "policy_id": policy.pk, "policy": policy.name}
    if not owner.is_active or not has_verified_email(owner):
        raise ExchangeRefused(403, OWNER_NOT_ALLOWED, "owner_not_allowed", **details)
    if policy.package_owner_id and not may_publish_for(owner, policy.package_owner):
        # The key would be refused at its first use; refuse it here, with the reason.
        raise ExchangeRefused(
            403,
            OWNER_NOT_ALLOWED,
            "owner_not_allowed",
            "the policy's owner is no longer a member of its package owner",
            package_owner=policy.package_owner.get_username(),
            **details,
        )
    if _limiter().hit(str(policy.pk)):
        raise ExchangeRefused(
            429, "Too many keys minted for this policy; try again later.", "rate_limited", **details
        )
    return _mint(policy, outcome, verified, details, now, request)


def _refuse_unmatched(refusals, base) -> None:
    # The caller proved control of a repository; where a policy names that very
    # repository, it may learn why that policy refused. Otherwise nothing about
    # which policies exist.
    for policy, code, reason, names_matched in refusals:
        if not names_matched:
            continue
        details = {**base, "policy_id": policy.pk, "policy": policy.name}
        if code == "disabled":
            raise ExchangeRefused(
                403, "The matching trusted publishing policy is disabled.", code, reason, **details
            )
        if code == "not_armed":
            raise ExchangeRefused(
                403,
                "The matching trusted publishing policy was not used within 7 days of its "
                "creation: re-arm it on the Trusted Publishing page.",
                code,
                reason,
                **details,
            )
    first = refusals[0] if refusals else None
    extra = {"policies": [{"policy_id": p.pk, "code": c, "reason": r} for p, c, r, _ in refusals]}
    raise ExchangeRefused(
        401, NO_MATCH, first[1] if first else "no_policy", NO_MATCH, **base, **extra
    )


@sensitive_variables()
@transaction.atomic
def _mint(policy, outcome, verified, details, now, request):
    claims = verified.claims
    # A token ID is kept only while its token could still be presented; the
    # index on expires_at makes this sweep cheap enough for every exchange.
    UsedToken.objects.filter(expires_at__lte=now).delete()
    try:
        with transaction.atomic():
            UsedToken.objects.create(
                issuer=verified.issuer,
                jti=str(claims["jti"])[:255],
                expires_at=datetime.fromtimestamp(int(claims["exp"]), tz=now.tzinfo)
                + timedelta(seconds=conf.leeway()),
            )
    except IntegrityError:
        raise ExchangeRefused(
            401, "This token has already been used.", "replayed", **details
        ) from None
    if outcome.locks_ids:
        # Conditional: of two first uses at once, one records the IDs and the
        # other must agree with them.
        locked = Policy.objects.filter(pk=policy.pk, subject_id="").update(
            subject_owner_id=outcome.subject_owner_id, subject_id=outcome.subject_id
        )
        policy.refresh_from_db()
        if not locked and (
            policy.subject_owner_id != outcome.subject_owner_id
            or policy.subject_id != outcome.subject_id
        ):
            raise ExchangeRefused(
                401, NO_MATCH, "ids", "IDs differ from the recorded ones", **details
            )
    Policy.objects.filter(pk=policy.pk).update(last_used_at=now)
    expires_at = now + timedelta(minutes=conf.key_minutes())
    plaintext = keys.generate(short_lived=True)
    api_key = ApiKey(
        owner=policy.owner,
        package_owner=policy.package_owner,
        created_by=policy.owner,
        policy=policy,
        name=policy.name,
        digest=keys.digests(plaintext)[0],
        hint=keys.hint(plaintext),
        actions=list(policy.actions),
        package_ids=list(policy.package_ids),
        globs=list(policy.globs),
        created_at=now,
        expires_at=expires_at,
        expiration_days=1,
    )
    api_key.full_clean()
    api_key.save()
    _record(
        EventKind.TP_KEY_MINTED,
        policy=policy,
        api_key=api_key,
        request=request,
        details={
            **details,
            "expires_at": expires_at.isoformat(),
            "ids_recorded": outcome.locks_ids,
        },
    )
    return MintedKey(api_key, expires_at), plaintext


def exchange_refusal_record(refused: ExchangeRefused, *, request=None, **extra) -> None:
    """The audit event of a refused exchange: the reason, never the token."""
    record(
        EventKind.TP_EXCHANGE_REFUSED,
        request=request,
        details={
            "code": refused.code,
            "reason": refused.reason,
            "status": refused.status,
            **refused.details,
            **extra,
        },
    )
