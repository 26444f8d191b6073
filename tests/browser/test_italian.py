"""The site in Italian: chosen from the footer, or asked for by the browser."""

import pytest

from apikeys.authentication import authenticate
from apikeys.models import ApiKey
from tests.conftest import PASSWORD

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - the browser fixture skips or fails first
    expect = None

KEYS_PATH = "/account/apikeys"


@pytest.fixture
def owner(make_user):
    return make_user("rossi")


def test_switch_to_italian_in_the_footer_and_create_a_key(page, live_server, owner, artifacts_dir):
    page.goto(live_server.url + "/users/account/LogOn?returnUrl=%2Faccount%2Fapikeys")
    page.locator("input[name=login]").fill(owner.username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    expect(page).to_have_url(live_server.url + KEYS_PATH)
    expect(page.locator("html")).to_have_attribute("lang", "en")

    # The footer's form: a plain POST, back to the page it was sent from.
    footer = page.locator("footer")
    footer.get_by_label("Language").select_option("it")
    footer.get_by_role("button", name="Change language").click()
    expect(page).to_have_url(live_server.url + KEYS_PATH)
    expect(page.locator("html")).to_have_attribute("lang", "it")
    expect(page.get_by_role("heading", level=1)).to_have_text("Chiavi API")
    expect(footer.get_by_label("Lingua")).to_have_value("it")

    page.get_by_label("Nome chiave").fill("Chiave di rilascio")
    page.get_by_role("checkbox", name="Push", exact=True).check()
    page.get_by_label("Criterio GLOB").fill("Contoso.*")
    page.locator("details#create form").get_by_role("button", name="Crea", exact=True).click()

    value = page.get_by_role("textbox", name="Valore della chiave API")
    expect(value).to_be_visible()
    expect(
        page.locator("[data-new-key]").get_by_role("button", name="Copia", exact=True)
    ).to_be_visible()
    api_key = authenticate(value.input_value())
    assert api_key is not None
    assert ApiKey.objects.get(pk=api_key.pk).name == "Chiave di rilascio"
    expect(page.locator("html")).to_have_attribute("lang", "it")
    page.screenshot(path=str(artifacts_dir / "italian-api-keys.png"), full_page=True)

    # Remembered: on the user, for emails, and in the cookie, for the next page.
    owner.refresh_from_db()
    assert owner.preference.language == "it"
    page.goto(live_server.url + "/")
    expect(page.locator("html")).to_have_attribute("lang", "it")


def test_an_italian_browser_gets_italian_without_switching(new_page, live_server):
    page = new_page(locale="it-IT")
    page.goto(live_server.url + "/")
    expect(page.locator("html")).to_have_attribute("lang", "it")
    expect(page.get_by_role("navigation").get_by_role("link", name="Registrati")).to_be_visible()
    expect(page.locator("footer").get_by_label("Lingua")).to_have_value("it")
