"""allauth's account flows write audit events: who, what, from where, never a secret."""

import json
import re

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user
from django.test import Client

from audit.models import Event, EventKind
from portal import account_events
from tests.conftest import PASSWORD
from tests.portal.test_two_factor import totp

pytestmark = pytest.mark.django_db

IP = "203.0.113.7"
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
LOG_ON = "/users/account/LogOn"


@pytest.fixture
def browser():
    """A client that comes from one address with one user agent."""
    return Client(REMOTE_ADDR=IP, HTTP_USER_AGENT=USER_AGENT)


def sign_in(client, login="alice", password=PASSWORD):
    return client.post(LOG_ON, {"login": login, "password": password})


def events(kind):
    return list(Event.objects.filter(kind=kind).order_by("id"))


def assert_from_the_browser(event):
    assert event.ip == IP
    assert event.user_agent == USER_AGENT


def assert_stored_nowhere(secret):
    # Every column of every event, as the database holds it.
    dumped = json.dumps(list(Event.objects.values()), default=str)
    assert secret not in dumped


def link_in(message):
    match = re.search(r"https?://\S+", message.body)
    assert match, message.body
    return match.group(0)


# --- Signing in and out -------------------------------------------------------


def test_sign_in(browser, user):
    assert sign_in(browser).status_code == 302

    (event,) = events(EventKind.USER_SIGNED_IN)
    assert event.subject_user == user
    assert event.actor == user
    assert event.actor_username == "alice"
    assert_from_the_browser(event)


def test_wrong_password_names_the_account_and_keeps_no_password(browser, user):
    wrong = "not the password at all 123"
    response = sign_in(browser, password=wrong)
    assert response.status_code == 200

    (event,) = events(EventKind.USER_SIGN_IN_FAILED)
    assert event.subject_user == user
    assert event.actor is None
    assert event.details == {"login": "alice"}
    assert_from_the_browser(event)
    assert not events(EventKind.USER_SIGNED_IN)
    assert_stored_nowhere(wrong)


def test_wrong_password_by_email_address_names_the_account(browser, user):
    sign_in(browser, login="Alice@Example.com", password="not the password at all 123")

    (event,) = events(EventKind.USER_SIGN_IN_FAILED)
    assert event.subject_user == user
    assert event.details == {"login": "Alice@Example.com"}


def test_unknown_account_is_recorded_without_a_user(browser, user):
    wrong = "guessing passwords 2024"
    sign_in(browser, login="mallory", password=wrong)

    (event,) = events(EventKind.USER_SIGN_IN_FAILED)
    assert event.subject_user is None
    assert event.actor is None
    # A login naming no account may be a mistyped password: it is not kept.
    assert event.details == {"login_unknown": True}
    assert_from_the_browser(event)
    assert_stored_nowhere(wrong)
    assert_stored_nowhere("mallory")


def test_wrong_password_when_confirming_identity_is_the_signed_in_users(browser, user):
    sign_in(browser)
    browser.post("/users/account/reauthenticate/", {"password": "not the password at all 123"})

    (event,) = events(EventKind.USER_SIGN_IN_FAILED)
    assert event.subject_user == user
    assert event.details["reauthentication"] is True
    assert_from_the_browser(event)
    assert_stored_nowhere("not the password at all 123")


def test_the_attempted_login_is_cut_short():
    assert account_events.attempted_login({"username": "x" * 1000, "password": "****"}) == (
        "x" * account_events.ATTEMPTED_LOGIN_MAX
    )
    # Only login fields are read, whatever else the credentials hold.
    assert account_events.attempted_login({"password": "hunter2", "token": "t"}) == ""


# allauth sends its two-factor signals (and notification emails) from
# transaction.on_commit, inside the request: these tests need real commits.
@pytest.mark.django_db(transaction=True)
def test_wrong_second_factor_is_a_failed_sign_in(browser, user):
    secret = activate_totp(browser)
    browser.post("/users/account/LogOff")

    sign_in(browser)
    wrong = "000000" if totp(secret) != "000000" else "111111"
    browser.post("/users/account/2fa/authenticate/", {"code": wrong})

    assert not get_user(browser).is_authenticated
    (event,) = events(EventKind.USER_SIGN_IN_FAILED)
    assert event.subject_user == user
    assert event.actor is None
    assert event.details == {"step": "two_factor", "authenticator": "totp"}
    assert_from_the_browser(event)


def test_sign_out(browser, user):
    sign_in(browser)
    browser.post("/users/account/LogOff")

    (event,) = events(EventKind.USER_SIGNED_OUT)
    assert event.subject_user == user
    assert event.actor == user
    assert_from_the_browser(event)


def test_sign_up(browser, db):
    browser.post(
        "/users/account/Register",
        {
            "email": "carol@example.com",
            "username": "carol",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )

    (event,) = events(EventKind.USER_SIGNED_UP)
    assert event.subject_user.get_username() == "carol"
    assert_from_the_browser(event)
    assert_stored_nowhere(PASSWORD)


# --- Passwords ---------------------------------------------------------------


def test_password_change(browser, user):
    sign_in(browser)
    new = "another long passphrase 7"
    response = browser.post(
        "/users/account/password/change/",
        {"oldpassword": PASSWORD, "password1": new, "password2": new},
    )
    assert response.status_code == 302

    (event,) = events(EventKind.USER_PASSWORD_CHANGED)
    assert event.subject_user == user
    assert event.actor == user
    assert event.details == {}
    assert_from_the_browser(event)
    assert_stored_nowhere(new)
    assert_stored_nowhere(PASSWORD)


def test_password_reset(browser, user, mailoutbox):
    browser.post("/users/account/password/reset/", {"email": "alice@example.com"})
    form_page = browser.get(link_in(mailoutbox[0]), follow=True)
    new = "a brand new passphrase 42"
    response = browser.post(form_page.redirect_chain[-1][0], {"password1": new, "password2": new})
    assert response.status_code == 302

    (event,) = events(EventKind.USER_PASSWORD_RESET)
    assert event.subject_user == user
    # Signed out, the user who followed the link is the one who acted.
    assert event.actor == user
    assert_from_the_browser(event)
    assert_stored_nowhere(new)


# --- Email addresses ---------------------------------------------------------


def test_email_added_confirmed_made_primary_and_removed(browser, user, mailoutbox):
    sign_in(browser)
    new = "alice.new@example.com"
    assert (
        browser.post("/users/account/email/", {"email": new, "action_add": ""}).status_code == 302
    )
    (added,) = events(EventKind.USER_EMAIL_ADDED)
    assert added.subject_user == user
    assert added.actor == user
    assert added.details == {"email": new}
    assert_from_the_browser(added)

    browser.post(link_in(mailoutbox[-1]))
    assert EmailAddress.objects.get(email=new).verified
    (confirmed,) = events(EventKind.USER_EMAIL_CONFIRMED)
    assert confirmed.subject_user == user
    assert confirmed.details == {"email": new}
    assert_from_the_browser(confirmed)

    browser.post("/users/account/email/", {"email": new, "action_primary": ""})
    (primary,) = events(EventKind.USER_EMAIL_PRIMARY)
    assert primary.subject_user == user
    assert primary.details == {"email": new, "previous_email": "alice@example.com"}
    assert_from_the_browser(primary)

    browser.post("/users/account/email/", {"email": "alice@example.com", "action_remove": ""})
    (removed,) = events(EventKind.USER_EMAIL_REMOVED)
    assert removed.subject_user == user
    assert removed.details == {"email": "alice@example.com"}
    assert_from_the_browser(removed)


# --- Two-factor authentication ---------------------------------------------------


def activate_totp(client) -> str:
    sign_in(client)
    client.post("/users/account/reauthenticate/", {"password": PASSWORD})
    secret = client.get("/users/account/2fa/totp/activate/").context["form"].secret
    response = client.post("/users/account/2fa/totp/activate/", {"code": totp(secret)})
    assert response.status_code == 302
    return secret


@pytest.mark.django_db(transaction=True)
def test_two_factor_activation_and_deactivation(browser, user):
    activate_totp(browser)

    (activated,) = events(EventKind.USER_MFA_ACTIVATED)
    assert activated.subject_user == user
    assert activated.actor == user
    assert activated.details == {"authenticator": "totp"}
    assert_from_the_browser(activated)
    (codes,) = events(EventKind.USER_RECOVERY_CODES)
    assert codes.details == {"authenticator": "recovery_codes"}
    assert_from_the_browser(codes)

    browser.post("/users/account/2fa/recovery-codes/generate/")
    regenerated = events(EventKind.USER_RECOVERY_CODES)[-1]
    assert regenerated.details == {"authenticator": "recovery_codes", "reset": True}

    response = browser.post("/users/account/2fa/totp/deactivate/")
    assert response.status_code == 302
    # The authenticator app goes, and the recovery codes with it.
    deactivated = events(EventKind.USER_MFA_DEACTIVATED)
    assert {e.details["authenticator"] for e in deactivated} == {"totp", "recovery_codes"}
    for event in deactivated:
        assert event.subject_user == user
        assert_from_the_browser(event)


def test_force_login_in_tests_writes_no_event(client, user):
    # Only allauth's completed sign-ins count, not Django's bare login().
    client.force_login(user)
    assert not Event.objects.exists()
