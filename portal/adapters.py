"""allauth glue: the site's name in emails, and each email in its recipient's language."""

from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from portal import languages

# Where sign-up was headed (its returnUrl): sign-up signs nobody in, so the
# sign-in after confirming the address goes there instead.
SIGNUP_TARGET_SESSION_KEY = "portal_signup_target"


@dataclass(frozen=True)
class SiteIdentity:
    """What allauth's email templates read as ``current_site``."""

    name: str
    domain: str


class AccountAdapter(DefaultAccountAdapter):
    def _site(self) -> SiteIdentity:
        domain = urlsplit(settings.SITE_URL).netloc if settings.SITE_URL else ""
        if not domain and self.request is not None:
            domain = self.request.get_host()
        return SiteIdentity(name=settings.SITE_NAME, domain=domain)

    def format_email_subject(self, subject: str) -> str:
        return f"[{settings.SITE_NAME}] {subject}"

    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        # Subject and body are rendered inside: the recipient reads their own
        # language, not that of whoever's request sent the mail (an administrator).
        user = context.get("user")
        language = languages.language_for_email(
            email, user if getattr(user, "pk", None) is not None else None
        )
        with translation.override(language):
            super().send_mail(template_prefix, email, {"current_site": self._site(), **context})

    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            # Sign-up: the language the form was shown in is the one they read.
            languages.remember(user, translation.get_language())
        return user

    def post_login(self, request, user, **kwargs):
        response = super().post_login(request, user, **kwargs)
        # A language chosen on another browser follows the user here.
        language = languages.language_of(user)
        if language is not None and hasattr(response, "set_cookie"):
            languages.set_cookie(response, language)
        return response

    def get_email_verification_redirect_url(self, email_address) -> str:
        url = super().get_email_verification_redirect_url(email_address)
        target = self.request.session.pop(SIGNUP_TARGET_SESSION_KEY, None)
        if target and not self.request.user.is_authenticated:
            # Set by the register view from allauth's checked "next": a local path.
            url = f"{reverse('account_login')}?{urlencode({'returnUrl': target})}"
        return url
