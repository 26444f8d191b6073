from django.shortcuts import get_object_or_404

from apikeys.models import ApiKey


def api_key_list_for(owner) -> list[ApiKey]:
    """The owner's keys, newest first, in one query."""
    return list(
        ApiKey.objects.filter(owner=owner).select_related("owner").order_by("-created_at", "-id")
    )


def api_key_get_for(owner, pk) -> ApiKey:
    """The owner's key ``pk``; anyone else's key is a 404, never a 403."""
    return get_object_or_404(ApiKey.objects.select_related("owner"), pk=pk, owner=owner)
