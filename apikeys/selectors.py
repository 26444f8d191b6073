from django.shortcuts import get_object_or_404

from apikeys.models import ApiKey


def api_key_list_for(owner) -> list[ApiKey]:
    """The owner's keys, newest first, in one query; short-lived keys are listed
    apart (``api_key_short_lived_for``)."""
    return list(
        ApiKey.objects.filter(owner=owner, policy__isnull=True)
        .select_related("owner")
        .order_by("-created_at", "-id")
    )


def api_key_short_lived_for(owner) -> list[ApiKey]:
    """The owner's live keys minted by trusted publishing, with their policies."""
    return list(
        ApiKey.objects.active()
        .filter(owner=owner, policy__isnull=False)
        .select_related("policy")
        .order_by("policy__created_at", "policy_id", "-created_at")
    )


def api_key_get_for(owner, pk) -> ApiKey:
    """The owner's key ``pk``; anyone else's key is a 404, never a 403. Short-lived
    keys are read-only: their policy is what changes them."""
    return get_object_or_404(
        ApiKey.objects.select_related("owner"), pk=pk, owner=owner, policy__isnull=True
    )
