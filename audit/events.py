"""``record()``: the one way to write an audit event; ``package_refusal_record()``
for the refusals that several layers write."""

from allauth.account.adapter import get_adapter
from django.core.exceptions import PermissionDenied

from audit.models import Event, EventKind

# Real clients' user agents fit in well under 256 characters; anything longer is
# padding a stranger chose, and every refused request stores it.
USER_AGENT_MAX = 256


def client_ip(request) -> str | None:
    """The client's address, by allauth's rules (which honour TRUSTED_PROXY_COUNT)."""
    try:
        return get_adapter().get_client_ip(request)
    except PermissionDenied:
        return None


def record(
    kind: EventKind,
    *,
    actor=None,
    subject_user=None,
    api_key=None,
    package_id: str = "",
    package_version: str = "",
    request=None,
    details: dict | None = None,
) -> Event:
    """Write one event. Call it inside the transaction of the change it records.

    ``api_key`` is anything with ``pk`` and ``hint`` (a key model or an
    authenticated key); only those two are kept, never a secret.
    """
    if actor is not None and not actor.is_authenticated:
        actor = None
    return Event.objects.create(
        kind=kind,
        actor=actor,
        actor_username=actor.get_username() if actor is not None else "",
        subject_user=subject_user,
        api_key_id=api_key.pk if api_key is not None else None,
        api_key_hint=api_key.hint if api_key is not None else "",
        package_id=package_id,
        package_version=package_version,
        ip=client_ip(request) if request is not None else None,
        user_agent=(request.headers.get("User-Agent", "") if request else "")[:USER_AGENT_MAX],
        details=details or {},
    )


def package_refusal_record(
    *,
    actor,
    action: str,
    code: str,
    reason: str,
    api_key=None,
    package_id: str = "",
    version: str = "",
    request=None,
) -> Event:
    """The one writer of ``package:refused`` events: ``actor`` was turned away from
    ``action`` (``push``, ``unlist``, ``read``, ``upload``...) on a package, with
    ``api_key`` (anything with ``pk`` and ``hint``) when a key was used. ``code``
    and ``reason`` say why, for the audit log only. The protocol layer (a key's
    grant) and the web Upload (ownership, an existing version) both call it.
    """
    return record(
        EventKind.PACKAGE_REFUSED,
        actor=actor,
        subject_user=actor,
        api_key=api_key,
        package_id=package_id,
        package_version=version,
        request=request,
        details={"action": action, "code": code, "reason": reason},
    )
