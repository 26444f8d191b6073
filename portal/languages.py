"""The user's language: chosen in the footer, remembered in a cookie and on the user.

Pages follow Django's LocaleMiddleware (the language cookie, else the browser's
Accept-Language, else LANGUAGE_CODE). Emails have no browser to ask, so the
language a signed-in user last chose is stored on them (``UserPreference``).
"""

from allauth.account.models import EmailAddress
from django.conf import settings
from django.utils import translation
from django.views import i18n
from django.views.decorators.http import require_POST

from portal.models import UserPreference


def supported(code: str | None) -> str | None:
    """``code`` as one of LANGUAGES (``it-IT`` -> ``it``), or None."""
    if not code:
        return None
    try:
        return translation.get_supported_language_variant(code)
    except LookupError:
        return None


def remember(user, code: str | None) -> None:
    """Store ``code`` as ``user``'s language, if it is one the site speaks."""
    language = supported(code)
    if language is None or not getattr(user, "is_authenticated", False):
        return
    UserPreference.objects.update_or_create(user=user, defaults={"language": language})


def language_of(user) -> str | None:
    """The language ``user`` chose last, or None when they never chose one."""
    preference = getattr(user, "preference", None) if user is not None else None
    return supported(preference.language) if preference is not None else None


def language_for_email(address: str, user=None) -> str:
    """The language to write to ``address`` in: its user's, else the active one."""
    if user is None and address:
        found = EmailAddress.objects.filter(email__iexact=address).select_related("user").first()
        user = found.user if found is not None else None
    return language_of(user) or translation.get_language() or settings.LANGUAGE_CODE


def set_cookie(response, language: str) -> None:
    """Set Django's language cookie, with the attributes ``set_language`` uses."""
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )


@require_POST
def set_language(request):
    """Django's ``set_language`` (cookie, safe ``next``), and for a signed-in user, storage."""
    response = i18n.set_language(request)
    if request.user.is_authenticated:
        remember(request.user, request.POST.get(i18n.LANGUAGE_QUERY_PARAMETER))
    return response
