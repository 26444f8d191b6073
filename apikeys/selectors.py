from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.models import Membership
from accounts.services import accounts_for, may_administer
from apikeys.models import ApiKey
from packages.selectors import package_names_owned_by

# What a key's row shows: its owner, the organization it acts for, who made it.
_ROW = ("owner", "package_owner", "created_by")


def api_key_list_for(owner) -> list[ApiKey]:
    """The owner's keys, newest first, in one query; short-lived keys are listed
    apart (``api_key_short_lived_for``)."""
    return list(
        ApiKey.objects.filter(owner=owner, policy__isnull=True)
        .select_related(*_ROW)
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
        ApiKey.objects.select_related(*_ROW), pk=pk, owner=owner, policy__isnull=True
    )


def package_owners_for(user) -> list[tuple]:
    """The Package Owner choices of ``user``'s keys and policies: ``(account,
    package IDs)`` for the user, then each organization they may publish for."""
    return [(account, package_names_owned_by(account)) for account in accounts_for(user)]


# --- An organization's keys ------------------------------------------------------


def organization_for_administrator(name: str, user):
    """The account of the organization ``name`` when ``user`` administers it; a 404
    for anyone else (collaborators included), as for a page that is not there."""
    account = (
        get_user_model()
        .objects.select_related("organization")
        .filter(username__iexact=name, organization__isnull=False)
        .first()
    )
    if account is None or not may_administer(user, account):
        raise Http404
    return account


def organization_key_get(organization, pk) -> ApiKey:
    """The organization's own key ``pk`` (``organization`` is its account); 404 otherwise."""
    return get_object_or_404(
        ApiKey.objects.select_related(*_ROW), pk=pk, owner=organization, policy__isnull=True
    )


def _acting_for(organization):
    return ApiKey.objects.filter(Q(owner=organization) | Q(package_owner=organization))


def api_key_acting_for_get(organization, pk) -> ApiKey:
    """A key ``pk`` that acts for the organization: its own, or a member's scoped to it."""
    return get_object_or_404(_acting_for(organization).select_related(*_ROW), pk=pk)


def api_key_oversight_for(organization, now=None) -> list[ApiKey]:
    """Every key that acts for the organization, newest first, in one query: its
    own keys and its members' organization-scoped keys (short-lived ones while they
    live), each with ``owner_is_member``: False for a key of someone who has left,
    which no longer works."""
    now = now or timezone.now()
    member = Membership.objects.filter(
        organization_id=organization.pk, user_id=OuterRef("owner_id")
    )
    return list(
        _acting_for(organization)
        .filter(Q(policy__isnull=True) | Q(revoked_at__isnull=True, expires_at__gt=now))
        .annotate(owner_is_member=Exists(member))
        .select_related(*_ROW, "policy")
        .order_by("-created_at", "-id")
    )
