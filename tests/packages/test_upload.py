"""Upload (/packages/manage/upload): choose a .nupkg, verify what was read, Submit or Cancel.

Nothing is stored before Submit: the pending file waits in the uploads folder, and
package storage and the database hold nothing of it until then.
"""

import io
import os
import re
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from audit.models import Event, EventKind
from packages import nupkg, services, uploads
from packages.models import Package, PackageVersion
from tests.nupkgs import make_nupkg

pytestmark = pytest.mark.django_db

UPLOAD = "/packages/manage/upload"
VERIFY = "/packages/manage/verify-upload"
CANCEL = "/packages/manage/cancel-upload"
DEPENDENCIES = (
    '<dependencies><group targetFramework="net8.0">'
    '<dependency id="Newtonsoft.Json" version="13.0.1" /></group></dependencies>'
)


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


def pending_files(folders):
    folder = folders / "uploads"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def stored_files(folders):
    folder = folders / "packages"
    return sorted(str(p) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def send(client, data: bytes, name="Contoso.Core.1.0.0.nupkg"):
    return client.post(UPLOAD, {"package": SimpleUploadedFile(name, data)})


def token_of(response) -> str:
    return re.search(r'name="token" value="([^"]+)"', response.content.decode())[1]


def field_errors(response) -> str:
    """The text of the errors shown next to the file field."""
    found = re.search(
        r'<div class="field__errors" id="id_package_error">(.*?)</div>',
        response.content.decode(),
        re.S,
    )
    return re.sub(r"<[^>]+>", "", found[1]).strip() if found else ""


def publish(owner, package_id="Contoso.Core", version="1.0.0"):
    data = make_nupkg(package_id, version)
    return services.package_push(
        package=services.package_find(package_id),
        upload=services.Upload(file=io.BytesIO(data), size=len(data), sha512="x"),
        metadata=nupkg.read(io.BytesIO(data)),
        actor=owner,
    )


@pytest.fixture
def alice(make_user, client):
    user = make_user("alice")
    client.force_login(user)
    return user


class TestWhoMayUpload:
    def test_anonymous_visitors_are_sent_to_sign_in(self, client, folders):
        response = client.get(UPLOAD)
        assert response.status_code == 302
        assert response["Location"].startswith("/users/account/LogOn?")
        assert send(client, make_nupkg()).status_code == 302
        assert pending_files(folders) == []

    def test_an_unconfirmed_user_sees_the_notice_and_cannot_upload(
        self, client, make_user, folders
    ):
        client.force_login(make_user("newbie", confirmed=False))
        html = client.get(UPLOAD).content.decode()
        assert "You must confirm your account before you can upload a package." in html
        assert 'type="file"' not in html
        response = send(client, make_nupkg())
        assert response.status_code == 403
        assert pending_files(folders) == []
        assert not Package.objects.exists()

    def test_the_page_offers_a_file_field_with_the_size_limit(self, client, alice, settings):
        settings.PACKAGES_MAX_SIZE = 10 * 1024 * 1024
        html = client.get(UPLOAD).content.decode()
        assert 'enctype="multipart/form-data"' in html
        assert 'type="file" name="package"' in html
        assert "A .nupkg file of at most 10.0\xa0MB." in html


class TestANewPackage:
    def test_upload_verify_submit_stores_it_as_the_users(self, client, alice, folders):
        data = make_nupkg(
            "Contoso.Core", "1.2.0", authors="Contoso Ltd", description="Core types.",
            metadata_extra=DEPENDENCIES,
        )  # fmt: skip
        response = send(client, data)
        assert response.status_code == 302
        assert response["Location"] == VERIFY
        # Waiting, and nothing stored: no row, no file in package storage.
        assert len(pending_files(folders)) == 1
        assert stored_files(folders) == []
        assert not Package.objects.exists()
        assert not Event.objects.filter(kind=EventKind.PACKAGE_PUSHED).exists()

        page = client.get(VERIFY)
        assert page.status_code == 200
        html = page.content.decode()
        for shown in ("Verify details", "Contoso.Core", "1.2.0", "Contoso Ltd", "Core types.",
                      "net8.0", "Newtonsoft.Json", "13.0.1",
                      "Contoso.Core is a new package ID: it will be yours."):  # fmt: skip
            assert shown in html
        assert stored_files(folders) == []

        done = client.post(VERIFY, {"token": token_of(page)})
        assert done.status_code == 302
        assert done["Location"] == "/packages/Contoso.Core/1.2.0"
        package = Package.objects.get()
        assert list(package.owners.all()) == [alice]
        version = PackageVersion.objects.get()
        assert version.normalized_version == "1.2.0"
        assert (version.size, version.pushed_by) == (len(data), alice)
        assert version.dependencies[0]["dependencies"][0]["id"] == "Newtonsoft.Json"
        assert stored_files(folders) == [
            str(folders / "packages/contoso.core/1.2.0/contoso.core.1.2.0.nupkg")
        ]
        assert pending_files(folders) == []
        (event,) = Event.objects.filter(kind=EventKind.PACKAGE_PUSHED)
        assert (event.actor, event.package_id, event.details["new_package"]) == (
            alice, "Contoso.Core", True
        )  # fmt: skip
        assert event.api_key_id is None
        assert "Contoso.Core 1.2.0 was uploaded." in client.get(done["Location"]).content.decode()
        # The file is the one restore downloads, whole.
        download = client.get("/v3/flatcontainer/contoso.core/1.2.0/contoso.core.1.2.0.nupkg")
        assert b"".join(download.streaming_content) == data

    def test_the_pending_file_is_private_and_named_by_the_server(self, client, alice, folders):
        send(client, make_nupkg(), name="../../etc/passwd.nupkg")
        (name,) = pending_files(folders)
        assert re.fullmatch(rf"{alice.pk}-[0-9a-f]{{32}}\.nupkg", name)
        assert os.stat(folders / "uploads").st_mode & 0o777 == 0o700
        assert os.stat(folders / "uploads" / name).st_mode & 0o777 == 0o600


class TestANewVersion:
    def test_the_owner_adds_a_version(self, client, alice, folders):
        publish(alice)
        send(client, make_nupkg("contoso.core", "2.0.0"))
        page = client.get(VERIFY)
        assert "This is a new version of your package Contoso.Core." in page.content.decode()
        assert client.post(VERIFY, {"token": token_of(page)}).status_code == 302
        assert sorted(PackageVersion.objects.values_list("normalized_version", flat=True)) == [
            "1.0.0", "2.0.0"
        ]  # fmt: skip
        event = Event.objects.filter(kind=EventKind.PACKAGE_PUSHED).latest("pk")
        assert event.details["new_package"] is False

    def test_someone_elses_id_is_refused_next_to_the_file_field(
        self, client, alice, make_user, folders
    ):
        publish(make_user("bob"))
        response = send(client, make_nupkg("Contoso.Core", "2.0.0"))
        assert response.status_code == 400
        assert field_errors(response) == (
            "The package ID Contoso.Core belongs to another account: only its owners can "
            "upload versions of it."
        )
        assert pending_files(folders) == []
        assert PackageVersion.objects.count() == 1
        (event,) = Event.objects.filter(kind=EventKind.PACKAGE_REFUSED)
        assert (event.actor, event.package_id, event.details["code"]) == (
            alice, "Contoso.Core", "not_owner"
        )  # fmt: skip

    def test_an_existing_version_is_refused_next_to_the_file_field(self, client, alice, folders):
        publish(alice, version="1.0.0")
        response = send(client, make_nupkg("Contoso.Core", "1.0"))
        assert response.status_code == 400
        assert field_errors(response) == (
            "Version 1.0.0 of Contoso.Core exists already and cannot be replaced: "
            "give the package a new version number."
        )
        assert pending_files(folders) == []

    def test_an_id_taken_by_someone_else_before_submit_is_refused_then(
        self, client, alice, make_user, folders
    ):
        send(client, make_nupkg())
        page = client.get(VERIFY)
        publish(make_user("bob"))
        response = client.post(VERIFY, {"token": token_of(page)})
        assert response.status_code == 400
        assert "belongs to another account" in field_errors(response)
        assert list(Package.objects.get().owners.all()) != [alice]
        assert pending_files(folders) == []
        assert len(stored_files(folders)) == 1  # bob's only
        (event,) = Event.objects.filter(kind=EventKind.PACKAGE_REFUSED)
        assert (event.actor, event.details["code"]) == (alice, "not_owner")

    def test_an_id_taken_before_the_verify_page_is_refused_there(
        self, client, alice, make_user, folders
    ):
        send(client, make_nupkg())
        publish(make_user("bob"))
        response = client.get(VERIFY)
        assert response.status_code == 400
        assert "belongs to another account" in field_errors(response)
        assert pending_files(folders) == []
        assert Event.objects.filter(kind=EventKind.PACKAGE_REFUSED, actor=alice).count() == 1


class TestInvalidPackages:
    @pytest.mark.parametrize(
        "data, message",
        [
            (b"not a zip at all", "The package is not a valid zip archive."),
            (make_nupkg(with_nuspec=False), "The package has no .nuspec file at its root."),
        ],
    )
    def test_the_readers_message_is_shown_next_to_the_file_field(
        self, client, alice, folders, data, message
    ):
        # The same reader, and so the same words, as a push through the API.
        with pytest.raises(nupkg.InvalidPackage) as invalid:
            nupkg.read(io.BytesIO(data))
        assert invalid.value.reason == message
        response = send(client, data)
        assert response.status_code == 400
        assert field_errors(response) == message
        assert pending_files(folders) == []
        assert not Package.objects.exists()

    def test_a_package_over_the_size_limit_is_refused(self, client, alice, folders, settings):
        data = make_nupkg(extra_files={"lib/big.bin": os.urandom(8192)})
        settings.PACKAGES_MAX_SIZE = len(data) - 1
        response = send(client, data)
        assert response.status_code == 400
        assert field_errors(response).startswith("The package is larger than ")
        assert pending_files(folders) == []

    def test_no_file_chosen(self, client, alice):
        response = client.post(UPLOAD, {})
        assert response.status_code == 400
        assert field_errors(response) == "Choose a .nupkg file to upload."

    def test_the_form_needs_its_csrf_token_and_leaves_no_file(self, alice, folders):
        client = Client(enforce_csrf_checks=True)
        client.force_login(alice)
        # A cookie but no token in the form: the check reads the body, file and all.
        client.cookies["csrftoken"] = "a" * 32
        assert send(client, make_nupkg()).status_code == 403
        assert pending_files(folders) == []


class TestCancelAndStaleUploads:
    def test_cancel_deletes_the_pending_file(self, client, alice, folders):
        send(client, make_nupkg())
        token = token_of(client.get(VERIFY))
        response = client.post(CANCEL, {"token": token})
        assert response.status_code == 302
        assert response["Location"] == UPLOAD
        assert pending_files(folders) == []
        assert not Package.objects.exists()
        assert client.get(VERIFY)["Location"] == UPLOAD
        # Submitting the cancelled upload is a clean refusal.
        again = client.post(VERIFY, {"token": token})
        assert again.status_code == 400
        assert "already submitted or cancelled, or it has expired" in field_errors(again)

    def test_submitting_twice_stores_once(self, client, alice, folders):
        send(client, make_nupkg())
        token = token_of(client.get(VERIFY))
        assert client.post(VERIFY, {"token": token}).status_code == 302
        again = client.post(VERIFY, {"token": token})
        assert again.status_code == 400
        assert "already submitted or cancelled" in field_errors(again)
        assert PackageVersion.objects.count() == 1
        assert Event.objects.filter(kind=EventKind.PACKAGE_PUSHED).count() == 1

    def test_a_new_upload_replaces_the_pending_one(self, client, alice, folders):
        send(client, make_nupkg("Contoso.First"))
        first_token = token_of(client.get(VERIFY))
        (first,) = pending_files(folders)
        send(client, make_nupkg("Contoso.Second"))
        (second,) = pending_files(folders)
        assert second != first
        # The first page's Submit is stale now: refused, and the second still waits.
        stale = client.post(VERIFY, {"token": first_token})
        assert stale.status_code == 400
        assert not Package.objects.exists()
        assert "Contoso.Second" in client.get(VERIFY).content.decode()

    def test_one_pending_upload_per_user_across_sessions(self, alice, folders):
        browsers = [Client(), Client()]
        for browser in browsers:
            browser.force_login(alice)
        send(browsers[0], make_nupkg("Contoso.First"))
        send(browsers[1], make_nupkg("Contoso.Second"))
        assert len(pending_files(folders)) == 1
        assert browsers[0].get(VERIFY)["Location"] == UPLOAD

    def test_a_forged_token_is_refused(self, client, alice, folders):
        send(client, make_nupkg())
        response = client.post(VERIFY, {"token": "forged"})
        assert response.status_code == 400
        assert len(pending_files(folders)) == 1

    def test_abandoned_uploads_are_swept_after_an_hour(self, client, alice, folders, make_user):
        send(client, make_nupkg())
        (abandoned,) = pending_files(folders)
        other = Client()
        other.force_login(make_user("bob"))
        send(other, make_nupkg("Fabrikam.Web"))
        fresh = next(name for name in pending_files(folders) if name != abandoned)
        hour_ago = time.time() - uploads.LIFETIME - 1
        os.utime(folders / "uploads" / abandoned, (hour_ago, hour_ago))
        # A half-received body left by a crashed worker goes too.
        leftover = folders / "uploads" / "cut-off.part"
        leftover.write_bytes(b"PK")
        os.utime(leftover, (hour_ago, hour_ago))

        assert other.get(UPLOAD).status_code == 200

        assert pending_files(folders) == [fresh]
        assert client.get(VERIFY)["Location"] == UPLOAD
