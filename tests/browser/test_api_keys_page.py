"""The API Keys page in a real Chromium: create, copy, manage, and the value's short life.

A key's value is on exactly one page, the answer to Create or Regenerate; a reload,
10 idle minutes or leaving the page takes it away. See conftest.py for the browser
fixtures and the CSP guard every page carries.
"""

import pytest

from apikeys import keys
from apikeys.authentication import authenticate
from apikeys.models import ApiKey
from apikeys.scopes import Action
from packages.models import Package
from tests.conftest import PASSWORD

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - the browser fixture skips or fails first
    expect = None

KEYS_PATH = "/account/apikeys"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}
PACKAGES = ("Contoso.Core", "Contoso.Utils", "Fabrikam.Web")
KEY_NAME = "CI push key"
CLIPBOARD = ["clipboard-read", "clipboard-write"]


@pytest.fixture
def owner(make_user):
    user = make_user("keyowner")
    for name in PACKAGES:
        Package.objects.create(name=name).owners.add(user)
    return user


# --- Helpers -------------------------------------------------------------------


def sign_in_to_keys(page, live_server, login):
    page.goto(live_server.url + "/users/account/LogOn?returnUrl=%2Faccount%2Fapikeys")
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    expect(page).to_have_url(live_server.url + KEYS_PATH)
    expect(page.get_by_role("heading", level=1)).to_have_text("API Keys")


def create_section(page):
    return page.locator("details#create")


def create_button(page):
    # The section's <summary> also says "Create"; the submit button is the one in the form.
    return create_section(page).locator("form").get_by_role("button", name="Create", exact=True)


def key_value(page):
    return page.get_by_role("textbox", name="API key value")


def copy_button(page):
    return page.locator("[data-new-key]").get_by_role("button", name="Copy", exact=True)


def key_rows(page):
    return page.locator("#manage .key-list > li")


def package_box(page, name):
    return page.get_by_role("checkbox", name=name, exact=True)


def counter(page):
    return page.locator("[data-package-counter]")


def push_box(page):
    # exact: the radio group under it is also labelled "Push".
    return page.get_by_role("checkbox", name="Push", exact=True)


def fill_minimal_key(page, name, glob):
    page.get_by_label("Key Name").fill(name)
    push_box(page).check()
    page.get_by_label("Glob Pattern").fill(glob)


def label_color(page, name):
    return package_box(page, name).evaluate("box => getComputedStyle(box.closest('label')).color")


def assert_no_horizontal_scroll(page):
    # Under phone emulation Chromium widens window.innerWidth to fit content that
    # overflows, so the layout viewport's clientWidth is the comparison that bites.
    widths = page.evaluate(
        """() => ({
            scroll: document.documentElement.scrollWidth,
            client: document.documentElement.clientWidth,
            inner: window.innerWidth,
        })"""
    )
    assert widths["scroll"] <= widths["client"], f"{page.url} scrolls sideways: {widths}"
    assert widths["scroll"] <= widths["inner"], f"{page.url} scrolls sideways: {widths}"


def confirm(page, live_server, row, action, pk):
    """Follow the row's ``action`` link and press the confirmation page's button."""
    row.get_by_role("link", name=action, exact=True).click()
    expect(page).to_have_url(f"{live_server.url}{KEYS_PATH}/{pk}/{action.lower()}")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{action} API key")
    expect(page.get_by_role("main")).to_contain_text(KEY_NAME)
    page.get_by_role("main").get_by_role("button", name=action, exact=True).click()


# --- The whole journey ---------------------------------------------------------


def test_create_copy_reload_edit_regenerate_revoke_delete(
    new_page, live_server, owner, artifacts_dir
):
    page = new_page(viewport=DESKTOP)
    page.context.grant_permissions(CLIPBOARD, origin=live_server.url)
    # A browser that asks before re-posting a form on reload gets a yes.
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in_to_keys(page, live_server, owner.username)

    # 1. No keys yet: the Create section is open, the counter starts at nothing.
    section = create_section(page)
    expect(section).to_have_attribute("open", "")
    expect(page.get_by_text("You don't have any API keys.")).to_be_visible()
    expect(page.get_by_label("Expires In")).to_have_value("365")
    expect(counter(page)).to_have_text("0 of 3 packages selected")

    page.get_by_label("Key Name").fill(KEY_NAME)
    # As on nuget.org, the push options wait for the Push box.
    expect(page.get_by_role("radio", name="Push only new package versions")).to_be_disabled()
    push_box(page).check()
    page.get_by_role("radio", name="Push only new package versions").check()
    push_all = page.get_by_role("radio", name="Push new packages and package versions")
    expect(push_all).not_to_be_checked()

    # The glob preview follows every keystroke.
    glob = page.get_by_label("Glob Pattern")
    glob.press_sequentially("Contoso.")
    expect(counter(page)).to_have_text("0 of 3 packages selected")
    glob.press_sequentially("*")
    expect(counter(page)).to_have_text("2 of 3 packages selected")
    for name in ("Contoso.Core", "Contoso.Utils"):
        expect(package_box(page, name)).to_be_checked()
        expect(package_box(page, name)).to_be_disabled()
        expect(page.locator(".package-list__item--covered", has_text=name)).to_have_count(1)
    fabrikam = package_box(page, "Fabrikam.Web")
    expect(fabrikam).not_to_be_checked()
    expect(fabrikam).to_be_enabled()
    # Greyed: a covered package's label is drawn in another (muted) colour.
    assert label_color(page, "Contoso.Core") != label_color(page, "Fabrikam.Web")

    fabrikam.check()
    expect(counter(page)).to_have_text("3 of 3 packages selected")
    create_button(page).click()

    # 2. The value is on the page once, with a Copy button.
    value_field = key_value(page)
    expect(value_field).to_be_visible()
    expect(value_field).to_have_attribute("readonly", "")
    expect(page.get_by_role("alert").filter(has_text="Copy your key now")).to_be_visible()
    first_value = value_field.input_value()
    assert keys.parse(first_value) is not None
    api_key = ApiKey.objects.get(owner=owner)
    assert api_key.name == KEY_NAME
    assert api_key.expiration_days == 365

    # The list below already has the new key, never used so far.
    rows = key_rows(page)
    expect(rows).to_have_count(1)
    row = rows.first
    expect(row).to_contain_text(KEY_NAME)
    expect(row).to_contain_text("Expires in 365 days")
    expect(row).to_contain_text("Push only new package versions")
    expect(row).to_contain_text("Contoso.*")
    expect(row).to_contain_text("Fabrikam.Web")
    expect(row).to_contain_text("Never used")
    expect(row).to_contain_text(api_key.hint)
    assert first_value not in row.inner_text()
    page.screenshot(path=artifacts_dir / "apikeys-created.png", full_page=True)

    found = authenticate(first_value)
    assert found is not None
    assert found.pk == api_key.pk
    assert found.owner_id == owner.pk
    grant = found.grant
    assert grant.actions == {Action.PUSH_VERSION.value}
    assert grant.globs == ("Contoso.*",)
    # The glob-covered boxes are disabled, so only the picked package is sent.
    assert grant.package_ids == {"fabrikam.web"}
    for name in PACKAGES:
        assert grant.covers(name), name
    assert not grant.covers("Northwind.Core")

    copy = copy_button(page)
    expect(copy).to_be_visible()
    copy.click()
    expect(page.locator("[data-copy-status]")).to_have_text("Copied.")
    assert page.evaluate("() => navigator.clipboard.readText()") == first_value

    # 3. A reload (Chromium re-sends the POST) shows the list, never the value again.
    page.reload()
    expect(page).to_have_url(live_server.url + KEYS_PATH)
    expect(page.get_by_text("That form was already sent.")).to_be_visible()
    expect(key_value(page)).to_have_count(0)
    expect(copy_button(page)).to_have_count(0)
    assert first_value not in page.content()
    assert ApiKey.objects.filter(owner=owner).count() == 1

    # 4. The Manage list; authenticate() above counted as a use.
    row = key_rows(page).first
    expect(key_rows(page)).to_have_count(1)
    expect(row).to_contain_text("Expires in 365 days")
    expect(row).to_contain_text("Push only new package versions")
    expect(row).to_contain_text("Contoso.*")
    expect(row).not_to_contain_text("Never used")
    expect(row.locator("time")).to_have_count(2)  # created and last used
    expect(create_section(page)).not_to_have_attribute("open", "")

    row.get_by_role("link", name="Edit", exact=True).click()
    expect(page).to_have_url(f"{live_server.url}{KEYS_PATH}/{api_key.pk}/edit")
    glob = page.get_by_label("Glob Pattern")
    expect(glob).to_have_value("Contoso.*")
    expect(counter(page)).to_have_text("3 of 3 packages selected")
    expect(package_box(page, "Fabrikam.Web")).to_be_enabled()
    glob.fill("Fabrikam.*")
    expect(counter(page)).to_have_text("1 of 3 packages selected")
    expect(package_box(page, "Fabrikam.Web")).to_be_disabled()
    expect(package_box(page, "Contoso.Core")).not_to_be_checked()
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page).to_have_url(live_server.url + KEYS_PATH)
    expect(page.get_by_text(f"The packages of “{KEY_NAME}” were saved.")).to_be_visible()
    row = key_rows(page).first
    expect(row).to_contain_text("Fabrikam.*")
    expect(row).not_to_contain_text("Contoso.*")
    api_key.refresh_from_db()
    assert api_key.globs == ["Fabrikam.*"]
    # Fabrikam.Web was picked by hand; the glob covering it does not drop the pick.
    assert api_key.package_ids == ["Fabrikam.Web"]
    # Name, scopes and expiry stay.
    assert api_key.name == KEY_NAME
    assert api_key.actions == [Action.PUSH_VERSION.value]
    assert api_key.grant.covers("Fabrikam.Web")
    assert not api_key.grant.covers("Contoso.Core")
    page.screenshot(path=artifacts_dir / "apikeys-manage.png", full_page=True)

    # 5. Regenerate: a new value, the old one dead at once.
    confirm(page, live_server, row, "Regenerate", api_key.pk)
    value_field = key_value(page)
    expect(value_field).to_be_visible()
    second_value = value_field.input_value()
    assert second_value and second_value != first_value
    expect(copy_button(page)).to_be_visible()
    expect(key_rows(page)).to_have_count(1)
    expect(key_rows(page).first).to_contain_text("Expires in 365 days")
    assert authenticate(first_value) is None
    regenerated = authenticate(second_value)
    assert regenerated is not None
    assert regenerated.pk == api_key.pk
    assert regenerated.grant.globs == ("Fabrikam.*",)
    assert regenerated.grant.actions == {Action.PUSH_VERSION.value}

    # 6. Revoke: listed as Revoked, with a banner, and the value no longer works.
    confirm(page, live_server, key_rows(page).first, "Revoke", api_key.pk)
    expect(page).to_have_url(live_server.url + KEYS_PATH)
    row = key_rows(page).first
    expect(row.locator(".badge")).to_have_text("Revoked")
    expect(row).not_to_contain_text("Expires in")
    expect(row.get_by_role("link", name="Revoke", exact=True)).to_have_count(0)
    banner = page.get_by_text("One of your API keys was revoked and no longer works.")
    expect(banner).to_be_visible()
    assert second_value not in page.content()
    assert authenticate(second_value) is None
    page.screenshot(path=artifacts_dir / "apikeys-revoked.png", full_page=True)

    # 7. Delete: gone for good.
    confirm(page, live_server, row, "Delete", api_key.pk)
    expect(page).to_have_url(live_server.url + KEYS_PATH)
    expect(page.get_by_text("You don't have any API keys.")).to_be_visible()
    expect(page.get_by_text(f"“{KEY_NAME}” was deleted.")).to_be_visible()
    expect(key_rows(page)).to_have_count(0)
    expect(page.get_by_text("was revoked and no longer works")).to_have_count(0)
    expect(create_section(page)).to_have_attribute("open", "")
    assert not ApiKey.objects.filter(owner=owner).exists()


# --- The value's short life ----------------------------------------------------


def test_ten_idle_minutes_remove_the_value(new_page, live_server, owner):
    page = new_page(viewport=DESKTOP)
    # Before the first page loads, so that the page's timers run on this clock.
    page.clock.install()
    sign_in_to_keys(page, live_server, owner.username)
    fill_minimal_key(page, "idle key", "*")
    create_button(page).click()
    value_field = key_value(page)
    expect(value_field).to_be_visible()
    value = value_field.input_value()
    status = page.locator("[data-copy-status]")

    # Activity restarts the countdown: 9 + 9 minutes with a mouse move between.
    page.clock.fast_forward("09:00")
    expect(value_field).to_be_visible()
    page.mouse.move(200, 300)
    page.mouse.move(220, 320)
    page.clock.fast_forward("09:00")
    expect(value_field).to_be_visible()
    expect(status).to_have_text("")

    # Ten quiet minutes: the value and the Copy button go, a message says why.
    page.clock.fast_forward("11:00")
    expect(key_value(page)).to_have_count(0)
    expect(copy_button(page)).to_have_count(0)
    expect(status).to_contain_text("removed from this page after 10 minutes without activity")
    assert value not in page.content()
    # The key itself still works; only the page forgot the value.
    assert authenticate(value) is not None


def test_copy_falls_back_to_the_selection_without_the_clipboard_api(new_page, live_server, owner):
    page = new_page(viewport=DESKTOP)
    page.context.grant_permissions(CLIPBOARD, origin=live_server.url)
    # As on plain HTTP or in an old browser: no navigator.clipboard at all.
    page.add_init_script(
        "Object.defineProperty(Navigator.prototype, 'clipboard', "
        "{get: () => undefined, configurable: true});"
    )
    sign_in_to_keys(page, live_server, owner.username)
    assert page.evaluate("() => navigator.clipboard === undefined")
    fill_minimal_key(page, "fallback key", "Contoso.*")
    create_button(page).click()
    value = key_value(page).input_value()

    copy_button(page).click()
    expect(page.locator("[data-copy-status]")).to_have_text("Copied.")
    # execCommand("copy") put the selected value on the clipboard; read it from a
    # page of the same browser that still has the clipboard API.
    reader = page.context.new_page()
    reader.goto(live_server.url + "/")
    reader.bring_to_front()
    assert reader.evaluate("() => navigator.clipboard.readText()") == value


# --- Without JavaScript, and on a phone ----------------------------------------


def test_without_javascript_a_key_is_created_through_the_plain_form(new_page, live_server, owner):
    page = new_page(java_script_enabled=False, viewport=DESKTOP)
    sign_in_to_keys(page, live_server, owner.username)

    section = create_section(page)
    expect(section).to_have_attribute("open", "")
    expect(page.get_by_label("Key Name")).to_be_visible()
    expect(counter(page)).to_be_hidden()  # the preview needs the script
    fill_minimal_key(page, "no-js key", "Contoso.*")
    create_button(page).click()

    value_field = key_value(page)
    expect(value_field).to_be_visible()
    value = value_field.input_value()
    expect(page.locator("[data-new-key]").locator("button", has_text="Copy")).to_be_hidden()
    found = authenticate(value)
    assert found is not None
    # The Create form's default push scope, as on nuget.org.
    assert found.grant.actions == {Action.PUSH.value}
    assert found.grant.globs == ("Contoso.*",)
    assert found.grant.package_ids == frozenset()

    # The one-time token still protects a reload without the script.
    page.reload()
    expect(key_value(page)).to_have_count(0)
    assert value not in page.content()
    assert ApiKey.objects.filter(owner=owner).count() == 1


def test_on_a_phone_the_page_fits_with_the_create_section_open(
    new_page, live_server, owner, artifacts_dir
):
    page = new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    sign_in_to_keys(page, live_server, owner.username)
    expect(create_section(page)).to_have_attribute("open", "")
    assert_no_horizontal_scroll(page)

    fill_minimal_key(page, "a phone key with a rather long name to wrap", "Contoso.*")
    create_button(page).click()
    expect(key_value(page)).to_be_visible()
    assert_no_horizontal_scroll(page)

    # With a key, Create starts closed; open it again.
    section = create_section(page)
    expect(section).not_to_have_attribute("open", "")
    section.locator("summary").click()
    expect(section).to_have_attribute("open", "")
    expect(page.get_by_label("Key Name")).to_be_visible()
    assert_no_horizontal_scroll(page)
    for locator in (key_value(page), copy_button(page), create_button(page)):
        box = locator.bounding_box()
        assert box is not None
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    page.screenshot(path=artifacts_dir / "apikeys-phone.png", full_page=True)


def test_on_a_phone_each_scope_control_sits_beside_its_label(new_page, live_server, owner):
    page = new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    sign_in_to_keys(page, live_server, owner.username)
    for role, name in (
        ("checkbox", "Push"),
        ("radio", "Push new packages and package versions"),
        ("radio", "Push only new package versions"),
        ("checkbox", "Unlist or relist package versions"),
    ):
        control = page.get_by_role(role, name=name, exact=True)
        label = page.locator(f"label[for='{control.get_attribute('id')}']")
        box, text = control.bounding_box(), label.bounding_box()
        assert box is not None and text is not None
        # Beside: the label starts right of the control and its first line is level with it.
        assert text["x"] >= box["x"] + box["width"], (name, box, text)
        assert text["y"] <= box["y"] + box["height"], (name, box, text)
