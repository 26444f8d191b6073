"""Account names: user names and organization names share one namespace."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

# Names appear in URLs and as package owners, like nuget.org's: letters, digits,
# and single dots, dashes or underscores between them.
NAME_VALIDATORS = [
    RegexValidator(
        r"^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*\Z",
        gettext_lazy(
            "Use letters, digits, and single dots, dashes or underscores between them; "
            "start and end with a letter or digit."
        ),
        code="invalid_username",
    ),
]


def name_check(name: str) -> str:
    """``name`` if it may name a new account (user or organization), else ValidationError.

    The same rules as sign-up: format, length, reserved names, and no existing
    account of either kind with that name in any casing. The database's unique
    index on the lower-cased name settles a race between two creations.
    """
    for validator in NAME_VALIDATORS:
        validator(name)
    min_length = getattr(settings, "ACCOUNT_USERNAME_MIN_LENGTH", 1)
    max_length = get_user_model()._meta.get_field("username").max_length
    if not min_length <= len(name) <= max_length:
        raise ValidationError(
            _("Use between %(min)d and %(max)d characters.")
            % {"min": min_length, "max": max_length},
            code="length",
        )
    reserved = {n.lower() for n in getattr(settings, "ACCOUNT_USERNAME_BLACKLIST", [])}
    if name.lower() in reserved or get_user_model().objects.filter(username__iexact=name).exists():
        raise ValidationError(_("This name is already taken."), code="taken")
    return name
