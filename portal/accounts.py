"""Account rules of the site shell."""

from allauth.account.models import EmailAddress

from accounts.names import NAME_VALIDATORS

# Users and organizations share one namespace and one set of name rules.
USERNAME_VALIDATORS = NAME_VALIDATORS


def unconfirmed_primary_email(user) -> EmailAddress | None:
    """The address to confirm, for a signed-in user who has confirmed none."""
    if not user.is_authenticated:
        return None
    addresses = list(EmailAddress.objects.filter(user=user).order_by("-primary", "pk"))
    if any(a.verified for a in addresses) or not addresses:
        return None
    return addresses[0]
