from django.conf import settings

from portal.accounts import unconfirmed_primary_email


def site(request):
    """Site name for the header, and the address to confirm for the banner."""
    user = getattr(request, "user", None)
    return {
        "SITE_NAME": settings.SITE_NAME,
        "unconfirmed_email": unconfirmed_primary_email(user) if user is not None else None,
    }
