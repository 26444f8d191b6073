"""Package ID rules: the one place that knows what a NuGet package ID may be."""

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

MAX_LENGTH = 100
# NuGet's own rule, over ASCII: runs of letters, digits and "_" joined by single "." or "-".
_ID = re.compile(r"[A-Za-z0-9_]+(?:[.-][A-Za-z0-9_]+)*\Z")


def is_valid(package_id: str) -> bool:
    return (
        isinstance(package_id, str)
        and 0 < len(package_id) <= MAX_LENGTH
        and _ID.match(package_id) is not None
    )


def validate(package_id: str) -> None:
    if not is_valid(package_id):
        raise ValidationError(
            _(
                "A package ID is at most %(max)d letters, digits and underscores, "
                "in runs joined by single dots or dashes."
            ),
            code="invalid_package_id",
            params={"max": MAX_LENGTH},
        )
