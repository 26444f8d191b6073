"""Account rules of the site shell."""

from allauth.account.models import EmailAddress
from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy as _

# Usernames appear in URLs and as package owners, like nuget.org's: letters,
# digits, and single dots, dashes or underscores between them.
USERNAME_VALIDATORS = [
    RegexValidator(
        r"^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*\Z",
        _(
            "Use letters, digits, and single dots, dashes or underscores between them; "
            "start and end with a letter or digit."
        ),
        code="invalid_username",
    ),
]


def unconfirmed_primary_email(user) -> EmailAddress | None:
    """The address to confirm, for a signed-in user who has confirmed none."""
    if not user.is_authenticated:
        return None
    addresses = list(EmailAddress.objects.filter(user=user).order_by("-primary", "pk"))
    if any(a.verified for a in addresses) or not addresses:
        return None
    return addresses[0]
