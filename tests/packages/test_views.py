"""Manage Packages: the user's packages, their versions, and the keys that cover each."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from packages.models import PackageVersion

pytestmark = pytest.mark.django_db


def add_version(package, version, *, listed=True, size=1234):
    return PackageVersion.objects.create(
        package=package, version=version, normalized_version=version, listed=listed,
        size=size, sha512="x", authors="a", description="d",
    )  # fmt: skip


def test_lists_own_packages_with_versions(client, make_user, make_package):
    alice = make_user("alice")
    core = make_package("Contoso.Core", alice)
    add_version(core, "1.0.0", listed=False, size=2048)
    add_version(core, "1.1.0")
    make_package("Someone.Else", make_user("bob"))
    client.force_login(alice)
    html = client.get("/account/Packages").content.decode()
    assert "Contoso.Core" in html
    assert "Someone.Else" not in html
    assert "1.0.0" in html and "1.1.0" in html
    assert "Unlisted" in html and "Listed" in html
    assert "2.0\xa0KB" in html
    assert 'href="/account/apikeys?package=Contoso.Core"' in html


def test_the_page_costs_the_same_queries_for_few_and_many(client, make_user, make_package):
    alice = make_user("alice")
    client.force_login(alice)

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/account/Packages").status_code == 200
        return len(queries)

    add_version(make_package("P.First", alice), "1.0.0")
    few = count()
    for i in range(20):
        package = make_package(f"P.N{i}", alice)
        for v in ("1.0.0", "2.0.0"):
            add_version(package, v)
    assert count() == few


def test_the_keys_page_shows_the_keys_that_cover_a_package(client, make_user, make_key):
    alice = make_user("alice")
    make_key(alice, name="Contoso pusher", globs=["Contoso.*"])
    make_key(alice, name="Fabrikam pusher", globs=["Fabrikam.*"])
    client.force_login(alice)
    html = client.get("/account/apikeys?package=Contoso.Core").content.decode()
    assert "Contoso pusher" in html
    assert "Fabrikam pusher" not in html
    assert "Showing the keys that cover Contoso.Core." in html
    html = client.get("/account/apikeys?package=Nothing.Here").content.decode()
    assert "None of your API keys covers this package." in html
