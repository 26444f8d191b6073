"""Packages and versions in the admin: listed with their counts, versions read-only."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from packages.models import PackageVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, make_user):
    client.force_login(make_user("root1", is_staff=True, is_superuser=True))
    return client


def add_version(package, version, *, listed=True, prerelease=False, pushed_by=None):
    return PackageVersion.objects.create(
        package=package, version=version, normalized_version=version, listed=listed,
        is_prerelease=prerelease, size=2048, sha512="ab" * 64, file_name=f"x/{version}.nupkg",
        pushed_by=pushed_by, api_key_id=9, api_key_hint="ngk_…a1B2",
    )  # fmt: skip


def test_packages_are_listed_with_owners_and_version_counts(staff_client, make_user,
                                                            make_package):  # fmt: skip
    alice, bob = make_user("alice"), make_user("bob")
    core = make_package("Contoso.Core", alice, bob)
    for version in ("1.0.0", "1.1.0", "2.0.0"):
        add_version(core, version)
    make_package("Fabrikam.Web", bob)
    response = staff_client.get("/admin/packages/package/")
    assert response.status_code == 200
    rows = {
        row.split('class="field-name"')[1].split("</a>")[0].rsplit(">", 1)[1]: row
        for row in response.content.decode().split("<tr")
        if 'class="field-name"' in row
    }
    assert set(rows) == {"Contoso.Core", "Fabrikam.Web"}
    assert "alice, bob" in rows["Contoso.Core"]
    assert '<td class="field-version_count">3</td>' in rows["Contoso.Core"]
    assert '<td class="field-version_count">0</td>' in rows["Fabrikam.Web"]
    # Sortable by the count.
    assert staff_client.get("/admin/packages/package/?o=4").status_code == 200


def test_searching_by_owner_counts_versions_once(staff_client, make_user, make_package):
    core = make_package("Contoso.Core", make_user("alice"), make_user("alicia"))
    add_version(core, "1.0.0")
    add_version(core, "2.0.0")
    html = staff_client.get("/admin/packages/package/", {"q": "ali"}).content.decode()
    assert html.count('class="field-name"') == 1
    assert '<td class="field-version_count">2</td>' in html


def test_the_package_list_costs_the_same_queries_for_few_and_many(staff_client, make_user,
                                                                  make_package):  # fmt: skip
    owner = make_user("alice")

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert staff_client.get("/admin/packages/package/").status_code == 200
        return len(captured)

    package = make_package("Few.One", owner)
    add_version(package, "1.0.0")
    few = queries()
    for n in range(6):
        package = make_package(f"Many.P{n}", owner, make_user(f"owner{n}"))
        add_version(package, "1.0.0")
        add_version(package, "2.0.0")
    assert queries() == few


def test_a_package_page_renders(staff_client, make_user, make_package):
    package = make_package("Contoso.Core", make_user("alice"))
    response = staff_client.get(f"/admin/packages/package/{package.pk}/change/")
    assert response.status_code == 200
    assert "Contoso.Core" in response.content.decode()


def test_versions_are_listed_filtered_and_searched(staff_client, make_user, make_package):
    alice = make_user("alice")
    core = make_package("Contoso.Core", alice)
    web = make_package("Fabrikam.Web", alice)
    stable = add_version(core, "1.0.0", pushed_by=alice)
    hidden = add_version(core, "1.1.0", listed=False)
    beta = add_version(web, "2.0.0-beta", prerelease=True)

    def listed(**params):
        response = staff_client.get("/admin/packages/packageversion/", params)
        assert response.status_code == 200
        html = response.content.decode()
        return {v.pk for v in (stable, hidden, beta) if f"/packageversion/{v.pk}/change/" in html}

    html = staff_client.get("/admin/packages/packageversion/").content.decode()
    for text in ("Contoso.Core", "1.0.0", "2.0.0-beta", "alice", "ngk_…a1B2", "2048"):
        assert text in html, text
    assert listed() == {stable.pk, hidden.pk, beta.pk}
    assert listed(listed__exact=0) == {hidden.pk}
    assert listed(is_prerelease__exact=1) == {beta.pk}
    assert listed(q="fabrikam") == {beta.pk}


def test_the_version_list_costs_the_same_queries_for_few_and_many(staff_client, make_user,
                                                                  make_package):  # fmt: skip
    alice = make_user("alice")
    core = make_package("Contoso.Core", alice)
    add_version(core, "0.1.0", pushed_by=alice)

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert staff_client.get("/admin/packages/packageversion/").status_code == 200
        return len(captured)

    few = queries()
    for n in range(5):
        add_version(make_package(f"P{n}", alice), "1.0.0", pushed_by=make_user(f"u{n}"))
    assert queries() == few


def test_versions_are_read_only(staff_client, make_user, make_package):
    version = add_version(make_package("Contoso.Core", make_user("alice")), "1.0.0")
    page = staff_client.get(f"/admin/packages/packageversion/{version.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "ab" * 64 in html and "x/1.0.0.nupkg" in html
    assert 'name="_save"' not in html
    assert 'name="listed"' not in html
    response = staff_client.post(
        f"/admin/packages/packageversion/{version.pk}/change/", {"listed": "", "size": 1}
    )
    assert response.status_code == 403
    delete = f"/admin/packages/packageversion/{version.pk}/delete/"
    assert staff_client.post(delete, {"post": "yes"}).status_code == 403
    assert staff_client.get("/admin/packages/packageversion/add/").status_code == 403
    version.refresh_from_db()
    assert version.listed and version.size == 2048


def test_changing_owners_in_the_admin_is_audited(staff_client, make_user, make_package):
    from audit.models import Event

    alice, bob = make_user("alice"), make_user("bob")
    package = make_package("Contoso.Core", alice)
    response = staff_client.post(
        f"/admin/packages/package/{package.pk}/change/",
        {"name": "Contoso.Core", "owners": [alice.pk, bob.pk], "created_at_0": "2024-01-01",
         "created_at_1": "00:00:00"},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    event = Event.objects.get(kind="package:owners_changed")
    assert event.package_id == "Contoso.Core"
    assert event.details == {"before": ["alice"], "after": ["alice", "bob"]}


def test_owners_changed_in_the_admin_reach_search(staff_client, make_user, make_package):
    from packages import search
    from packages.models import PackageVersion

    alice, bob = make_user("alice"), make_user("bob")
    package = make_package("Contoso.Core", alice)
    PackageVersion.objects.create(
        package=package, version="1.0.0", normalized_version="1.0.0", size=1, sha512="x"
    )
    search.search_entry_refresh(package=package)
    response = staff_client.post(
        f"/admin/packages/package/{package.pk}/change/",
        {"name": "Contoso.Core", "owners": [bob.pk], "created_at_0": "2024-01-01",
         "created_at_1": "00:00:00"},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]

    def found(owner):
        return [
            hit.package_id for hit in search.search(search.SearchQuery(q=f"owner:{owner}")).hits
        ]

    assert found("bob") == ["Contoso.Core"]
    assert found("alice") == []
