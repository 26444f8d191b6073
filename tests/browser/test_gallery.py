"""The gallery in a real Chromium: search from the header, open a package, copy its
.NET CLI command and read it back from the clipboard. See conftest.py for the browser
fixtures and the CSP guard every page carries."""

import hashlib
import io

import pytest

from packages import nupkg, services
from tests.nupkgs import make_nupkg

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - the browser fixture skips or fails first
    expect = None

CLIPBOARD = ["clipboard-read", "clipboard-write"]
README = b"""# Contoso.Json

Fast JSON for .NET.

```csharp
var value = Json.Parse(text);
```

| Feature | Supported |
|---|---|
| Streaming | yes |
"""


@pytest.fixture(autouse=True)
def _package_files(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "packages": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "packages")},
        },
    }


def push(owner, package_id, version, **kwargs):
    data = make_nupkg(package_id, version, **kwargs)
    return services.package_push(
        package=services.package_find(package_id),
        upload=services.Upload(
            file=io.BytesIO(data), size=len(data), sha512=hashlib.sha512(data).hexdigest()
        ),
        metadata=nupkg.read(io.BytesIO(data)),
        actor=owner,
    )


@pytest.fixture
def gallery(make_user):
    alice = make_user("alice")
    push(alice, "Contoso.Json", "1.0.0", description="Fast JSON for .NET.")
    push(
        alice, "Contoso.Json", "2.1.0",
        description="Fast JSON for .NET.\nStreaming reader and writer.",
        metadata_extra=(
            "<tags>json serialization</tags><readme>README.md</readme>"
            "<projectUrl>https://contoso.example/json</projectUrl>"
            '<license type="expression">MIT</license>'
            '<dependencies><group targetFramework="net8.0">'
            '<dependency id="Contoso.Core" version="1.0" /></group></dependencies>'
        ),
        extra_files={"README.md": README},
    )  # fmt: skip
    push(alice, "Contoso.Core", "1.0.0", description="Core types.")
    push(make_user("bob"), "Fabrikam.Json", "3.0.0-beta", description="Another JSON library.")
    return alice


def test_search_from_the_header_open_a_package_and_copy_the_cli_command(
    page, live_server, gallery, artifacts_dir
):
    page.context.grant_permissions(CLIPBOARD, origin=live_server.url)
    page.goto(live_server.url + "/")
    search = page.get_by_role("searchbox", name="Search for packages")
    search.fill("json")
    search.press("Enter")
    expect(page).to_have_url(live_server.url + "/packages?q=json")
    expect(page.locator(".gallery__count")).to_have_text("2 packages returned for json")
    results = page.locator(".gallery-list__item")
    expect(results).to_have_count(2)
    expect(results.first).to_contain_text("Contoso.Json")
    expect(results.first).to_contain_text("Latest version: 2.1.0")
    page.screenshot(path=artifacts_dir / "gallery-list.png", full_page=True)

    page.get_by_role("link", name="Contoso.Json", exact=True).click()
    expect(page).to_have_url(live_server.url + "/packages/Contoso.Json")
    expect(page.locator(".package-page__title")).to_have_text("Contoso.Json 2.1.0")
    expect(page.locator(".readme table")).to_contain_text("Streaming")
    expect(page.get_by_role("link", name="Contoso.Core")).to_have_attribute(
        "href", "/packages/Contoso.Core"
    )
    page.screenshot(path=artifacts_dir / "gallery-package.png", full_page=True)

    cli = page.locator("[data-copy-field]").filter(has_text=".NET CLI")
    cli.get_by_role("button", name="Copy").click()
    expect(cli.get_by_role("status")).to_have_text("Copied to the clipboard.")
    assert (
        page.evaluate("() => navigator.clipboard.readText()")
        == "dotnet add package Contoso.Json --version 2.1.0"
    )


def test_without_javascript_the_commands_are_selectable_text(new_page, live_server, gallery):
    page = new_page(java_script_enabled=False)
    page.goto(live_server.url + "/packages/contoso.json/1.0")
    expect(page.locator(".package-page__title")).to_have_text("Contoso.Json 1.0.0")
    expect(page.get_by_role("button", name="Copy")).to_have_count(0)
    command = page.get_by_role("textbox", name="Package Manager")
    expect(command).to_have_value("NuGet\\Install-Package Contoso.Json -Version 1.0.0")
    # Paging and the prerelease toggle are plain links and forms.
    page.goto(live_server.url + "/packages?q=json")
    page.get_by_role("button", name="Include prerelease").click()
    expect(page).to_have_url(live_server.url + "/packages?q=json&prerel=false")
    expect(page.locator(".gallery-list__item")).to_have_count(1)
