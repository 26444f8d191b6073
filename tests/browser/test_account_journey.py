"""A visitor registers, confirms, signs out and in, and drives the user menu.

Runs a real Chromium against ``live_server``; see conftest.py for the browser
and the CSP guard every page carries.
"""

import re

from allauth.account.models import EmailAddress

from tests.conftest import PASSWORD

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - the browser fixture skips or fails first
    expect = None

CONFIRM_LINK = re.compile(r"https?://\S+/users/account/confirm-email/[^/\s]+/")
UNCONFIRMED = "is not confirmed yet"
PHONE = {"width": 375, "height": 740}


def header(page):
    return page.locator(".site-header")


def menu_button(page):
    return page.locator("[data-menu-button]")


def menu_list(page):
    return page.locator("#user-menu-list")


def sign_in(page, live_server, login, password=PASSWORD):
    page.goto(live_server.url + "/users/account/LogOn?returnUrl=%2F")
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill(password)
    page.get_by_role("button", name="Sign In").click()
    expect(page).to_have_url(live_server.url + "/")


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
    assert widths["scroll"] <= widths["inner"], f"{page.url} scrolls sideways: {widths}"
    assert widths["scroll"] <= widths["client"], f"{page.url} scrolls sideways: {widths}"


def test_register_confirm_sign_out_sign_in_and_use_the_menu(
    page, live_server, mailoutbox, artifacts_dir
):
    username = "newcomer"
    email = "newcomer@example.com"

    page.goto(live_server.url + "/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    page.screenshot(path=artifacts_dir / "home.png", full_page=True)

    # Register from the header link.
    header(page).get_by_role("link", name="Register").click()
    expect(page).to_have_url(live_server.url + "/users/account/Register")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password1]").fill(PASSWORD)
    page.locator("input[name=password2]").fill(PASSWORD)
    page.get_by_role("button", name="Sign Up").click()

    # Signing up signs nobody in: the page asks to confirm the address.
    expect(page).to_have_url(live_server.url + "/users/account/confirm-email/")
    expect(page.get_by_role("heading", name="Verify Your Email Address")).to_be_visible()
    expect(menu_button(page)).to_have_count(0)

    # An unconfirmed user may sign in, and is told to confirm.
    sign_in(page, live_server, username)
    banner = page.get_by_text(UNCONFIRMED)
    expect(banner).to_be_visible()
    expect(banner).to_contain_text(email)
    expect(page.get_by_role("button", name="Resend confirmation email")).to_be_visible()
    expect(menu_button(page)).to_contain_text(username)

    # Confirm through the link in the email.
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == [email]
    links = CONFIRM_LINK.findall(mailoutbox[0].body)
    assert links, mailoutbox[0].body
    page.goto(links[0])
    page.get_by_role("button", name="Confirm", exact=True).click()
    expect(page.get_by_text(f"You have confirmed {email}")).to_be_visible()
    assert EmailAddress.objects.get(email=email).verified
    expect(page.get_by_text(UNCONFIRMED)).to_have_count(0)
    expect(page.get_by_role("button", name="Resend confirmation email")).to_have_count(0)

    # Sign out through the user menu.
    menu_button(page).click()
    page.get_by_role("button", name="Sign out").click()
    expect(header(page).get_by_role("link", name="Sign in")).to_be_visible()
    expect(menu_button(page)).to_have_count(0)

    # Sign in again; returnUrl brings us home.
    sign_in(page, live_server, username)
    button, items = menu_button(page), menu_list(page)
    expect(button).to_be_visible()
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(items).to_be_hidden()

    # Mouse: the button opens the menu, Escape closes it and returns focus.
    button.click()
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(items).to_be_visible()
    expect(items.get_by_role("link", name="Account Settings")).to_be_visible()
    page.screenshot(path=artifacts_dir / "user-menu-open.png")
    page.keyboard.press("Escape")
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(items).to_be_hidden()
    expect(button).to_be_focused()
    assert page.evaluate("document.activeElement === document.querySelector('[data-menu-button]')")

    # Keyboard: ArrowDown opens on the first item, ArrowDown moves, Enter follows.
    page.locator("main h1").click()  # move focus away first
    button.focus()
    expect(button).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(items).to_be_visible()
    expect(items.get_by_role("link", name="Account Settings")).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(items.get_by_role("link", name="API Keys")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(live_server.url + "/account/apikeys")
    expect(page.get_by_role("heading", level=1)).to_have_text("API Keys")


def test_without_javascript_the_menu_is_a_plain_list_of_links(
    new_page, live_server, make_user, artifacts_dir
):
    make_user("plainlist")
    page = new_page(java_script_enabled=False, viewport={"width": 1280, "height": 800})
    sign_in(page, live_server, "plainlist")
    page.screenshot(path=artifacts_dir / "user-menu-no-js.png")

    nav = header(page)
    for name in ("Account Settings", "API Keys", "Manage Packages"):
        expect(nav.get_by_role("link", name=name)).to_be_visible()
    expect(nav.get_by_role("button", name="Sign out")).to_be_visible()
    expect(menu_button(page)).to_be_hidden()

    nav.get_by_role("link", name="API Keys").click()
    expect(page).to_have_url(live_server.url + "/account/apikeys")
    expect(page.get_by_role("heading", level=1)).to_have_text("API Keys")


def test_phone_width_pages_fit_and_the_open_menu_stays_on_screen(
    new_page, live_server, make_user, artifacts_dir
):
    make_user("phoneuser")
    page = new_page(viewport=PHONE, is_mobile=True, has_touch=True)

    page.goto(live_server.url + "/")
    expect(header(page).get_by_role("link", name="Sign in")).to_be_visible()
    assert_no_horizontal_scroll(page)
    page.screenshot(path=artifacts_dir / "home-phone.png", full_page=True)

    page.goto(live_server.url + "/users/account/LogOn?returnUrl=%2F")
    expect(page.locator("input[name=login]")).to_be_visible()
    assert_no_horizontal_scroll(page)
    page.screenshot(path=artifacts_dir / "sign-in-phone.png", full_page=True)

    sign_in(page, live_server, "phoneuser")
    assert_no_horizontal_scroll(page)
    menu_button(page).click()
    items = menu_list(page)
    expect(items).to_be_visible()
    assert_no_horizontal_scroll(page)
    box = items.bounding_box()
    assert box is not None
    assert box["x"] >= 0, box
    assert box["x"] + box["width"] <= PHONE["width"], box
    for name in ("Account Settings", "API Keys", "Manage Packages"):
        link = items.get_by_role("link", name=name).bounding_box()
        assert link is not None
        assert link["x"] >= 0 and link["x"] + link["width"] <= PHONE["width"], (name, link)
    page.screenshot(path=artifacts_dir / "user-menu-phone.png")


def test_clicking_outside_the_open_menu_closes_it(page, live_server, make_user):
    make_user("clicker")
    sign_in(page, live_server, "clicker")
    button, items = menu_button(page), menu_list(page)

    for outside in ("main h1", ".site-footer"):
        button.click()
        expect(items).to_be_visible()
        # A click inside the open list, off its items, keeps it open...
        items.click(position={"x": 2, "y": 2})
        expect(items).to_be_visible()
        # ...a click anywhere else closes it.
        page.locator(outside).click()
        expect(button).to_have_attribute("aria-expanded", "false")
        expect(items).to_be_hidden()
    expect(page).to_have_url(live_server.url + "/")

    # The button itself still toggles.
    button.click()
    expect(items).to_be_visible()
    button.click()
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(items).to_be_hidden()
