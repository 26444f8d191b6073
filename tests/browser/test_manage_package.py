"""The owner's pages in a real Chromium: unlist from Manage package, upload a .nupkg.

See conftest.py for the browser fixtures and the CSP guard every page carries.
"""

import io

import pytest

from packages import nupkg, services
from packages.models import Package, PackageVersion
from tests.conftest import PASSWORD
from tests.nupkgs import make_nupkg

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - the browser fixture skips or fails first
    expect = None

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


@pytest.fixture
def owner(make_user):
    return make_user("owner")


def publish(owner, package_id, version):
    data = make_nupkg(package_id, version)
    return services.package_push(
        package=services.package_find(package_id),
        upload=services.Upload(file=io.BytesIO(data), size=len(data), sha512="x"),
        metadata=nupkg.read(io.BytesIO(data)),
        actor=owner,
    )


def sign_in(page, live_server, return_path):
    page.goto(f"{live_server.url}/users/account/LogOn?returnUrl={return_path}")
    page.locator("input[name=login]").fill("owner")
    page.locator("input[name=password]").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    expect(page).to_have_url(live_server.url + return_path)


def searched_versions(page, live_server):
    answer = page.request.get(f"{live_server.url}/v3/search?q=packageid:Contoso.Core")
    assert answer.ok
    return [v["version"] for hit in answer.json()["data"] for v in hit["versions"]]


def test_unlisting_from_manage_package_hides_it_from_search_but_not_restore(
    page, live_server, owner
):
    publish(owner, "Contoso.Core", "1.0.0")
    publish(owner, "Contoso.Core", "1.1.0")
    assert searched_versions(page, live_server) == ["1.0.0", "1.1.0"]
    sign_in(page, live_server, "/packages/Contoso.Core/Manage")

    old = page.get_by_role("checkbox", name="1.0.0", exact=True)
    expect(old).to_be_checked()
    old.uncheck()
    page.get_by_role("button", name="Save").click()

    expect(page.locator(".message--success")).to_have_text("The listing of Contoso.Core was saved.")
    expect(page.get_by_role("checkbox", name="1.0.0", exact=True)).not_to_be_checked()
    expect(page.get_by_role("checkbox", name="1.1.0", exact=True)).to_be_checked()
    assert searched_versions(page, live_server) == ["1.1.0"]
    # Restorable: the exact version still downloads.
    download = page.request.get(
        f"{live_server.url}/v3/flatcontainer/contoso.core/1.0.0/contoso.core.1.0.0.nupkg"
    )
    assert download.status == 200
    assert download.body()[:2] == b"PK"

    # And it can be listed again.
    page.get_by_role("checkbox", name="1.0.0", exact=True).check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".message--success")).to_be_visible()
    assert searched_versions(page, live_server) == ["1.0.0", "1.1.0"]


def test_uploading_a_nupkg_shows_what_was_read_then_stores_it_on_submit(
    page, live_server, owner, folders, artifacts_dir
):
    path = folders / "Contoso.Core.1.2.0.nupkg"
    data = make_nupkg(
        "Contoso.Core", "1.2.0", authors="Contoso Ltd",
        description="Core types for Contoso applications.", metadata_extra=DEPENDENCIES,
    )  # fmt: skip
    path.write_bytes(data)
    sign_in(page, live_server, "/packages/manage/upload")

    page.get_by_label("Package file").set_input_files(path)
    page.get_by_role("button", name="Upload", exact=True).click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Verify details")
    details = page.locator("[data-upload-details]")
    for shown in ("Contoso.Core", "1.2.0", "Contoso Ltd", "Core types for Contoso applications.",
                  "net8.0", "Newtonsoft.Json"):  # fmt: skip
        expect(details).to_contain_text(shown)
    expect(page.get_by_role("status")).to_contain_text("Contoso.Core is a new package ID")
    assert not Package.objects.exists()
    assert not (folders / "packages").exists() or not any((folders / "packages").rglob("*.nupkg"))
    page.screenshot(path=artifacts_dir / "upload-preview.png", full_page=True)

    page.get_by_role("button", name="Submit").click()

    expect(page).to_have_url(live_server.url + "/packages/Contoso.Core/1.2.0")
    expect(page.locator(".message--success")).to_have_text("Contoso.Core 1.2.0 was uploaded.")
    version = PackageVersion.objects.get()
    assert version.package.name == "Contoso.Core"
    assert list(version.package.owners.all()) == [owner]
    assert list((folders / "uploads").iterdir()) == []


def test_an_upload_to_someone_elses_id_is_refused_next_to_the_file_field(
    page, live_server, owner, make_user, folders
):
    publish(make_user("bob"), "Contoso.Core", "1.0.0")
    path = folders / "Contoso.Core.2.0.0.nupkg"
    path.write_bytes(make_nupkg("Contoso.Core", "2.0.0"))
    sign_in(page, live_server, "/packages/manage/upload")

    page.get_by_label("Package file").set_input_files(path)
    page.get_by_role("button", name="Upload", exact=True).click()

    expect(page.locator(".field__errors")).to_contain_text(
        "The package ID Contoso.Core belongs to another account"
    )
    expect(page.get_by_role("heading", level=1)).to_have_text("Upload Package")
    assert PackageVersion.objects.count() == 1
