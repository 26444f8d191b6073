"""The emails nuget.org sends about keys: added, removed, revoked. Never the value."""

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import translation

from accounts.emails import recipient_language


def _send(template: str, api_key, **context) -> None:
    owner = api_key.owner
    if not owner.email:
        return
    context = {
        "api_key": api_key,
        "owner": owner,
        "site_name": settings.SITE_NAME,
        "keys_url": f"{settings.SITE_URL}/account/apikeys" if settings.SITE_URL else "",
        **context,
    }
    with translation.override(recipient_language(owner)):
        subject = render_to_string(f"apikeys/email/{template}_subject.txt", context)
        body = render_to_string(f"apikeys/email/{template}_message.txt", context)
    send_mail(
        f"[{settings.SITE_NAME}] {' '.join(subject.split())}",
        body,
        settings.DEFAULT_FROM_EMAIL,
        [owner.email],
    )


def send_key_added(api_key, *, regenerated: bool = False) -> None:
    _send("key_added", api_key, regenerated=regenerated)


def send_key_removed(api_key) -> None:
    _send("key_removed", api_key)


def send_key_revoked(api_key, *, leak_url: str = "") -> None:
    _send("key_revoked", api_key, leak_url=leak_url)
