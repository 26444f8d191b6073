from django.db.models import Prefetch
from django.db.models.functions import Lower

from packages.models import Package, PackageVersion


def package_names_owned_by(user) -> list[str]:
    """IDs of the user's packages, in display casing, sorted case-insensitively."""
    return list(
        Package.objects.filter(owners=user).order_by(Lower("name")).values_list("name", flat=True)
    )


def package_list_for(user) -> list[Package]:
    """The user's packages with their versions, newest push first, in two queries."""
    versions = PackageVersion.objects.order_by("-pushed_at", "-id")
    return list(
        Package.objects.filter(owners=user)
        .order_by(Lower("name"))
        .prefetch_related(Prefetch("versions", queryset=versions))
    )
