"""Sign-in, registration, sign-out, email confirmation and rate limits, over HTTP."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client

from tests.conftest import PASSWORD

LOG_ON = "/users/account/LogOn"
REGISTER = "/users/account/Register"
LOG_OFF = "/users/account/LogOff"
VERIFICATION_SENT = "/users/account/confirm-email/"

pytestmark = pytest.mark.django_db


def signed_in_user(client):
    from django.contrib.auth import get_user

    return get_user(client)


def link_in(message):
    match = re.search(r"https?://\S+", message.body)
    assert match, message.body
    return match.group(0)


class TestLogOn:
    def test_page_has_the_standard_field_names(self, client):
        response = client.get(LOG_ON, {"returnUrl": "/"})
        assert response.status_code == 200
        html = response.content.decode()
        assert 'name="login"' in html
        assert 'name="password"' in html
        # returnUrl is carried into the form as allauth's own field.
        assert '<input type="hidden" name="next" value="/">' in html

    def test_return_url_slash_lands_on_home(self, client, user):
        client.get(LOG_ON + "?returnUrl=%2F")
        response = client.post(
            LOG_ON + "?returnUrl=%2F", {"login": "alice", "password": PASSWORD, "next": "/"}
        )
        assert response.status_code == 302
        assert response["Location"] == "/"
        assert signed_in_user(client) == user

    @pytest.mark.parametrize("target", ["/account", "/account/apikeys"])
    def test_return_url_in_the_query_string_is_honoured(self, client, user, target):
        response = client.post(
            f"{LOG_ON}?returnUrl={target}", {"login": "alice", "password": PASSWORD}
        )
        assert response["Location"] == target

    @pytest.mark.parametrize(
        "target",
        ["https://evil.example/", "//evil.example/steal", "http://evil.example", "javascript:x"],
    )
    def test_return_url_to_another_host_is_ignored(self, client, user, target):
        response = client.post(
            LOG_ON, {"login": "alice", "password": PASSWORD, "returnUrl": target}
        )
        assert response.status_code == 302
        assert response["Location"] == "/"
        assert signed_in_user(client) == user

    def test_next_still_works(self, client, user):
        response = client.post(LOG_ON + "?next=/account", {"login": "alice", "password": PASSWORD})
        assert response["Location"] == "/account"

    def test_sign_in_with_email_address(self, client, user):
        response = client.post(LOG_ON, {"login": "ALICE@example.com", "password": PASSWORD})
        assert response.status_code == 302
        assert signed_in_user(client) == user

    def test_wrong_password_shows_an_error_and_signs_nobody_in(self, client, user):
        response = client.post(LOG_ON, {"login": "alice", "password": "not the password"})
        assert response.status_code == 200
        assert "The username and/or password you specified are not correct." in (
            response.content.decode()
        )
        assert not signed_in_user(client).is_authenticated

    def test_unconfirmed_user_can_sign_in_and_sees_the_banner(self, client, make_user):
        make_user("bob", confirmed=False)
        response = client.post(LOG_ON, {"login": "bob", "password": PASSWORD}, follow=True)
        assert signed_in_user(client).username == "bob"
        html = response.content.decode()
        assert "is not confirmed yet" in html
        assert 'name="action_send"' in html

    def test_too_many_wrong_passwords_gives_a_clear_message(self, client, user):
        for _ in range(5):
            response = client.post(LOG_ON, {"login": "alice", "password": "wrong"})
            assert response.status_code == 200
        # The right password is refused too until the window passes.
        response = client.post(LOG_ON, {"login": "alice", "password": PASSWORD})
        assert response.status_code == 200
        assert "Too many failed login attempts. Try again later." in response.content.decode()
        assert not signed_in_user(client).is_authenticated

    def test_post_without_csrf_token_is_rejected(self, user):
        client = Client(enforce_csrf_checks=True)
        response = client.post(LOG_ON, {"login": "alice", "password": PASSWORD})
        assert response.status_code == 403
        assert "Your form expired" in response.content.decode()
        assert not signed_in_user(client).is_authenticated

    def test_post_with_csrf_token_is_accepted(self, user):
        client = Client(enforce_csrf_checks=True)
        page = client.get(LOG_ON)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
        response = client.post(
            LOG_ON, {"login": "alice", "password": PASSWORD, "csrfmiddlewaretoken": token[1]}
        )
        assert response.status_code == 302
        assert signed_in_user(client) == user


class TestRegister:
    def form(self, **overrides):
        data = {
            "email": "carol@example.com",
            "username": "carol",
            "password1": PASSWORD,
            "password2": PASSWORD,
        }
        data.update(overrides)
        return data

    def test_register_hashes_with_argon2_and_sends_a_confirmation(self, client, mailoutbox):
        response = client.post(REGISTER, self.form())
        assert response.status_code == 302
        carol = get_user_model().objects.get(username="carol")
        assert carol.password.startswith("argon2$")
        assert not EmailAddress.objects.get(user=carol).verified
        assert len(mailoutbox) == 1
        assert mailoutbox[0].to == ["carol@example.com"]
        assert mailoutbox[0].subject.startswith("[NuGet Portal] ")
        assert "/users/account/confirm-email/" in mailoutbox[0].body

    def test_confirmation_link_confirms_the_address(self, client, mailoutbox):
        client.post(REGISTER, self.form())
        link = link_in(mailoutbox[0])
        page = client.get(link)
        assert page.status_code == 200
        client.post(link)
        assert EmailAddress.objects.get(email="carol@example.com").verified
        home = client.get("/")
        assert "is not confirmed yet" not in home.content.decode()

    def test_resend_from_the_banner_sends_another_email_after_the_cooldown(
        self, client, mailoutbox
    ):
        client.post(REGISTER, self.form())
        # Signing up signs nobody in; an unconfirmed user may sign in, though.
        client.post(LOG_ON, {"login": "carol", "password": PASSWORD})
        resend = {"email": "carol@example.com", "action_send": ""}
        # Straight after signing up the first email is still fresh: no second one.
        assert client.post("/users/account/email/", resend).status_code == 302
        assert len(mailoutbox) == 1
        cache.clear()  # the cooldown window passes
        assert client.post("/users/account/email/", resend).status_code == 302
        assert len(mailoutbox) == 2
        assert "/users/account/confirm-email/" in mailoutbox[1].body

    @pytest.mark.parametrize(
        ("overrides", "field", "message"),
        [
            ({"password2": "something else entirely"}, "password2", "You must type the same"),
            ({"password1": "short", "password2": "short"}, "password1", "too short"),
            (
                {"password1": "password123", "password2": "password123"},
                "password1",
                "too common",
            ),
            ({"email": "not-an-email"}, "email", "Enter a valid email address."),
            ({"username": "bad name!"}, "username", "Use letters, digits"),
        ],
    )
    def test_bad_values_are_explained_next_to_the_field(self, client, overrides, field, message):
        response = client.post(REGISTER, self.form(**overrides))
        assert response.status_code == 200
        errors = response.context["form"].errors
        assert field in errors
        assert any(message in e for e in errors[field])
        assert message in response.content.decode().replace("&#x27;", "'")
        assert not get_user_model().objects.filter(username="carol").exists()

    def test_taken_username_is_refused_whatever_its_case(self, client, user):
        response = client.post(REGISTER, self.form(username="ALICE"))
        assert response.status_code == 200
        assert "username" in response.context["form"].errors

    def test_return_url_is_honoured_once_the_address_is_confirmed(self, client, mailoutbox):
        response = client.post(REGISTER + "?returnUrl=/account", self.form())
        assert response["Location"] == VERIFICATION_SENT
        # Confirming in the browser that signed up leads to a sign-in that goes on there.
        response = client.post(link_in(mailoutbox[0]))
        assert response["Location"] == LOG_ON + "?returnUrl=%2Faccount"
        response = client.post(response["Location"], {"login": "carol", "password": PASSWORD})
        assert response["Location"] == "/account"
        assert signed_in_user(client).username == "carol"


class TestRegisterRevealsNoAddress:
    """Sign-up answers the same whether or not an address already has an account."""

    def form(self, email, username):
        return {"email": email, "username": username, "password1": PASSWORD, "password2": PASSWORD}

    def sign_up(self, email, username):
        """Sign up in a fresh browser; the answer, its cookies and the page it leads to."""
        browser = Client()
        response = browser.post(REGISTER, self.form(email, username))
        page = browser.get(response["Location"]) if response.status_code == 302 else response
        text = re.sub(re.escape(email), "EMAIL", page.content.decode(), flags=re.IGNORECASE)
        text = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", text)
        return response, text, signed_in_user(browser)

    @pytest.mark.parametrize("taken", ["alice@example.com", "ALICE@Example.COM"])
    def test_a_taken_address_gets_the_answer_a_new_one_gets(self, user, taken):
        new, new_page, new_user = self.sign_up("carol@example.com", "carol")
        old, old_page, old_user = self.sign_up(taken, "mallory")

        assert (old.status_code, old["Location"]) == (new.status_code, new["Location"])
        assert new["Location"] == VERIFICATION_SENT
        assert sorted(old.cookies) == sorted(new.cookies)
        assert old_page == new_page
        assert "is already registered" not in old_page
        assert not new_user.is_authenticated and not old_user.is_authenticated

    def test_the_owner_of_a_taken_address_is_told_and_no_account_is_made(self, user, mailoutbox):
        users = get_user_model().objects.count()
        self.sign_up("alice@example.com", "mallory")

        assert get_user_model().objects.count() == users
        assert not EmailAddress.objects.exclude(user=user).exists()
        (message,) = mailoutbox
        assert message.to == ["alice@example.com"]
        assert message.subject == "[NuGet Portal] Account Already Exists"
        assert "/users/account/password/reset/" in message.body
        assert "/users/account/confirm-email/" not in message.body

    def test_a_new_user_confirms_the_address_then_signs_in(self, client, mailoutbox):
        response = client.post(REGISTER, self.form("carol@example.com", "carol"))
        assert response["Location"] == VERIFICATION_SENT
        (message,) = mailoutbox
        assert message.to == ["carol@example.com"]

        browser = Client()  # the link may be opened anywhere
        assert browser.post(link_in(message)).status_code == 302
        assert EmailAddress.objects.get(email="carol@example.com").verified
        response = browser.post(LOG_ON, {"login": "carol", "password": PASSWORD})
        assert response.status_code == 302
        assert signed_in_user(browser).username == "carol"

    def test_a_taken_username_is_still_refused(self, user, mailoutbox):
        # User names are public on profile pages: saying one is taken reveals nothing.
        response = Client().post(REGISTER, self.form("carol@example.com", "alice"))
        assert response.status_code == 200
        assert "username" in response.context["form"].errors
        assert not mailoutbox

    def test_signing_up_with_a_taken_address_is_rate_limited_too(self, user):
        browser = Client()
        statuses = [
            browser.post(REGISTER, self.form("alice@example.com", f"m{n}")).status_code
            for n in range(21)
        ]
        assert statuses == [302] * 20 + [429]


class TestLogOff:
    def test_get_shows_a_confirmation_and_keeps_the_session(self, signed_in_client, user):
        response = signed_in_client.get(LOG_OFF)
        assert response.status_code == 200
        assert 'method="post"' in response.content.decode()
        assert signed_in_user(signed_in_client) == user

    def test_post_signs_out(self, signed_in_client):
        response = signed_in_client.post(LOG_OFF)
        assert response.status_code == 302
        assert not signed_in_user(signed_in_client).is_authenticated


class TestPasswords:
    def test_password_reset_by_email(self, client, user, mailoutbox):
        client.post("/users/account/password/reset/", {"email": "alice@example.com"})
        assert len(mailoutbox) == 1
        link = link_in(mailoutbox[0])
        form_page = client.get(link, follow=True)
        assert form_page.status_code == 200
        new = "a brand new passphrase 42"
        response = client.post(
            form_page.redirect_chain[-1][0] if form_page.redirect_chain else link,
            {"password1": new, "password2": new},
        )
        assert response.status_code == 302
        user.refresh_from_db()
        assert user.check_password(new)
        assert user.password.startswith("argon2$")

    def test_password_reset_for_an_unknown_address_reveals_nothing(self, client, mailoutbox):
        response = client.post("/users/account/password/reset/", {"email": "nobody@example.com"})
        assert response.status_code == 302
        # allauth tells the stranger that no account exists; the page is the same.
        assert len(mailoutbox) == 1
        assert "/users/account/password/reset/key/" not in mailoutbox[0].body

    def test_password_reset_is_rate_limited_per_address(self, client, user, mailoutbox):
        for _ in range(5):
            response = client.post("/users/account/password/reset/", {"email": user.email})
            assert response.status_code == 302
        response = client.post("/users/account/password/reset/", {"email": user.email})
        assert response.status_code == 429
        assert "Too many requests" in response.content.decode()
        assert len(mailoutbox) == 5

    def test_change_password(self, signed_in_client, user):
        new = "another long passphrase 7"
        response = signed_in_client.post(
            "/users/account/password/change/",
            {"oldpassword": PASSWORD, "password1": new, "password2": new},
        )
        assert response.status_code == 302
        user.refresh_from_db()
        assert user.check_password(new)

    def test_change_password_with_the_wrong_old_one_is_refused(self, signed_in_client, user):
        new = "another long passphrase 7"
        response = signed_in_client.post(
            "/users/account/password/change/",
            {"oldpassword": "wrong", "password1": new, "password2": new},
        )
        assert response.status_code == 200
        assert "oldpassword" in response.context["form"].errors
        user.refresh_from_db()
        assert user.check_password(PASSWORD)


class TestChangeEmail:
    def test_adding_an_address_sends_a_confirmation(self, signed_in_client, user, mailoutbox):
        response = signed_in_client.post(
            "/users/account/email/", {"email": "alice.new@example.com", "action_add": ""}
        )
        assert response.status_code == 302
        added = EmailAddress.objects.get(email="alice.new@example.com")
        assert added.user == user and not added.verified
        assert mailoutbox[-1].to == ["alice.new@example.com"]


class TestSignupRateLimit:
    def test_too_many_signups_get_a_styled_429(self, client):
        statuses = [
            client.post(REGISTER, {"email": "x", "username": "x"}).status_code for _ in range(21)
        ]
        assert statuses[:20] == [200] * 20
        assert statuses[20] == 429
        response = client.post(REGISTER, {"email": "x", "username": "x"})
        assert response.status_code == 429
        assert "Too many requests" in response.content.decode()
