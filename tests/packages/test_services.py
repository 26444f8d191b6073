"""The registry's services, racing each other: the database's constraints decide, and
nothing is left half-done. (Keys and grants: tests/feed/test_services.py.)"""

import hashlib
import io

import pytest

from packages import nupkg, services
from packages.models import Package, PackageVersion
from tests.nupkgs import make_nupkg
from tests.races import race

pytestmark = pytest.mark.django_db(transaction=True)


def upload_of(data: bytes) -> services.Upload:
    return services.Upload(
        file=io.BytesIO(data), size=len(data), sha512=hashlib.sha512(data).hexdigest()
    )


def push_job(user, data: bytes):
    """A push by ``user``, as the protocol layer makes it once it has decided. The
    package is looked up now, before the race starts, so both jobs act on what they
    saw even if the other one has already committed when this one runs."""
    metadata = nupkg.read(io.BytesIO(data))
    package = services.package_find(metadata.id)

    def job():
        return services.package_push(
            package=package,
            upload=upload_of(data),
            metadata=metadata,
            actor=user,
            api_key_id=7,
            api_key_hint="ngk_...abcd",
        )

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
    make_user, make_package, package_files
):
    owner = make_user("alice")
    make_package("Contoso.Core", owner)
    data = make_nupkg("Contoso.Core", "1.0.0")
    results = race(push_job(owner, data), push_job(owner, data))
    kinds = sorted(type(r).__name__ for r in results)
    assert kinds == ["PackageVersion", "VersionExists"], results
    assert PackageVersion.objects.count() == 1
    assert len(stored_files(package_files)) == 1
    version = PackageVersion.objects.get()
    assert (version.api_key_id, version.api_key_hint) == (7, "ngk_...abcd")


def test_a_new_id_created_twice_at_once_gives_one_package_and_package_taken(
    make_user, package_files
):
    alice, bob = make_user("alice"), make_user("bob")
    results = race(
        push_job(alice, make_nupkg("Contoso.Core", "1.0.0")),
        push_job(bob, make_nupkg("contoso.core", "2.0.0")),
    )
    kinds = sorted(type(r).__name__ for r in results)
    assert kinds == ["PackageTaken", "PackageVersion"], results
    package = Package.objects.get()
    assert package.owners.count() == 1
    winner = package.owners.get()
    assert PackageVersion.objects.get().pushed_by == winner
    assert len(stored_files(package_files)) == 1


def test_nothing_here_imports_the_layer_above():
    # Keys and their grants belong to apikeys, which sits above packages.
    import ast
    from pathlib import Path

    import packages

    for path in Path(packages.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom | ast.Import):
                names = (
                    [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else [alias.name for alias in node.names]
                )
                assert not any(n.split(".")[0] in ("apikeys", "feed") for n in names), path
