"""Authenticating a presented key: outcomes, query counts, last use, pepper rotation."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apikeys import keys
from apikeys.authentication import (
    LAST_USED_INTERVAL,
    AuthenticatedKey,
    Failure,
    authenticate,
    check,
)
from apikeys.models import ApiKey
from apikeys.scopes import Action, Denied, Grant
from apikeys.services import api_key_revoke
from packages.models import Package

PUSH = Action.PUSH.value
PUSH_VERSION = Action.PUSH_VERSION.value
UNLIST = Action.UNLIST.value


def last_used(api_key) -> object:
    return ApiKey.objects.values_list("last_used_at", flat=True).get(pk=api_key.pk)


# --- outcomes ------------------------------------------------------------------


def test_a_valid_key_authenticates_with_its_grant(user, make_package, make_key):
    make_package("Contoso.Lib", user)
    api_key, plaintext = make_key(
        user, actions=[PUSH, UNLIST], package_ids=["Contoso.Lib"], globs=["Fabrikam.*"]
    )

    outcome = check(plaintext)

    assert outcome.failure is None
    authenticated = outcome.key
    assert isinstance(authenticated, AuthenticatedKey)
    assert authenticated.pk == api_key.pk
    assert authenticated.owner_id == user.pk
    assert authenticated.hint == api_key.hint
    assert timezone.is_aware(authenticated.expires_at)
    assert authenticated.expires_at == api_key.expires_at
    assert authenticated.grant == Grant(
        actions=frozenset({PUSH, UNLIST}),
        package_ids=frozenset({"contoso.lib"}),
        globs=("Fabrikam.*",),
    )
    assert authenticate(plaintext) == authenticated


def test_the_grant_is_read_back_whatever_its_stored_json_holds(user, make_key):
    # Brackets, commas, quotes and backslashes stored in the JSON columns read back whole.
    api_key, plaintext = make_key(user)
    odd = ['a"],["b', "c\\,d", "[]", "é,ü"]
    ApiKey.objects.filter(pk=api_key.pk).update(package_ids=odd, globs=list(reversed(odd)))

    grant = authenticate(plaintext).grant

    assert grant.package_ids == frozenset(package_id.lower() for package_id in odd)
    assert grant.globs == tuple(reversed(odd))
    assert grant.actions == frozenset({PUSH})


MALFORMED = {
    "None": lambda value: None,
    "bytes": lambda value: value.encode(),
    "number": lambda value: 42,
    "empty": lambda value: "",
    "prefix only": lambda value: "ngk_",
    "truncated": lambda value: value[:-1],
    "one character more": lambda value: value + "A",
    "leading space": lambda value: " " + value,
    "trailing newline": lambda value: value + "\n",
    "other prefix": lambda value: "gh" + value[2:],
    "typo": lambda value: value[:10] + ("B" if value[10] != "B" else "C") + value[11:],
    "bearer header": lambda value: "Bearer " + value,
}


@pytest.mark.parametrize("mangle", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_key_fails_without_a_query(user, make_key, mangle, django_assert_num_queries):
    _, plaintext = make_key(user)
    presented = mangle(plaintext)

    with django_assert_num_queries(0):
        outcome = check(presented)

    assert outcome.key is None
    assert outcome.failure is Failure.MALFORMED
    assert outcome.key_id is None


def test_a_well_formed_unknown_key_costs_one_query(user, make_key, django_assert_num_queries):
    make_key(user)

    with django_assert_num_queries(1):
        outcome = check(keys.generate())

    assert (outcome.key, outcome.failure, outcome.key_id) == (None, Failure.UNKNOWN, None)


def test_an_expired_key_is_refused_and_named(user, make_key):
    api_key, plaintext = make_key(user)
    ApiKey.objects.filter(pk=api_key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    outcome = check(plaintext)

    assert outcome.key is None
    assert outcome.failure is Failure.EXPIRED
    assert (outcome.key_id, outcome.hint) == (api_key.pk, api_key.hint)
    assert authenticate(plaintext) is None
    assert last_used(api_key) is None


def test_a_revoked_key_is_refused_and_named(user, make_key):
    api_key, plaintext = make_key(user)
    api_key_revoke(api_key=api_key, actor=user)

    outcome = check(plaintext)

    assert outcome.key is None
    assert outcome.failure is Failure.REVOKED
    assert (outcome.key_id, outcome.hint) == (api_key.pk, api_key.hint)
    assert authenticate(plaintext) is None


def test_revocation_is_reported_before_expiry(user, make_key):
    api_key, plaintext = make_key(user)
    api_key_revoke(api_key=api_key, actor=user)
    ApiKey.objects.filter(pk=api_key.pk).update(expires_at=timezone.now() - timedelta(days=1))

    assert check(plaintext).failure is Failure.REVOKED


# --- last use ------------------------------------------------------------------


def test_last_use_is_written_at_most_once_per_interval(
    user, make_key, django_assert_max_num_queries, django_assert_num_queries
):
    api_key, plaintext = make_key(user)

    before = timezone.now()
    with django_assert_max_num_queries(2):
        assert authenticate(plaintext) is not None
    first_use = last_used(api_key)
    assert first_use is not None
    assert before <= first_use <= timezone.now()

    # Within the interval: the lookup only, and last use stays as it was.
    with django_assert_num_queries(1):
        assert authenticate(plaintext) is not None
    assert last_used(api_key) == first_use

    # Once the interval has passed, the next use is written again.
    moved_back = first_use - LAST_USED_INTERVAL - timedelta(seconds=1)
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=moved_back)
    with django_assert_num_queries(2):
        assert authenticate(plaintext) is not None
    assert last_used(api_key) > first_use


def test_refused_keys_are_not_marked_used(user, make_key):
    api_key, plaintext = make_key(user)
    api_key_revoke(api_key=api_key, actor=user)

    authenticate(plaintext)

    assert last_used(api_key) is None


# --- pepper rotation -----------------------------------------------------------


def test_a_key_survives_a_pepper_rotation_and_moves_to_the_new_pepper(user, make_key, settings):
    settings.APIKEYS_PEPPER = "old"
    api_key, plaintext = make_key(user)
    assert api_key.digest == keys.digest(plaintext, b"old")

    settings.APIKEYS_PEPPER = "new"
    settings.APIKEYS_PEPPER_FALLBACKS = ["old"]
    assert authenticate(plaintext).pk == api_key.pk
    api_key.refresh_from_db()
    assert api_key.digest == keys.digest(plaintext, b"new")

    # Rewritten, so it no longer needs the old pepper.
    del settings.APIKEYS_PEPPER_FALLBACKS
    assert authenticate(plaintext).pk == api_key.pk


def test_a_changed_pepper_without_a_fallback_stops_every_key(user, make_key, settings):
    settings.APIKEYS_PEPPER = "old"
    api_key, plaintext = make_key(user)

    settings.APIKEYS_PEPPER = "new"

    assert authenticate(plaintext) is None
    assert check(plaintext).failure is Failure.UNKNOWN
    api_key.refresh_from_db()
    assert api_key.digest == keys.digest(plaintext, b"old")


def test_the_default_pepper_rotates_with_secret_key_fallbacks(user, make_key, settings):
    old_secret = settings.SECRET_KEY
    api_key, plaintext = make_key(user)

    settings.SECRET_KEY = "a-new-secret-key-" + "x" * 40
    settings.SECRET_KEY_FALLBACKS = [old_secret]
    assert authenticate(plaintext).pk == api_key.pk

    settings.SECRET_KEY_FALLBACKS = []
    assert authenticate(plaintext).pk == api_key.pk


def test_an_expired_key_under_a_retired_pepper_keeps_its_digest(user, make_key, settings):
    settings.APIKEYS_PEPPER = "old"
    api_key, plaintext = make_key(user)
    ApiKey.objects.filter(pk=api_key.pk).update(expires_at=timezone.now() - timedelta(days=1))

    settings.APIKEYS_PEPPER = "new"
    settings.APIKEYS_PEPPER_FALLBACKS = ["old"]

    assert check(plaintext).failure is Failure.EXPIRED
    api_key.refresh_from_db()
    assert api_key.digest == keys.digest(plaintext, b"old")


# --- what an authenticated key may do ------------------------------------------


def owns(owner_id: int, package_id: str) -> bool:
    return Package.objects.filter(name__iexact=package_id, owners=owner_id).exists()


def test_a_glob_push_key_may_push_new_ids_that_match(user, make_key):
    _, plaintext = make_key(user, globs=["Contoso.*"])
    grant = authenticate(plaintext).grant

    assert grant.allows(Action.PUSH, "contoso.Logging", package_exists=False)
    refused = grant.allows(Action.PUSH, "Fabrikam.Logging", package_exists=False)
    assert refused.code == Denied.PACKAGE
    assert grant.allows(Action.UNLIST, "Contoso.Logging", package_exists=True).code == (
        Denied.SCOPE
    )


def test_a_pushversion_key_may_push_versions_of_owned_packages_only(
    user, make_user, make_package, make_key
):
    package = make_package("Contoso.Lib", user)
    _, plaintext = make_key(user, actions=[PUSH_VERSION], package_ids=["Contoso.Lib"])
    key = authenticate(plaintext)

    assert key.grant.allows(
        Action.PUSH,
        "CONTOSO.LIB",
        package_exists=True,
        owner_owns_package=owns(key.owner_id, "CONTOSO.LIB"),
    )
    # A new ID needs package:push, whatever it is called.
    assert key.grant.allows(Action.PUSH, "Contoso.Lib2", package_exists=False).code == (
        Denied.SCOPE
    )

    # Once the owner no longer owns the package, the same key is refused.
    package.owners.set([make_user("bob")])
    refused = key.grant.allows(
        Action.PUSH,
        "Contoso.Lib",
        package_exists=True,
        owner_owns_package=owns(key.owner_id, "Contoso.Lib"),
    )
    assert refused.code == Denied.OWNER


def test_a_deactivated_owners_keys_stop_at_once(user, make_key, django_assert_num_queries):
    key, value = make_key(user)
    user.is_active = False
    user.save(update_fields=["is_active"])
    with django_assert_num_queries(1):
        outcome = check(value)
    assert outcome.key is None
    assert outcome.failure == Failure.OWNER_INACTIVE
    assert outcome.key_id == key.pk
    user.is_active = True
    user.save(update_fields=["is_active"])
    assert authenticate(value) is not None
