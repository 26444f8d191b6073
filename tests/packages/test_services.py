"""Pushes racing each other: the database's constraints decide, and nothing is left half-done."""

import hashlib
import io
import threading

import pytest
from django.db import connection

from apikeys.authentication import authenticate
from packages import nupkg, services
from packages.models import Package, PackageVersion
from tests.nupkgs import make_nupkg

pytestmark = pytest.mark.django_db(transaction=True)


def upload_of(data: bytes) -> services.Upload:
    return services.Upload(
        file=io.BytesIO(data), size=len(data), sha512=hashlib.sha512(data).hexdigest()
    )


def race(*jobs):
    """Run the jobs at the same moment, each on its own database connection."""
    barrier = threading.Barrier(len(jobs))
    results = [None] * len(jobs)

    def run(index, job):
        try:
            barrier.wait(timeout=10)
            results[index] = job()
        except Exception as error:
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def push_job(key_value: str, data: bytes):
    def job():
        key = authenticate(key_value)
        metadata = nupkg.read(io.BytesIO(data))
        return services.package_push(upload=upload_of(data), metadata=metadata, api_key=key)

    return job


@pytest.fixture(autouse=True)
def package_files(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "packages": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path)},
        },
    }
    return tmp_path


def stored_files(folder):
    return [p for p in folder.rglob("*") if p.is_file()]


def test_the_same_version_twice_at_once_gives_one_push_and_one_conflict(
    make_user, make_key, package_files
):
    owner = make_user("alice")
    _, value = make_key(owner)
    data = make_nupkg("Contoso.Core", "1.0.0")
    results = race(push_job(value, data), push_job(value, data))
    kinds = sorted(type(r).__name__ for r in results)
    assert kinds == ["PackageVersion", "VersionExists"], results
    assert PackageVersion.objects.count() == 1
    assert len(stored_files(package_files)) == 1


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
