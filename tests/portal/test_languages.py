"""The language: from the browser, switched in the footer, remembered, and used in emails."""

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from apikeys.emails import send_key_added
from apikeys.models import ApiKey
from apikeys.notices import send_expiry_notices
from portal import languages
from portal.models import UserPreference
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

SWITCH = "/i18n/setlang/"


def test_english_is_the_default_and_accept_language_picks_italian(client):
    english = client.get("/")
    assert '<html lang="en">' in english.text
    italian = client.get("/", headers={"accept-language": "it-IT,it;q=0.9,en;q=0.5"})
    assert '<html lang="it">' in italian.text
    assert "Vai al contenuto" in italian.text
    assert "Accept-Language" in italian["Vary"]


@pytest.mark.parametrize("path", ["/", "/users/account/LogOn", "/no-such-page"])
def test_every_page_has_the_footer_switcher(client, path):
    page = client.get(path).text
    assert f'action="{SWITCH}"' in page
    assert '<select name="language"' in page
    assert f'name="next" value="{path}"' in page
    assert '<option value="it" lang="it">Italiano</option>' in page


def test_switching_sets_the_cookie_and_returns_to_the_page(client):
    response = client.post(SWITCH, {"language": "it", "next": "/account/apikeys"})
    assert response.status_code == 302
    assert response["Location"] == "/account/apikeys"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "it"
    assert '<html lang="it">' in client.get("/").text
    assert not UserPreference.objects.exists()  # signed out: nothing to store it on


def test_switching_refuses_another_site_as_next(client):
    response = client.post(SWITCH, {"language": "it", "next": "https://evil.example/"})
    assert response["Location"] == "/"


def test_switching_needs_post(client):
    assert client.get(SWITCH).status_code == 405


def test_a_signed_in_user_s_choice_is_stored(signed_in_client, user):
    signed_in_client.post(SWITCH, {"language": "it", "next": "/"})
    assert UserPreference.objects.get(user=user).language == "it"
    signed_in_client.post(SWITCH, {"language": "en", "next": "/"})
    assert UserPreference.objects.get(user=user).language == "en"
    signed_in_client.post(SWITCH, {"language": "xx", "next": "/"})
    assert UserPreference.objects.get(user=user).language == "en"


def test_sign_up_stores_the_language_the_form_was_shown_in(client):
    client.post(
        "/users/account/Register",
        {
            "email": "gianni@example.com",
            "username": "gianni",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
        headers={"accept-language": "it"},
    )
    gianni = get_user_model().objects.get(username="gianni")
    assert gianni.preference.language == "it"


def test_signing_in_brings_back_the_stored_language(client, user):
    languages.remember(user, "it")
    response = client.post("/users/account/LogOn", {"login": user.username, "password": PASSWORD})
    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "it"


def test_key_emails_go_out_in_the_owner_s_language(user, make_key, mailoutbox):
    languages.remember(user, "it")
    api_key, _ = make_key(user, name="Rilascio")
    mailoutbox.clear()
    send_key_added(ApiKey.objects.get(pk=api_key.pk))
    assert mailoutbox[0].subject == "[NuGet Portal] Chiave API aggiunta"
    assert "Ciao alice," in mailoutbox[0].body


def test_key_emails_without_a_stored_language_use_the_active_one(user, make_key, mailoutbox):
    api_key, _ = make_key(user)
    send_key_added(ApiKey.objects.get(pk=api_key.pk))
    assert "Hello alice," in mailoutbox[-1].body


def test_expiry_notices_go_out_in_the_owner_s_language(user, make_key, mailoutbox):
    languages.remember(user, "it")
    api_key, _ = make_key(user)
    ApiKey.objects.filter(pk=api_key.pk).update(expires_at=timezone.now())
    mailoutbox.clear()
    send_expiry_notices()
    assert mailoutbox[0].subject == "[NuGet Portal] La tua chiave API è scaduta"


def test_allauth_emails_go_out_in_the_recipient_s_language(client, user, mailoutbox):
    languages.remember(user, "it")
    client.post("/users/account/password/reset/", {"email": user.email})
    assert len(mailoutbox) == 1
    assert mailoutbox[0].subject == "[NuGet Portal] Email per reimpostare la password"
