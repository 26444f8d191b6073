"""The publish protocol's decisions: whose key it is, what it may do, and the audit of
every refusal.

Here the key, the package and its owners are all in hand, so this layer decides
(the key's grant, given whether the package exists and whether the key's owner
owns it) and records each refusal with its reason. The registry's services below
(``packages.services``) take plain values and know nothing of keys.
"""

from django.views.decorators.debug import sensitive_variables

from apikeys.authentication import Failure, check
from apikeys.scopes import Action
from audit import metrics
from audit.events import client_ip, package_refusal_record, record
from audit.models import EventKind
from feed import ratelimit, uploads
from packages import conf as packages_conf
from packages import nupkg
from packages import services as registry

# Room for the multipart framing around the package in a declared Content-Length.
_FRAMING = 64 * 1024


class KeyMissing(Exception):
    pass


class KeyRefused(Exception):
    """Invalid, expired, revoked or its owner deactivated: the reason is in the audit log."""


class TooManyFailures(Exception):
    def __init__(self, retry_after: int):
        super().__init__(retry_after)
        self.retry_after = retry_after


class Refused(Exception):
    """The key may not do this; ``code`` and ``reason`` are for the audit log only."""

    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


@sensitive_variables()
def key_check(raw_key: str, *, request):
    """The usable key ``raw_key`` names; raises KeyMissing, KeyRefused or TooManyFailures."""
    if not raw_key:
        raise KeyMissing
    # A valid key goes straight through: the limit concerns failures only, so it
    # is not even looked up (with Redis, a round trip saved on every push).
    outcome = check(raw_key)
    if outcome.key is not None:
        metrics.key_checked(outcome, request=request)
        return outcome.key
    ip = client_ip(request)
    wait = ratelimit.retry_after(ip)
    if wait:
        # Over the limit: the window's count is already past it, and of the
        # failures from here on only the first well-formed one is audited. One
        # row each would let a flood of made-up keys fill the audit log.
        if outcome.failure != Failure.MALFORMED and ratelimit.first_over_limit(ip):
            _record_key_failure(outcome, request, rate_limited=True)
        metrics.key_checked(outcome, request=request, rate_limited=True)
        raise TooManyFailures(wait)
    _record_key_failure(outcome, request)
    metrics.key_checked(outcome, request=request)
    raise KeyRefused


def _record_key_failure(outcome, request, **details) -> None:
    record(
        EventKind.API_KEY_AUTH_FAILED,
        request=request,
        details={
            "failure": str(outcome.failure),
            "key_id": outcome.key_id,
            "hint": outcome.hint,
            **details,
        },
    )


def refusal_record(
    *, api_key, action: str, code: str, reason: str, package_id="", version="", request=None
) -> None:
    """A key was used and turned away: its owner is the actor."""
    package_refusal_record(actor=api_key.owner, api_key=api_key, action=action, code=code,
                           reason=reason, package_id=package_id, version=version,
                           request=request)  # fmt: skip


@metrics.push_counted
def package_push(*, api_key, request) -> registry.PackageVersion:
    """Receive the pushed .nupkg, read it, decide, store it.

    Raises, each refusal audited first: uploads.LengthRequired, uploads.TooLarge,
    uploads.BadUpload, nupkg.InvalidPackage, Refused, registry.VersionExists.
    """

    def refuse(code, reason, package_id="", version=""):
        refusal_record(api_key=api_key, action="push", code=code, reason=reason,
                       package_id=package_id, version=version, request=request)  # fmt: skip

    max_size = packages_conf.max_package_size()
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.isdigit() and int(declared) > max_size + _FRAMING:
        refuse("too_large", "declared length over the limit")
        raise uploads.TooLarge
    try:
        upload = uploads.receive(request, max_size)
    except uploads.TooLarge:
        refuse("too_large", "body over the limit")
        raise
    except uploads.BadUpload as bad:
        refuse(bad.code, bad.reason)
        raise
    with upload.file:
        try:
            metadata = nupkg.read(upload.file)
        except nupkg.InvalidPackage as invalid:
            refuse(invalid.code, str(invalid.reason))
            raise
        package_id, version = metadata.id, metadata.version.normalized
        try:
            return _push(api_key, upload, metadata, request)
        except Refused as refused:
            refuse(refused.code, refused.reason, package_id, version)
            raise
        except registry.VersionExists:
            refuse("exists", "version exists", package_id, version)
            raise


def _push(api_key, upload, metadata, request):
    package = registry.package_find(metadata.id)
    _authorize(api_key, Action.PUSH, metadata.id, package)
    pushed_by = {
        "actor": api_key.owner,
        # A new ID belongs to the account the key acts for: an organization-scoped
        # key's organization, else the key's owner.
        "owner": api_key.account,
        "api_key_id": api_key.pk,
        "api_key_hint": api_key.hint,
        "request": request,
    }
    try:
        return registry.package_push(package=package, upload=upload, metadata=metadata, **pushed_by)
    except registry.PackageTaken:
        # Another push created the ID a moment ago: decide again, for the package
        # as it now is, and add the version to it if the key may.
        package = registry.package_find(metadata.id)
        _authorize(api_key, Action.PUSH, metadata.id, package)
        return registry.package_push(package=package, upload=upload, metadata=metadata, **pushed_by)


def _authorize(api_key, action: Action, package_id: str, package) -> None:
    exists = package is not None
    decision = api_key.grant.allows(
        action,
        package_id,
        package_exists=exists,
        owner_owns_package=exists and registry.package_owned_by(package, api_key.account_id),
    )
    if not decision:
        metrics.key_refused()
        raise Refused(decision.code, decision.reason)


def package_set_listed(
    *, api_key, package_id: str, version: str, listed: bool, request=None
) -> registry.PackageVersion:
    """Unlist (``listed=False``) or relist a version. Raises registry.NotFound or Refused."""
    found = registry.version_find(package_id, version)
    if found is None:
        raise registry.NotFound
    package = found.package
    try:
        _authorize(api_key, Action.UNLIST, package.name, package)
    except Refused as refused:
        refusal_record(api_key=api_key, action="relist" if listed else "unlist",
                       code=refused.code, reason=refused.reason, package_id=package.name,
                       version=found.normalized_version, request=request)  # fmt: skip
        raise
    return registry.package_set_listed(
        version=found,
        listed=listed,
        actor=api_key.owner,
        api_key_id=api_key.pk,
        api_key_hint=api_key.hint,
        request=request,
    )
