"""An organization in a real Chromium, from its creation to a member's removal.

Alice adds Contoso and invites Bob; Bob accepts from the emailed link, makes a key
whose Package Owner is Contoso and pushes with it; the package is Contoso's. Alice
removes Bob, and his key is refused at the next push, without being deleted.
"""

import re
import urllib.error
import urllib.request

from django.core import mail

from apikeys.models import ApiKey
from packages.models import Package
from tests.browser.test_api_keys_page import create_button, key_value, push_box
from tests.conftest import PASSWORD
from tests.nupkgs import make_nupkg, multipart

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - the browser fixture skips or fails first
    expect = None


def sign_in(page, live_server, login, target):
    page.goto(live_server.url + "/users/account/LogOn?returnUrl=" + target.replace("/", "%2F"))
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    expect(page).to_have_url(live_server.url + target)


def push(live_server, key: str, version: str) -> int:
    body, content_type = multipart(make_nupkg("Contoso.Core", version))
    request = urllib.request.Request(
        live_server.url + "/api/v2/package/",
        data=body,
        method="PUT",
        headers={"X-NuGet-ApiKey": key, "Content-Type": content_type},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_create_invite_accept_push_as_the_organization_then_remove_the_member(
    new_page, live_server, make_user, artifacts_dir
):
    make_user("alice")
    bob = make_user("bob")
    alice_page = new_page(viewport={"width": 1280, "height": 800})
    bob_page = new_page(viewport={"width": 1280, "height": 800})

    # Alice: Account Settings, Add organization.
    sign_in(alice_page, live_server, "alice", "/account")
    alice_page.get_by_role("link", name="Add organization").click()
    alice_page.get_by_label("Organization name").fill("Contoso")
    alice_page.get_by_label("Contact email").fill("team@contoso.example")
    alice_page.get_by_role("button", name="Add", exact=True).click()
    expect(alice_page).to_have_url(live_server.url + "/organization/Contoso/Manage")

    # She invites Bob as a collaborator; he is emailed a link.
    mail.outbox.clear()
    alice_page.get_by_label("User name or email address").fill("bob")
    alice_page.get_by_label("Collaborator").check()
    alice_page.get_by_role("button", name="Invite").click()
    expect(alice_page.get_by_role("main")).to_contain_text("bob")
    (invitation_mail,) = mail.outbox
    assert invitation_mail.to == [bob.email]
    link = re.search(r"https?://\S+|/organization/invitations/\d+", invitation_mail.body)[0]
    path = re.sub(r"^https?://[^/]+", "", link)

    # Bob follows the link, signs in on the way, and accepts.
    bob_page.goto(live_server.url + path)
    bob_page.locator("input[name=login]").fill("bob")
    bob_page.locator("input[name=password]").fill(PASSWORD)
    bob_page.get_by_role("button", name="Sign In").click()
    expect(bob_page).to_have_url(live_server.url + path)
    expect(bob_page.get_by_role("main")).to_contain_text("Contoso")
    bob_page.get_by_role("button", name="Accept").click()

    # His key acts for Contoso.
    bob_page.goto(live_server.url + "/account/apikeys")
    bob_page.get_by_label("Package Owner").select_option("Contoso")
    bob_page.get_by_label("Key Name").fill("Contoso CI")
    push_box(bob_page).check()
    bob_page.get_by_label("Glob Pattern").fill("Contoso.*")
    create_button(bob_page).click()
    expect(key_value(bob_page)).to_be_visible()
    key = key_value(bob_page).input_value()
    bob_page.screenshot(path=artifacts_dir / "organization-key.png", full_page=True)

    assert push(live_server, key, "1.0.0") == 201
    package = Package.objects.get(name="Contoso.Core")
    assert [o.username for o in package.owners.all()] == ["Contoso"]

    # The package is on the organization's profile.
    bob_page.goto(live_server.url + "/profiles/Contoso")
    expect(bob_page.get_by_role("main")).to_contain_text("Contoso.Core")

    # Alice removes Bob; his key stops at the next push and is still there.
    alice_page.goto(live_server.url + "/organization/Contoso/Manage")
    alice_page.on("dialog", lambda dialog: dialog.accept())
    row = (
        alice_page.locator("li, tr")
        .filter(has_text="bob")
        .filter(has=alice_page.get_by_role("button", name="Remove"))
    )
    row.get_by_role("button", name="Remove").click()
    expect(alice_page.get_by_text("bob was removed from Contoso.")).to_be_visible()
    expect(alice_page.get_by_role("region", name="Members")).not_to_contain_text("bob")
    alice_page.screenshot(path=artifacts_dir / "organization-manage.png", full_page=True)

    assert push(live_server, key, "1.0.1") == 403
    assert ApiKey.objects.filter(owner=bob).count() == 1
    assert package.versions.count() == 1
