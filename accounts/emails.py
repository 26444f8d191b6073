"""Emails to people, each in the language its recipient reads."""

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation


def recipient_language(user) -> str:
    """The language ``user`` reads: the one they chose last, else the active one.

    The choice is portal's ``UserPreference``, read through its reverse accessor
    so that the apps below portal do not import it.
    """
    preference = getattr(user, "preference", None)
    language = getattr(preference, "language", None)
    if language:
        try:
            return translation.get_supported_language_variant(language)
        except LookupError:
            pass
    return translation.get_language() or settings.LANGUAGE_CODE


def site_url(path: str) -> str:
    """``path`` as an absolute link when SITE_URL is set, else as it is."""
    return f"{settings.SITE_URL}{path}" if settings.SITE_URL else path


def send_to(user, template: str, context: dict) -> None:
    """Render ``<template>_subject.txt`` and ``_message.txt`` in ``user``'s language
    and mail them to ``user``'s address; nothing for an account without one."""
    if not user.email:
        return
    context = {"recipient": user, "site_name": settings.SITE_NAME, **context}
    with translation.override(recipient_language(user)):
        subject = render_to_string(f"{template}_subject.txt", context)
        body = render_to_string(f"{template}_message.txt", context)
    send_mail(
        f"[{settings.SITE_NAME}] {' '.join(subject.split())}",
        body,
        settings.DEFAULT_FROM_EMAIL,
        [user.email],
    )


def send_invitation(invitation) -> None:
    send_to(
        invitation.user,
        "accounts/email/invitation",
        {
            "invitation": invitation,
            "organization": invitation.organization.name,
            "inviter": invitation.invited_by.get_username() if invitation.invited_by else "",
            "url": site_url(reverse("accounts:invitation", args=[invitation.pk])),
        },
    )
