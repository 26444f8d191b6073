"""Package owners on the web: Manage package's Owners section, the answer page, Manage
Packages, Upload and profiles with organizations."""

import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import Event, EventKind
from packages import services
from packages.models import OwnershipRequest, Package, PackageVersion
from packages.search import search_entry_refresh
from tests.nupkgs import make_nupkg

pytestmark = pytest.mark.django_db

MANAGE = "/packages/Contoso.Core/Manage"
ADD = MANAGE + "/owners"
REMOVE = MANAGE + "/owners/remove"


@pytest.fixture(autouse=True)
def folders(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "packages": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "packages")},
        },
    }
    settings.PACKAGES_UPLOADS_DIR = str(tmp_path / "uploads")
    return tmp_path


@pytest.fixture
def people(make_user):
    """ada administers Contoso, cole collaborates there; bob and mallory are on their own."""
    return {name: make_user(name) for name in ("ada", "cole", "bob", "mallory")}


@pytest.fixture
def contoso(make_organization, people):
    return make_organization("Contoso", people["ada"], {people["cole"]: "collaborator"})


@pytest.fixture
def version(contoso):
    """Contoso.Core 1.0.0, owned by the organization Contoso."""
    package = Package.objects.create(name="Contoso.Core")
    package.owners.add(contoso.account)
    return PackageVersion.objects.create(
        package=package, version="1.0.0", normalized_version="1.0.0", size=1, sha512="x"
    )


@pytest.fixture
def package(version):
    return version.package


def as_(client, user):
    client.force_login(user)
    return client


def owner_names(package):
    return sorted(package.owners.values_list("username", flat=True))


def section(html: str, marker: str) -> str:
    """The list marked ``data-<marker>`` on the page, or ""."""
    found = re.search(rf"<ul[^>]*data-{marker}>(.*?)</ul>", html, re.S)
    return found[1] if found else ""


def field_error(response, field: str) -> str:
    found = re.search(
        rf'<div class="field__errors" id="id_{field}_error">(.*?)</div>',
        response.content.decode(),
        re.S,
    )
    return re.sub(r"<[^>]+>", "", found[1]).strip() if found else ""


class TestTheManagePage:
    def test_a_collaborator_sees_the_owners_and_unlists_but_manages_no_owner(
        self, client, people, version, package
    ):
        as_(client, people["cole"])
        html = client.get(MANAGE).content.decode()
        owners = section(html, "owners")
        assert 'href="/profiles/Contoso">Contoso</a>' in owners
        assert "Organization" in owners
        assert "Remove" not in html and 'action="/packages/Contoso.Core/Manage/owners' not in html
        assert "Add owner" not in html
        # The Listing is theirs to change.
        response = client.post(MANAGE, {"shown": [version.pk], "listed": []})
        assert response.status_code == 302
        version.refresh_from_db()
        assert not version.listed
        # Owners are not.
        assert client.post(ADD, {"new_owner": "bob"}).status_code == 403
        package.owners.add(people["bob"])
        assert client.post(REMOVE, {"owner": "bob"}).status_code == 403
        assert owner_names(package) == ["Contoso", "bob"]
        assert not OwnershipRequest.objects.exists()

    def test_a_non_member_gets_404_everywhere(self, client, people, version, package):
        as_(client, people["mallory"])
        assert client.get(MANAGE).status_code == 404
        assert client.post(MANAGE, {"shown": [version.pk], "listed": []}).status_code == 404
        assert client.post(ADD, {"new_owner": "mallory"}).status_code == 404
        assert client.post(REMOVE, {"owner": "Contoso"}).status_code == 404
        version.refresh_from_db()
        assert version.listed
        assert owner_names(package) == ["Contoso"]
        # The same 404 as for a package that is not there.
        assert client.get("/packages/No.Such/Manage").status_code == 404

    def test_an_administrator_adds_an_owner_and_sees_the_pending_request(
        self, client, people, package, mailoutbox, django_capture_on_commit_callbacks
    ):
        as_(client, people["ada"])
        html = client.get(MANAGE).content.decode()
        assert "Add owner" in html
        # The last owner has no Remove button.
        assert "Remove" not in section(html, "owners")
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(ADD, {"new_owner": "Bob"})
        assert response.status_code == 302
        assert response["Location"] == MANAGE + "#owners"
        ownership = OwnershipRequest.objects.get()
        assert ownership.new_owner == people["bob"]
        assert mailoutbox[0].to == ["bob@example.com"]
        html = client.get(MANAGE).content.decode()
        assert "An ownership request was sent to bob." in html
        pending = section(html, "ownership-requests")
        assert 'href="/profiles/bob">bob</a>' in pending
        assert f'action="/packages/Contoso.Core/Manage/owners/requests/{ownership.pk}/cancel"' in (
            pending
        )

    @pytest.mark.parametrize(
        ("name", "error"),
        [
            ("", "Enter the name of a user or an organization."),
            ("nobody", "No user or organization has this name."),
            ("contoso", "Contoso is already an owner of this package."),
        ],
    )
    def test_a_bad_name_is_refused_next_to_the_field(self, client, people, package, name, error):
        as_(client, people["ada"])
        response = client.post(ADD, {"new_owner": name})
        assert response.status_code == 400
        assert field_error(response, "new_owner") == error
        assert not OwnershipRequest.objects.exists()

    def test_cancelling_a_pending_request(self, client, people, package):
        ownership = services.ownership_request(
            package=package, new_owner_name="bob", actor=people["ada"]
        )
        cancel = f"{MANAGE}/owners/requests/{ownership.pk}/cancel"
        assert as_(client, people["cole"]).post(cancel).status_code == 403
        assert OwnershipRequest.objects.exists()
        as_(client, people["ada"])
        assert client.post(cancel).status_code == 302
        assert not OwnershipRequest.objects.exists()
        assert "The ownership request was cancelled." in client.get(MANAGE).content.decode()
        # Twice: it is gone, and the page says so.
        assert client.post(cancel).status_code == 302
        assert "no longer pending" in client.get(MANAGE).content.decode()

    def test_an_administrator_removes_an_owner_but_never_the_last(
        self, client, people, package, contoso
    ):
        package.owners.add(people["bob"])
        as_(client, people["ada"])
        html = client.get(MANAGE).content.decode()
        assert section(html, "owners").count("Remove") == 2
        response = client.post(REMOVE, {"owner": "BOB"})
        assert response.status_code == 302
        assert owner_names(package) == ["Contoso"]
        assert Event.objects.filter(kind=EventKind.OWNER_REMOVED).exists()
        # Contoso is the last: refused with the reason, even when asked for directly.
        response = client.post(REMOVE, {"owner": "Contoso"})
        assert response.status_code == 400
        assert "A package must keep at least one owner." in response.content.decode()
        assert owner_names(package) == ["Contoso"]
        assert client.post(REMOVE, {"owner": "mallory"}).status_code == 404

    def test_removing_the_owner_one_acts_for_leaves_the_page(self, client, people, package):
        package.owners.add(people["bob"])
        as_(client, people["bob"])
        response = client.post(REMOVE, {"owner": "bob"})
        assert response["Location"] == "/account/Packages"
        assert client.get(MANAGE).status_code == 404

    def test_the_owner_forms_need_their_csrf_token(self, people, package):
        package.owners.add(people["bob"])
        client = as_(Client(enforce_csrf_checks=True), people["ada"])
        assert client.post(ADD, {"new_owner": "mallory"}).status_code == 403
        assert client.post(REMOVE, {"owner": "bob"}).status_code == 403
        assert owner_names(package) == ["Contoso", "bob"]
        assert not OwnershipRequest.objects.exists()


class TestTheAnswerPage:
    @pytest.fixture
    def ownership(self, package, people):
        return services.ownership_request(
            package=package, new_owner_name="bob", actor=people["ada"]
        )

    @pytest.fixture
    def url(self, ownership):
        return f"/packages/Contoso.Core/owners/requests/{ownership.pk}"

    def test_signed_out_visitors_are_sent_to_sign_in_and_back(self, client, url):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"] == "/users/account/LogOn?returnUrl=" + url

    def test_the_recipient_accepts(self, client, people, package, url):
        as_(client, people["bob"])
        html = client.get(url).content.decode()
        assert "ada asks you to become an owner of the package Contoso.Core." in html
        assert 'name="action" value="accept"' in html and 'name="action" value="decline"' in html
        response = client.post(url, {"action": "accept"})
        assert response.status_code == 302
        assert response["Location"] == MANAGE
        assert owner_names(package) == ["Contoso", "bob"]
        assert "bob is now an owner of Contoso.Core." in client.get(MANAGE).content.decode()
        # Twice: the request is gone.
        assert client.post(url, {"action": "accept"}).status_code == 404
        assert client.get(url).status_code == 404

    @pytest.mark.parametrize("who", ["ada", "cole", "mallory"])
    def test_anyone_else_gets_404(self, client, people, package, url, who):
        as_(client, people[who])
        assert client.get(url).status_code == 404
        assert client.post(url, {"action": "accept"}).status_code == 404
        assert owner_names(package) == ["Contoso"]

    def test_a_made_up_id_or_another_package_is_404(self, client, people, ownership):
        as_(client, people["bob"])
        assert client.get("/packages/Contoso.Core/owners/requests/987654").status_code == 404
        other = f"/packages/Other.Package/owners/requests/{ownership.pk}"
        assert client.get(other).status_code == 404
        assert (
            client.get(f"/packages/contoso.core/owners/requests/{ownership.pk}").status_code == 200
        )
        huge = "/packages/Contoso.Core/owners/requests/" + "9" * 30
        assert client.get(huge).status_code == 404

    def test_declining(self, client, people, package, url):
        as_(client, people["bob"])
        response = client.post(url, {"action": "decline"})
        assert response["Location"] == "/account/Packages"
        assert owner_names(package) == ["Contoso"]
        assert not OwnershipRequest.objects.exists()

    def test_an_expired_request_says_so_and_changes_nothing(
        self, client, people, package, ownership, url
    ):
        OwnershipRequest.objects.filter(pk=ownership.pk).update(
            expires_at=timezone.now() - timedelta(minutes=1)
        )
        as_(client, people["bob"])
        html = client.get(url).content.decode()
        assert "This ownership request has expired." in html
        assert 'value="accept"' not in html
        response = client.post(url, {"action": "accept"})
        assert response.status_code == 400
        assert "This ownership request has expired." in response.content.decode()
        assert owner_names(package) == ["Contoso"]
        assert OwnershipRequest.objects.exists()

    def test_an_unknown_action_is_refused(self, client, people, package, url):
        as_(client, people["bob"])
        response = client.post(url, {"action": "both"})
        assert response.status_code == 400
        assert "Choose Accept or Decline." in response.content.decode()

    def test_the_answer_needs_its_csrf_token(self, people, package, url):
        client = as_(Client(enforce_csrf_checks=True), people["bob"])
        assert client.post(url, {"action": "accept"}).status_code == 403
        assert owner_names(package) == ["Contoso"]

    def test_an_organization_administrator_accepts_for_it_from_the_emailed_link(
        self, client, people, make_organization, make_package, mailoutbox,
        django_capture_on_commit_callbacks,
    ):  # fmt: skip
        make_organization("Fabrikam", people["mallory"], {people["cole"]: "collaborator"})
        package = make_package("Bob.Tools", people["bob"])
        with django_capture_on_commit_callbacks(execute=True):
            services.ownership_request(
                package=package, new_owner_name="Fabrikam", actor=people["bob"]
            )
        (mail,) = mailoutbox
        url = re.search(r"(/packages/Bob\.Tools/owners/requests/\d+)", mail.body)[1]
        assert as_(client, people["cole"]).get(url).status_code == 404
        as_(client, people["mallory"])
        assert "asks the organization Fabrikam" in client.get(url).content.decode()
        assert client.post(url, {"action": "accept"}).status_code == 302
        assert owner_names(package) == ["Fabrikam", "bob"]
        # Its collaborator manages the listing now.
        assert as_(client, people["cole"]).get("/packages/Bob.Tools/Manage").status_code == 200


class TestManagePackages:
    def test_the_organizations_packages_appear_for_every_member(
        self, client, people, package, make_package
    ):
        make_package("Someone.Else", people["mallory"])
        for who in ("ada", "cole"):
            html = as_(client, people[who]).get("/account/Packages").content.decode()
            assert 'href="/packages/Contoso.Core/Manage"' in html
            assert "Owners:" in html and 'href="/profiles/Contoso">Contoso</a>' in html
            assert "Someone.Else" not in html
        html = as_(client, people["mallory"]).get("/account/Packages").content.decode()
        assert "Contoso.Core" not in html

    def test_pending_requests_are_listed_for_those_who_may_answer(
        self, client, people, package, make_organization, make_package
    ):
        services.ownership_request(package=package, new_owner_name="bob", actor=people["ada"])
        make_organization("Fabrikam", people["mallory"], {people["cole"]: "collaborator"})
        tools = make_package("Bob.Tools", people["bob"])
        fabrikam = services.ownership_request(
            package=tools, new_owner_name="Fabrikam", actor=people["bob"]
        )
        html = as_(client, people["bob"]).get("/account/Packages").content.decode()
        assert "You are asked to co-own Contoso.Core." in html
        html = as_(client, people["mallory"]).get("/account/Packages").content.decode()
        assert "Fabrikam is asked to co-own Bob.Tools." in html
        assert f'href="/packages/Bob.Tools/owners/requests/{fabrikam.pk}"' in html
        html = as_(client, people["cole"]).get("/account/Packages").content.decode()
        assert "asked to co-own" not in html

    def test_the_page_costs_the_same_for_few_and_many_organization_packages(
        self, client, people, package, make_package, make_organization
    ):
        as_(client, people["cole"])

        def count():
            with CaptureQueriesContext(connection) as queries:
                assert client.get("/account/Packages").status_code == 200
            return len(queries)

        few = count()
        for n in range(5):
            organization = make_organization(f"Org{n}", people["ada"], {people["cole"]: "admin"})
            make_package(f"Org{n}.Package", organization.account, people["cole"])
        assert count() == few


class TestProfilesAndPackagePages:
    def test_an_organizations_profile_lists_its_packages_and_members(
        self, client, people, package, contoso
    ):
        search_entry_refresh(package=package)
        html = client.get("/profiles/contoso").content.decode()
        assert re.search(r"<h1>Contoso <span class=\"badge\">Organization</span></h1>", html)
        assert 'href="/packages/Contoso.Core"' in html
        members = section(html, "members")
        assert 'href="/profiles/ada">ada</a>' in members
        assert 'href="/profiles/cole">cole</a>' in members
        # A user's profile is not marked.
        html = client.get("/profiles/ada").content.decode()
        assert "Organization" not in html and "data-members" not in html

    def test_members_of_an_owning_organization_see_the_manage_link(self, client, people, package):
        link = 'href="/packages/Contoso.Core/Manage"'
        assert link in as_(client, people["cole"]).get("/packages/Contoso.Core").content.decode()
        assert (
            link
            not in as_(client, people["mallory"]).get("/packages/Contoso.Core").content.decode()
        )

    def test_the_admin_marks_organizations_among_the_owners(
        self, client, make_user, people, package
    ):
        as_(client, make_user("root", is_staff=True, is_superuser=True))
        html = client.get("/admin/packages/package/").content.decode()
        assert "Contoso (organization)" in html
        services.ownership_request(package=package, new_owner_name="bob", actor=people["ada"])
        html = client.get(f"/admin/packages/package/{package.pk}/change/").content.decode()
        assert "bob, asked by ada" in html


# --- Upload for an organization --------------------------------------------------------

UPLOAD = "/packages/manage/upload"
VERIFY = "/packages/manage/verify-upload"


def send(client, data: bytes):
    return client.post(UPLOAD, {"package": SimpleUploadedFile("p.nupkg", data)})


def token_of(response) -> str:
    return re.search(r'name="token" value="([^"]+)"', response.content.decode())[1]


class TestUpload:
    def test_a_new_id_asks_whose_it_will_be_with_nothing_preselected(
        self, client, people, contoso, folders
    ):
        as_(client, people["cole"])
        send(client, make_nupkg("Contoso.New", "1.0.0"))
        page = client.get(VERIFY)
        html = page.content.decode()
        assert "choose who will own it" in html
        assert '<option value="" selected>Select an owner</option>' in html
        assert '<option value="cole">cole</option>' in html
        assert '<option value="Contoso">Contoso</option>' in html
        # Not chosen: refused, and the upload still waits.
        response = client.post(VERIFY, {"token": token_of(page)})
        assert response.status_code == 400
        assert field_error(response, "owner") == "A package owner must be selected."
        assert not Package.objects.exists()
        # Someone else's account is no choice either.
        response = client.post(VERIFY, {"token": token_of(page), "owner": "mallory"})
        assert field_error(response, "owner") == "A package owner must be selected."
        done = client.post(VERIFY, {"token": token_of(page), "owner": "Contoso"})
        assert done.status_code == 302
        assert owner_names(Package.objects.get()) == ["Contoso"]
        pushed = Event.objects.get(kind=EventKind.PACKAGE_PUSHED)
        assert pushed.actor == people["cole"]

    def test_with_no_organization_the_new_id_is_the_users_without_asking(
        self, client, people, folders
    ):
        as_(client, people["bob"])
        send(client, make_nupkg("Bob.New", "1.0.0"))
        page = client.get(VERIFY)
        assert "it will be yours" in page.content.decode()
        assert 'name="owner"' not in page.content.decode()
        assert client.post(VERIFY, {"token": token_of(page)}).status_code == 302
        assert owner_names(Package.objects.get()) == ["bob"]

    def test_a_collaborator_uploads_a_version_of_the_organizations_package(
        self, client, people, package, folders
    ):
        as_(client, people["cole"])
        send(client, make_nupkg("Contoso.Core", "2.0.0"))
        page = client.get(VERIFY)
        assert "This is a new version of your package Contoso.Core." in page.content.decode()
        assert 'name="owner"' not in page.content.decode()
        assert client.post(VERIFY, {"token": token_of(page)}).status_code == 302
        assert package.versions.count() == 2
        assert owner_names(package) == ["Contoso"]

    def test_a_non_member_cannot_upload_a_version(self, client, people, package, folders):
        as_(client, people["mallory"])
        response = send(client, make_nupkg("Contoso.Core", "2.0.0"))
        assert response.status_code == 400
        assert "belongs to another account" in field_error(response, "package")
        assert package.versions.count() == 1
