"""Reading policies."""

from django.db.models import Count, Q
from django.shortcuts import get_object_or_404
from django.utils import timezone

from trustedpublishing.models import Policy


def policy_list_for(owner) -> list[Policy]:
    """The owner's policies, oldest first (the order they are tried in), each with
    ``live_keys``, the number of its keys that still work; one query."""
    live = Q(api_keys__revoked_at__isnull=True, api_keys__expires_at__gt=timezone.now())
    return list(
        Policy.objects.filter(owner=owner)
        .select_related("owner", "package_owner")
        .annotate(live_keys=Count("api_keys", filter=live))
        .order_by("created_at", "id")
    )


def policy_get_for(owner, pk) -> Policy:
    """The owner's policy ``pk``; anyone else's is a 404."""
    return get_object_or_404(
        Policy.objects.select_related("owner", "package_owner"), pk=pk, owner=owner
    )
