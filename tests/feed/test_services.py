"""The protocol's decisions under races: the grant decides again when a push loses the
race to create an ID, and every refusal is audited once."""

import pytest
from django.test import RequestFactory

from apikeys.authentication import authenticate
from audit.models import Event
from feed import services
from packages.models import Package, PackageVersion
from tests.feed.conftest import multipart
from tests.nupkgs import make_nupkg
from tests.packages.test_services import race, stored_files

pytestmark = pytest.mark.django_db(transaction=True)


def push_job(key_value: str, data: bytes):
    def job():
        body, content_type = multipart(data)
        request = RequestFactory().generic("PUT", "/api/v2/package/", body, content_type)
        return services.package_push(api_key=authenticate(key_value), request=request)

    return job


def test_a_new_id_pushed_by_two_owners_at_once_ends_with_one_owner(
    make_user, make_key, package_files
):
    alice, bob = make_user("alice"), make_user("bob")
    _, alice_key = make_key(alice)
    _, bob_key = make_key(bob)
    results = race(
        push_job(alice_key, make_nupkg("Contoso.Core", "1.0.0")),
        push_job(bob_key, make_nupkg("contoso.core", "2.0.0")),
    )
    kinds = sorted(type(r).__name__ for r in results)
    assert kinds == ["PackageVersion", "Refused"], results
    package = Package.objects.get()
    assert package.owners.count() == 1
    winner = package.owners.get()
    assert PackageVersion.objects.get().pushed_by == winner
    assert len(stored_files(package_files)) == 1
    refused = Event.objects.get(kind="package:refused")
    assert refused.details["code"] == "owner"
    assert refused.actor != winner


def test_a_new_id_pushed_twice_at_once_by_its_owner_keeps_both_versions(
    make_user, make_key, package_files
):
    # The loser of the race to create the ID is allowed on the second decision.
    alice = make_user("alice")
    _, value = make_key(alice)
    results = race(
        push_job(value, make_nupkg("Contoso.Core", "1.0.0")),
        push_job(value, make_nupkg("contoso.core", "2.0.0")),
    )
    assert [type(r).__name__ for r in results] == ["PackageVersion"] * 2, results
    assert list(Package.objects.get().owners.all()) == [alice]
    assert PackageVersion.objects.count() == 2
    assert len(stored_files(package_files)) == 2
    assert not Event.objects.filter(kind="package:refused").exists()
