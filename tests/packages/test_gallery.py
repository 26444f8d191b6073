"""The gallery's pages: the header search, the package list, package pages, profiles,
icons, and the read rule of a private gallery."""

import base64
import hashlib
import io
import re
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from packages import nupkg, search, services
from packages.models import Package, PackageVersion
from tests.nupkgs import make_nupkg

pytestmark = pytest.mark.django_db

# A 1x1 transparent PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


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
def alice(make_user):
    return make_user("Alice")


@pytest.fixture
def publish(alice):
    """Push ``package_id`` ``version`` through the push service, as the feed does; extra
    nuspec elements in ``metadata``, files in ``files``; ``listed=False`` unlists it."""

    def push(package_id="Contoso.Core", version="1.0.0", *, by=None, listed=True,
             metadata="", files=None, description="A test package", downloads=0):  # fmt: skip
        data = make_nupkg(
            package_id, version, description=description, metadata_extra=metadata,
            extra_files=files,
        )  # fmt: skip
        read = nupkg.read(io.BytesIO(data))
        found = services.version_find(package_id, version)
        assert found is None
        version_row = services.package_push(
            package=services.package_find(package_id),
            upload=services.Upload(
                file=io.BytesIO(data), size=len(data), sha512=hashlib.sha512(data).hexdigest()
            ),
            metadata=read,
            actor=by or alice,
        )
        if downloads:
            PackageVersion.objects.filter(pk=version_row.pk).update(download_count=downloads)
            package = version_row.package
            Package.objects.filter(pk=package.pk).update(
                download_count=sum(
                    PackageVersion.objects.filter(package=package).values_list(
                        "download_count", flat=True
                    )
                )
            )
            # As the download counters' aggregation does.
            search.search_downloads_add(package_pk=package.pk, count=downloads)
        if not listed:
            services.package_set_listed(version=version_row, listed=False, actor=by or alice)
        return version_row

    return push


def html_of(response) -> str:
    return response.content.decode()


# --- Header ---------------------------------------------------------------------------


class TestHeader:
    @pytest.mark.parametrize("path", ["/", "/packages", "/users/account/LogOn"])
    def test_every_page_has_the_packages_link_and_a_search_box(self, client, path):
        html = html_of(client.get(path))
        assert re.search(r'<a class="site-header__packages" href="/packages">Packages</a>', html)
        form = re.search(r'<form class="site-search" role="search" method="get" '
                         r'action="/packages">.*?</form>', html, re.S)  # fmt: skip
        assert form and 'name="q"' in form.group(0)

    def test_the_search_box_keeps_the_query(self, client, publish):
        html = html_of(client.get("/packages?q=contoso"))
        assert 'name="q" value="contoso"' in html


# --- The package list -----------------------------------------------------------------


class TestPackageList:
    def test_empty_query_lists_the_most_downloaded_first(self, client, publish):
        publish("Few.Downloads", downloads=5)
        publish("Many.Downloads", downloads=500)
        publish("No.Downloads")
        html = html_of(client.get("/packages"))
        assert "3 packages, most downloaded first" in html
        positions = [html.index(f'href="/packages/{name}"') for name in
                     ("Many.Downloads", "Few.Downloads", "No.Downloads")]  # fmt: skip
        assert positions == sorted(positions)

    def test_a_result_shows_id_version_owners_downloads_tags_and_description(self, client, publish):
        publish(
            "Contoso.Json", "2.1.0", downloads=1234,
            metadata="<tags>json web</tags>",
            description="Fast JSON.\nSecond line.\nThird line.\nFourth line is cut.",
        )  # fmt: skip
        response = client.get("/packages?q=json")
        assert response.status_code == 200
        html = html_of(response)
        assert "1 package returned for json" in html
        assert '<a href="/packages/Contoso.Json">Contoso.Json</a>' in html
        assert '<a href="/profiles/Alice">Alice</a>' in html
        assert "1,234 total downloads" in html
        assert "Latest version: 2.1.0" in html
        assert 'href="/packages?q=tags%3A%22json%22">json</a>' in html
        assert "Fast JSON.<br>Second line.<br>Third line. …" in html
        assert "Fourth line" not in html
        assert "packages/default-icon.svg" in html

    def test_a_tag_link_finds_the_packages_with_that_tag(self, client, publish):
        publish("Tagged.One", metadata="<tags>json</tags>")
        publish("Mentions.Json", description="about json")
        html = html_of(client.get("/packages?q=tags%3A%22json%22"))
        assert "Tagged.One" in html and "Mentions.Json" not in html

    def test_prerelease_toggle(self, client, publish):
        publish("Stable.Pkg", "1.0.0")
        publish("Beta.Pkg", "1.0.0-beta")
        assert "Beta.Pkg" in html_of(client.get("/packages"))
        html = html_of(client.get("/packages?prerel=false"))
        assert "Beta.Pkg" not in html and "Stable.Pkg" in html
        # The toggle links to the other state, the query kept, without JavaScript.
        assert '<input type="hidden" name="prerel" value="true">' in html

    def test_unlisted_versions_and_packages_are_never_listed(self, client, publish):
        publish("Gone.Pkg", "1.0.0", listed=False)
        publish("Half.Pkg", "1.0.0")
        publish("Half.Pkg", "2.0.0", listed=False)
        html = html_of(client.get("/packages"))
        assert "Gone.Pkg" not in html
        assert "Latest version: 1.0.0" in html and "2.0.0" not in html

    def test_twenty_a_page_with_paging_links(self, client, publish, alice):
        for n in range(45):
            publish(f"Paged.P{n:02d}", downloads=100 - n)
        html = html_of(client.get("/packages?q=paged"))
        assert html.count('class="gallery-list__item"') == 20
        assert "45 packages returned for paged" in html
        assert 'rel="next" href="?q=paged&amp;prerel=true&amp;page=2">' in html
        assert 'rel="prev"' not in html
        html = html_of(client.get("/packages?q=paged&page=3"))
        assert html.count('class="gallery-list__item"') == 5
        assert "Paged.P40" in html and 'rel="next"' not in html
        assert 'href="?q=paged&amp;prerel=true&amp;page=2"' in html

    def test_an_icon_in_the_package_is_shown(self, client, publish):
        publish("Iconic.Pkg", metadata="<icon>images/icon.png</icon>",
                files={"images/icon.png": PNG})  # fmt: skip
        html = html_of(client.get("/packages?q=iconic"))
        assert 'src="/packages/Iconic.Pkg/1.0.0/icon"' in html
        response = client.get("/packages/iconic.pkg/1.0/icon")
        assert response.status_code == 200
        assert response["Content-Type"] == "image/png"
        assert b"".join(response.streaming_content) == PNG

    def test_a_version_without_icon_has_no_icon_url(self, client, publish):
        publish("Plain.Pkg")
        assert client.get("/packages/Plain.Pkg/1.0.0/icon").status_code == 404

    @pytest.mark.parametrize("query", ["page=0", "page=x", "page=9999", "prerel=maybe",
                                       "q=" + "x" * 600])  # fmt: skip
    def test_bad_parameters_answer_400_with_a_reason(self, client, query):
        response = client.get(f"/packages?{query}")
        assert response.status_code == 400
        assert response.reason_phrase.startswith("Bad Request: ")

    def test_descriptions_are_escaped(self, client, publish):
        publish("Hostile.Desc", description="<script>alert(1)</script><img src=x onerror=alert(2)>")
        html = html_of(client.get("/packages?q=hostile"))
        assert "<script>alert(1)" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# --- The package page -----------------------------------------------------------------

README = b"""# Contoso Core

Use it **well**. See [the docs](https://docs.example.com).

<script>alert(1)</script>
"""


class TestPackagePage:
    def test_shows_the_latest_listed_stable_version_with_canonical_casing(self, client, publish):
        publish("Contoso.Core", "1.0.0")
        publish("Contoso.Core", "1.1.0")
        publish("Contoso.Core", "2.0.0-beta")
        publish("Contoso.Core", "1.2.0", listed=False)
        response = client.get("/packages/contoso.core")
        assert response.status_code == 200
        html = html_of(response)
        assert '<span class="package-page__id">Contoso.Core</span>' in html
        assert '<span class="package-page__version">1.1.0</span>' in html
        assert 'data-notice="prerelease"' not in html and 'data-notice="unlisted"' not in html

    def test_a_version_by_url_case_insensitive_and_normalized(self, client, publish):
        publish("Contoso.Core", "1.0.0-Beta")
        response = client.get("/packages/CONTOSO.CORE/1.0-beta")
        assert response.status_code == 200
        html = html_of(response)
        assert '<span class="package-page__version">1.0.0-Beta</span>' in html
        assert 'data-notice="prerelease"' in html
        assert "This is a prerelease version." in html

    @pytest.mark.parametrize("path", ["/packages/No.Such", "/packages/Contoso.Core/9.0.0",
                                      "/packages/Contoso.Core/1.0.0.0.0.0",
                                      "/packages/bad%20id"])  # fmt: skip
    def test_unknown_ids_and_versions_answer_404(self, client, publish, path):
        publish("Contoso.Core")
        assert client.get(path).status_code == 404

    def test_an_unlisted_version_is_reachable_and_says_so(self, client, publish, make_user):
        publish("Contoso.Core", "1.0.0")
        publish("Contoso.Core", "2.0.0", listed=False)
        response = client.get("/packages/Contoso.Core/2.0.0")
        assert response.status_code == 200
        html = html_of(response)
        assert 'data-notice="unlisted"' in html
        assert "This package has been unlisted." in html
        # Not linked from the versions table for visitors, nor its status shown.
        page = html_of(client.get("/packages/Contoso.Core"))
        assert "/packages/Contoso.Core/2.0.0" not in page
        assert ">Unlisted<" not in page and ">Status<" not in page

    def test_owners_see_every_version_and_its_status_and_a_manage_link(
        self, client, publish, alice
    ):
        publish("Contoso.Core", "1.0.0")
        publish("Contoso.Core", "2.0.0", listed=False)
        client.force_login(alice)
        html = html_of(client.get("/packages/Contoso.Core"))
        assert 'href="/packages/Contoso.Core/2.0.0"' in html
        assert ">Status<" in html and "<td>Unlisted</td>" in html and "<td>Listed</td>" in html
        assert 'href="/packages/Contoso.Core/Manage"' in html

    def test_the_versions_table_is_in_nugets_order_newest_first(self, client, publish):
        for version in ["1.9.0", "1.10.0-beta.2", "1.10.0", "1.10.0-alpha", "1.10.0-beta.10",
                        "1.2.0.1", "1.2.0"]:  # fmt: skip
            publish("Contoso.Core", version)
        html = html_of(client.get("/packages/Contoso.Core"))
        linked = re.findall(r'<td><a href="/packages/Contoso.Core/([^"]+)">\1</a></td>', html)
        assert linked == [
            "1.10.0", "1.10.0-beta.10", "1.10.0-beta.2", "1.10.0-alpha", "1.9.0", "1.2.0.1",
            "1.2.0",
        ]  # fmt: skip

    def test_a_versions_table_row_shows_downloads_date_and_which_is_shown(
        self, client, publish, settings
    ):
        publish("Contoso.Core", "1.0.0", downloads=1234567)
        publish("Contoso.Core", "2.0.0", downloads=5)
        PackageVersion.objects.update(pushed_at=datetime(2024, 3, 1, 12, tzinfo=UTC))
        # Dates are the day in the site's time zone: already 2 March at UTC+14.
        settings.TIME_ZONE = "Pacific/Kiritimati"
        html = html_of(client.get("/packages/Contoso.Core/1.0.0"))
        row = (
            '<tr class="versions-table__current" aria-current="page">'
            '<td><a href="/packages/Contoso.Core/1.0.0">1.0.0</a></td><td>1,234,567</td>'
            '<td><time datetime="2024-03-02">2024-03-02</time></td></tr>'
        )
        assert row in re.sub(r">\s+<", "><", html)
        assert html.count("aria-current") == 1
        assert '<tr><td><a href="/packages/Contoso.Core/2.0.0">2.0.0</a></td><td>5</td>' in html

    def test_the_versions_table_in_italian(self, client, publish, alice):
        publish("Contoso.Core", "1.0.0", downloads=1234567)
        publish("Contoso.Core", "2.0.0", listed=False)
        client.force_login(alice)
        html = html_of(client.get("/packages/Contoso.Core", headers={"accept-language": "it"}))
        assert "<td>1.234.567</td>" in html
        assert "<td>In elenco</td>" in html and "<td>Rimossa dall&#x27;elenco</td>" in html

    def test_visitors_get_no_manage_link(self, client, publish, make_user):
        publish("Contoso.Core")
        client.force_login(make_user("bob"))
        assert "/Manage" not in html_of(client.get("/packages/Contoso.Core"))

    def test_install_commands_for_every_client(self, client, publish):
        publish("Contoso.Core", "1.2.3")
        html = html_of(client.get("/packages/Contoso.Core"))
        for command in (
            "dotnet add package Contoso.Core --version 1.2.3",
            "NuGet\\Install-Package Contoso.Core -Version 1.2.3",
            "&lt;PackageReference Include=&quot;Contoso.Core&quot; Version=&quot;1.2.3&quot; /&gt;",
            "paket add Contoso.Core --version 1.2.3",
            "#r &quot;nuget: Contoso.Core, 1.2.3&quot;",
            "#addin nuget:?package=Contoso.Core&amp;version=1.2.3",
        ):
            assert f'value="{command}" readonly' in html, command
        # The Copy buttons appear with the script; without it the text stays selectable.
        assert html.count("data-copy-button hidden") == 6
        assert "/static/portal/copy.js" in html
        assert "<script>" not in html

    def test_readme_rendered_and_sanitized(self, client, publish):
        publish("Contoso.Core", metadata="<readme>docs/README.md</readme>",
                files={"docs/README.md": README})  # fmt: skip
        html = html_of(client.get("/packages/Contoso.Core"))
        assert "<h1>Contoso Core</h1>" in html
        assert "<strong>well</strong>" in html
        assert '<a href="https://docs.example.com" rel="nofollow noopener">the docs</a>' in html
        assert "alert(1)" not in html

    def test_the_readme_page_lets_https_images_through_the_csp(self, client, publish):
        publish("Contoso.Core")
        policy = client.get("/packages/Contoso.Core")["Content-Security-Policy"]
        assert re.search(r"img-src [^;]*https:", policy)
        assert re.search(r"script-src 'self'(;|$)", policy)

    def test_no_readme(self, client, publish):
        publish("Contoso.Core")
        assert "This package has no README." in html_of(client.get("/packages/Contoso.Core"))

    def test_dependencies_per_framework_link_to_our_packages(self, client, publish):
        publish("Contoso.Lib")
        publish("Contoso.App", metadata=(
            "<dependencies>"
            '<group targetFramework="net8.0"><dependency id="contoso.lib" version="1.0" />'
            '<dependency id="Newtonsoft.Json" version="[13.0,14.0)" /></group>'
            '<group targetFramework="netstandard2.0" />'
            "</dependencies>"
        ))  # fmt: skip
        html = html_of(client.get("/packages/Contoso.App"))
        assert '<h3 class="dependency-group">net8.0</h3>' in html
        assert '<a href="/packages/Contoso.Lib">Contoso.Lib</a>' in html
        assert "Newtonsoft.Json <span" in html and 'href="/packages/Newtonsoft.Json"' not in html
        assert "[13.0.0, 14.0.0)" in html
        assert "No dependencies." in html  # the empty netstandard2.0 group

    def test_facts_release_notes_downloads_and_download_link(self, client, publish):
        publish("Contoso.Core", "1.0.0", downloads=7)
        publish("Contoso.Core", "1.1.0", downloads=30, metadata=(
            "<projectUrl>https://contoso.example/core</projectUrl>"
            '<license type="expression">MIT OR Apache-2.0</license>'
            "<releaseNotes>Fixed &lt;everything&gt;.</releaseNotes>"
        ))  # fmt: skip
        html = html_of(client.get("/packages/Contoso.Core"))
        assert '<dd data-fact="total-downloads">37</dd>' in html
        assert '<dd data-fact="version-downloads">30</dd>' in html
        assert '<a href="https://contoso.example/core" rel="nofollow noopener">' in html
        assert "MIT OR Apache-2.0" in html
        assert "Fixed &lt;everything&gt;." in html
        assert (
            'href="/v3/flatcontainer/contoso.core/1.1.0/contoso.core.1.1.0.nupkg" download' in html
        )
        assert '<a href="/profiles/Alice">Alice</a>' in html

    def test_a_hostile_project_url_is_not_a_link(self, client, publish):
        publish("Contoso.Core", metadata="<projectUrl>javascript:alert(1)</projectUrl>")
        assert "javascript:" not in html_of(client.get("/packages/Contoso.Core"))

    def test_description_is_escaped(self, client, publish):
        publish("Contoso.Core", description="<script>alert(1)</script> <b onmouseover=x>b</b>")
        html = html_of(client.get("/packages/Contoso.Core"))
        assert "<script>alert" not in html and "<b onmouseover" not in html


# --- Profiles -------------------------------------------------------------------------


class TestProfile:
    def test_lists_the_accounts_listed_packages_with_download_totals(
        self, client, publish, make_user
    ):
        publish("Contoso.Core", downloads=10)
        publish("Contoso.Web", downloads=32)
        publish("Contoso.Hidden", listed=False)
        publish("Other.Pkg", by=make_user("bob"))
        response = client.get("/profiles/alice")
        assert response.status_code == 200
        html = html_of(response)
        assert "<h1>Alice</h1>" in html
        assert "2 packages" in html and "42 total downloads" in html
        assert html.index("Contoso.Web") < html.index("Contoso.Core")
        assert "Contoso.Hidden" not in html and "Other.Pkg" not in html

    def test_unknown_and_inactive_accounts_answer_404(self, client, make_user):
        make_user("gone", is_active=False)
        assert client.get("/profiles/nobody").status_code == 404
        assert client.get("/profiles/gone").status_code == 404


# --- A private gallery ----------------------------------------------------------------


@pytest.fixture
def private(settings):
    settings.FEED_READ_ACCESS = "authenticated"


PAGES = ["/packages", "/packages?q=contoso", "/packages/Contoso.Core",
         "/packages/Contoso.Core/1.0.0", "/packages/No.Such", "/profiles/Alice",
         "/packages/Contoso.Core/1.0.0/icon"]  # fmt: skip


class TestPrivateGallery:
    @pytest.mark.parametrize("path", PAGES)
    def test_anonymous_visitors_are_sent_to_sign_in_and_learn_nothing(
        self, client, publish, private, path
    ):
        publish("Contoso.Core", metadata="<icon>i.png</icon>", files={"i.png": PNG})
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/users/account/LogOn?")
        assert b"Contoso" not in response.content

    def test_the_header_search_on_the_home_page_still_renders(self, client, private):
        assert client.get("/").status_code == 200

    @pytest.mark.parametrize("path", PAGES[:4])
    def test_a_signed_in_user_with_a_confirmed_email_reads_everything(
        self, client, publish, private, make_user, path
    ):
        publish("Contoso.Core")
        client.force_login(make_user("reader"))
        response = client.get(path)
        assert response.status_code == 200
        assert b"Contoso.Core" in response.content
        assert "private" in response["Cache-Control"]

    def test_a_user_without_a_confirmed_email_is_refused(self, client, publish, private, make_user):
        publish("Contoso.Core")
        client.force_login(make_user("unconfirmed", confirmed=False))
        for path in ("/packages", "/packages/Contoso.Core", "/packages/No.Such"):
            response = client.get(path)
            assert response.status_code == 403
            assert b"A test package" not in response.content  # the description
            assert "confirm your email" in response.reason_phrase

    def test_a_public_gallery_is_open_to_anonymous_visitors(self, client, publish, settings):
        settings.FEED_READ_ACCESS = "public"
        publish("Contoso.Core")
        response = client.get("/packages/Contoso.Core")
        assert response.status_code == 200
        assert "private" not in response.get("Cache-Control", "")


# --- Query counts ---------------------------------------------------------------------


def queries_of(client, path) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200
    return len(captured)


class TestQueryCounts:
    def test_the_list_costs_the_same_for_one_page_of_packages_or_three(
        self, client, publish, make_user
    ):
        bob = make_user("bob")
        publish("Q.First", metadata="<tags>a b</tags>")
        few = queries_of(client, "/packages?q=q.")
        for n in range(45):
            publish(f"Q.P{n:02d}", by=bob if n % 2 else None, metadata="<tags>x y z</tags>")
        assert queries_of(client, "/packages?q=q.") == few
        # the page with the count beside it ("q." has punctuation: see search.search),
        # versions, latest rows, owners
        assert few == 4

    def test_a_package_page_with_1000_versions_is_a_fixed_number_of_queries(
        self, client, publish, alice
    ):
        publish("Big.Pkg", "0.0.1")
        few = queries_of(client, "/packages/Big.Pkg")
        package = Package.objects.get(name="Big.Pkg")
        PackageVersion.objects.bulk_create(
            PackageVersion(
                package=package,
                version=f"1.{n}.0",
                normalized_version=f"1.{n}.0",
                size=1,
                sha512="x",
                listed=n % 10 != 0,
            )
            for n in range(999)
        )
        client.force_login(alice)
        signed_in = queries_of(client, "/packages/Big.Pkg")
        client.logout()
        assert queries_of(client, "/packages/Big.Pkg") == few
        # package, versions, shown version, owners (dependencies only when there are some)
        assert few == 4
        html = html_of(client.get("/packages/Big.Pkg"))
        # Every listed version: 0.0.1 and 900 of the 999, not the 100 unlisted ones.
        assert html.count('<td><a href="/packages/Big.Pkg/') == 900
        assert signed_in <= few + 4  # session, user, email check, the banner's email
