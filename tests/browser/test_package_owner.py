"""The Package Owner select on the API Keys page: packages and the glob preview
follow the chosen owner."""

import pytest

from apikeys.models import ApiKey
from packages.models import Package
from tests.browser.test_api_keys_page import (
    counter,
    create_button,
    key_value,
    package_box,
    push_box,
    sign_in_to_keys,
)

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover
    expect = None


@pytest.fixture
def member(make_user, make_organization):
    user = make_user("keyowner")
    Package.objects.create(name="Own.Tool").owners.add(user)
    organization = make_organization("Contoso", make_user("olivia"), {user: "collaborator"})
    for name in ("Contoso.Core", "Contoso.Utils"):
        Package.objects.create(name=name).owners.add(organization.account)
    Package.objects.create(name="Shared.Lib").owners.add(user, organization.account)
    return user


def test_packages_and_the_preview_follow_the_package_owner(new_page, live_server, member):
    page = new_page(viewport={"width": 1280, "height": 800})
    sign_in_to_keys(page, live_server, "keyowner")
    owner = page.get_by_label("Package Owner")
    expect(owner).to_have_value("")
    # No owner chosen yet: no packages offered.
    for name in ("Own.Tool", "Contoso.Core", "Shared.Lib"):
        expect(package_box(page, name)).to_be_hidden()
    expect(page.locator("[data-no-owner-text]")).to_be_visible()

    owner.select_option("Contoso")
    expect(package_box(page, "Contoso.Core")).to_be_visible()
    expect(package_box(page, "Shared.Lib")).to_be_visible()
    expect(package_box(page, "Own.Tool")).to_be_hidden()
    expect(counter(page)).to_have_text("0 of 3 packages selected")
    page.get_by_label("Glob Pattern").fill("Contoso.*")
    expect(counter(page)).to_have_text("2 of 3 packages selected")
    package_box(page, "Shared.Lib").check()
    expect(counter(page)).to_have_text("3 of 3 packages selected")

    owner.select_option("keyowner")
    expect(package_box(page, "Contoso.Core")).to_be_hidden()
    expect(package_box(page, "Own.Tool")).to_be_visible()
    # Shared.Lib is the user's too: still picked.
    expect(counter(page)).to_have_text("1 of 2 packages selected")

    owner.select_option("Contoso")
    page.get_by_label("Key Name").fill("For Contoso")
    push_box(page).check()
    create_button(page).click()
    expect(key_value(page)).to_be_visible()
    api_key = ApiKey.objects.get()
    assert api_key.package_owner.username == "Contoso"
    assert api_key.package_ids == ["Shared.Lib"]
    assert api_key.globs == ["Contoso.*"]
