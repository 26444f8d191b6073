"""Manage package (/packages/{id}/Manage): the owner's Listing, and nobody else's page."""

import io

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from audit.models import Event, EventKind
from packages import nupkg, services
from packages.models import PackageVersion
from packages.search import SearchQuery, search
from tests.nupkgs import make_nupkg

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _package_files(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "packages": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "packages")},
        },
    }


@pytest.fixture
def owner(make_user):
    return make_user("alice")


def publish(owner, package_id="Contoso.Core", version="1.0.0"):
    """A version pushed through the registry's service, file and all."""
    data = make_nupkg(package_id, version)
    return services.package_push(
        package=services.package_find(package_id),
        upload=services.Upload(file=io.BytesIO(data), size=len(data), sha512="x"),
        metadata=nupkg.read(io.BytesIO(data)),
        actor=owner,
    )


def manage_url(package_id="Contoso.Core"):
    return f"/packages/{package_id}/Manage"


def listed_versions(package_id="Contoso.Core"):
    hits = search(SearchQuery(q=f"packageid:{package_id}", prerelease=True)).hits
    return [text for hit in hits for text, _downloads in hit.versions]


def save(client, shown, listed, package_id="Contoso.Core"):
    return client.post(manage_url(package_id), {"shown": shown, "listed": listed})


class TestWhoSeesThePage:
    def test_anonymous_visitors_are_sent_to_sign_in(self, client, owner):
        publish(owner)
        response = client.get(manage_url())
        assert response.status_code == 302
        assert response["Location"].startswith("/users/account/LogOn?")

    def test_someone_else_gets_the_same_404_as_for_an_unknown_id(self, client, owner, make_user):
        publish(owner)
        client.force_login(make_user("mallory"))
        assert client.get(manage_url()).status_code == 404
        assert client.get(manage_url("Nothing.Here")).status_code == 404
        assert client.get(manage_url("not an id")).status_code == 404

    def test_someone_else_cannot_unlist(self, client, owner, make_user):
        version = publish(owner)
        client.force_login(make_user("mallory"))
        assert save(client, [version.pk], []).status_code == 404
        version.refresh_from_db()
        assert version.listed
        assert not Event.objects.filter(kind=EventKind.PACKAGE_UNLISTED).exists()

    def test_the_owner_sees_every_version_with_its_listed_box(self, client, owner):
        first, second = publish(owner), publish(owner, version="2.0.0-beta")
        services.package_set_listed(version=first, listed=False, actor=owner)
        client.force_login(owner)
        response = client.get(manage_url("contoso.CORE"))  # IDs ignore case
        assert response.status_code == 200
        html = response.content.decode()
        assert "Manage package Contoso.Core" in html
        assert f'name="listed" value="{first.pk}" id="listed-{first.pk}">' in html
        assert f'name="listed" value="{second.pk}" id="listed-{second.pk}" checked>' in html
        # Newest version first, each labelling its box.
        assert html.index(">2.0.0-beta</label>") < html.index(">1.0.0</label>")
        assert 'href="/packages/Contoso.Core"' in html

    def test_manage_packages_links_each_package_to_its_manage_page(self, client, owner):
        publish(owner)
        client.force_login(owner)
        html = client.get("/account/Packages").content.decode()
        assert 'href="/packages/Contoso.Core/Manage"' in html
        assert 'href="/packages/Contoso.Core"' in html
        assert 'href="/packages/manage/upload"' in html


class TestListing:
    def test_unlisting_saves_audits_and_hides_the_version_from_search(self, client, owner):
        old, new = publish(owner), publish(owner, version="1.1.0")
        client.force_login(owner)
        assert listed_versions() == ["1.0.0", "1.1.0"]

        response = save(client, [old.pk, new.pk], [new.pk])

        assert response.status_code == 302
        assert response["Location"] == "/packages/Contoso.Core/Manage"
        old.refresh_from_db()
        assert not old.listed
        (event,) = Event.objects.filter(kind=EventKind.PACKAGE_UNLISTED)
        assert (event.actor, event.package_id, event.package_version) == (owner, "Contoso.Core",
                                                                          "1.0.0")  # fmt: skip
        assert event.details == {"changed": True}
        assert listed_versions() == ["1.1.0"]
        # Unlisted, not gone: a restore of that exact version still downloads it.
        download = client.get("/v3/flatcontainer/contoso.core/1.0.0/contoso.core.1.0.0.nupkg")
        assert download.status_code == 200
        page = client.get(response["Location"]).content.decode()
        assert "The listing of Contoso.Core was saved." in page

    def test_relisting_brings_it_back(self, client, owner):
        version = publish(owner)
        services.package_set_listed(version=version, listed=False, actor=owner)
        client.force_login(owner)
        assert listed_versions() == []
        assert save(client, [version.pk], [version.pk]).status_code == 302
        version.refresh_from_db()
        assert version.listed
        assert Event.objects.filter(kind=EventKind.PACKAGE_RELISTED, actor=owner).count() == 1
        assert listed_versions() == ["1.0.0"]

    def test_only_changed_versions_are_saved_and_audited(self, client, owner):
        versions = [publish(owner, version=f"1.{n}.0") for n in range(3)]
        client.force_login(owner)
        pks = [v.pk for v in versions]
        assert save(client, pks, pks).status_code == 302
        assert not Event.objects.filter(
            kind__in=[EventKind.PACKAGE_UNLISTED, EventKind.PACKAGE_RELISTED]
        ).exists()
        assert save(client, pks, pks[1:]).status_code == 302
        assert Event.objects.filter(kind=EventKind.PACKAGE_UNLISTED).count() == 1

    def test_a_version_pushed_while_the_page_was_open_stays_listed(self, client, owner):
        shown = publish(owner)
        client.force_login(owner)
        arrived = publish(owner, version="2.0.0")
        assert save(client, [shown.pk], [shown.pk]).status_code == 302
        arrived.refresh_from_db()
        assert arrived.listed

    def test_a_version_of_another_package_is_refused_and_nothing_changes(
        self, client, owner, make_user
    ):
        mine = publish(owner)
        theirs = publish(make_user("bob"), "Fabrikam.Web")
        client.force_login(owner)
        response = save(client, [mine.pk, theirs.pk], [])
        assert response.status_code == 400
        mine.refresh_from_db()
        theirs.refresh_from_db()
        assert mine.listed and theirs.listed
        assert not Event.objects.filter(kind=EventKind.PACKAGE_UNLISTED).exists()

    def test_the_form_needs_its_csrf_token(self, owner):
        version = publish(owner)
        client = Client(enforce_csrf_checks=True)
        client.force_login(owner)
        assert save(client, [version.pk], []).status_code == 403
        version.refresh_from_db()
        assert version.listed


# What package_set_listed costs, search entry, terms and totals included (their upkeep differs
# per database).
PER_CHANGE = {"sqlite": 19, "postgresql": 17}


class TestQueryCounts:
    def _count(self, client, method="get", **data):
        with CaptureQueriesContext(connection) as queries:
            response = getattr(client, method)(manage_url(), data)
        assert response.status_code in (200, 302)
        return len(queries)

    def test_the_page_costs_the_same_for_one_version_and_two_hundred(self, client, owner):
        publish(owner)
        client.force_login(owner)
        # Session, user, package, the owners with the viewer's role for each (who may
        # see the page, and what they may do on it), versions, the pending ownership
        # requests, and the header's email check.
        assert self._count(client) == 7
        package = services.package_find("Contoso.Core")
        PackageVersion.objects.bulk_create(
            PackageVersion(
                package=package,
                version=f"2.0.{n}",
                normalized_version=f"2.0.{n}",
                size=1,
                sha512="x",
            )
            for n in range(200)
        )
        assert self._count(client) == 7

    def test_saving_costs_the_page_and_a_fixed_number_per_change(self, client, owner):
        pks = [publish(owner, version=f"1.{n}.0").pk for n in range(20)]
        client.force_login(owner)
        # No change: the page's reads (the message travels in a cookie).
        assert self._count(client, "post", shown=pks, listed=pks) == 5
        one = self._count(client, "post", shown=pks, listed=pks[1:])
        three = self._count(client, "post", shown=pks, listed=[pks[0], *pks[3:]])
        # Each change: the row, the package's search entry and terms, the audit event; all of
        # them in one transaction (a savepoint and its release).
        per_change = (three - one) // 2
        assert three - one == 2 * per_change
        assert one == 5 + 2 + per_change
        assert per_change == PER_CHANGE[connection.vendor]
