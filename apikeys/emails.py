"""The emails nuget.org sends about keys: added, removed, revoked. Never the value.

They go to the key's creator: the user for their own keys and their
organization-scoped keys, the administrator who made it for an organization's
key (an organization's account has no email address).
"""

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from accounts.emails import recipient_language, site_url
from accounts.services import organization_of


def keys_url(account) -> str:
    """Where ``account``'s keys are managed, as an absolute link when SITE_URL is
    set: the user's API Keys page, or the organization's."""
    if organization_of(account) is not None:
        path = reverse("apikeys:organization_keys", args=[account.get_username()])
    else:
        path = reverse("apikeys:list")
    return site_url(path) if settings.SITE_URL else ""


def _send(template: str, api_key, **context) -> None:
    recipient = api_key.creator
    if recipient is None or not recipient.email:
        return
    owner = api_key.owner
    account = api_key.package_owner if api_key.package_owner_id else owner
    context = {
        "api_key": api_key,
        "owner": recipient,
        # The organization the key belongs to or acts for, if any.
        "organization": account.get_username() if organization_of(account) else "",
        "organization_key": account.pk == owner.pk and organization_of(owner) is not None,
        "site_name": settings.SITE_NAME,
        "keys_url": keys_url(owner),
        **context,
    }
    with translation.override(recipient_language(recipient)):
        subject = render_to_string(f"apikeys/email/{template}_subject.txt", context)
        body = render_to_string(f"apikeys/email/{template}_message.txt", context)
    send_mail(
        f"[{settings.SITE_NAME}] {' '.join(subject.split())}",
        body,
        settings.DEFAULT_FROM_EMAIL,
        [recipient.email],
    )


def send_key_added(api_key, *, regenerated: bool = False) -> None:
    _send("key_added", api_key, regenerated=regenerated)


def send_key_removed(api_key) -> None:
    _send("key_removed", api_key)


def send_key_revoked(api_key, *, leak_url: str = "", organization=None) -> None:
    # ``organization``: the organization whose administrator revoked it, if one did.
    _send(
        "key_revoked",
        api_key,
        leak_url=leak_url,
        revoked_by_organization=organization.get_username() if organization is not None else "",
    )
