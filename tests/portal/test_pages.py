"""The site shell: header, menu, pages, error pages and security headers."""

from html.parser import HTMLParser

import pytest
from django.test import RequestFactory
from django.views import defaults

from portal.urls import handler500
from portal.views import server_error

pytestmark = pytest.mark.django_db


class _Inspector(HTMLParser):
    """Collects what a Content-Security-Policy without 'unsafe-inline' would block."""

    def __init__(self):
        super().__init__()
        self.inline_scripts = 0
        self.style_elements = 0
        self.style_attributes = []
        self.event_handlers = []
        self.post_forms = 0
        self.post_forms_with_token = 0
        self._in_script = False
        self._in_post_form = False
        self._form_has_token = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            data_block = attrs.get("type") == "application/json"
            if "src" not in attrs and not data_block:
                self.inline_scripts += 1
        if tag == "style":
            self.style_elements += 1
        if "style" in attrs:
            self.style_attributes.append(tag)
        self.event_handlers += [name for name in attrs if name.startswith("on")]
        if tag == "form" and (attrs.get("method") or "").lower() == "post":
            self._in_post_form, self._form_has_token = True, False
            self.post_forms += 1
        if tag == "input" and attrs.get("name") == "csrfmiddlewaretoken" and self._in_post_form:
            self._form_has_token = True

    def handle_endtag(self, tag):
        if tag == "form" and self._in_post_form:
            self.post_forms_with_token += self._form_has_token
            self._in_post_form = False


def inspect(html: str) -> _Inspector:
    inspector = _Inspector()
    inspector.feed(html)
    return inspector


ANONYMOUS_PAGES = [
    "/",
    "/users/account/LogOn?returnUrl=%2F",
    "/users/account/Register",
    "/users/account/password/reset/",
    "/does-not-exist",
]
SIGNED_IN_PAGES = [
    "/",
    "/account",
    "/account/apikeys",
    "/account/Packages",
    "/users/account/LogOff",
    "/users/account/email/",
    "/users/account/password/change/",
    "/users/account/2fa/",
    "/users/account/reauthenticate/",
]


class TestSecurityHeaders:
    def test_every_response_carries_them(self, client):
        response = client.get("/")
        csp = response["Content-Security-Policy"]
        directives = dict(
            ([*part.strip().split(" ", 1), ""])[:2] for part in csp.split(";") if part.strip()
        )
        assert directives["default-src"] == "'self'"
        assert directives["script-src"] == "'self'"
        assert directives["style-src"] == "'self'"
        assert directives["frame-ancestors"] == "'none'"
        assert directives["object-src"] == "'none'"
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["X-Frame-Options"] == "DENY"

    def test_error_pages_carry_them_too(self, client):
        response = client.get("/does-not-exist")
        assert response.status_code == 404
        assert "script-src 'self'" in response["Content-Security-Policy"]


class TestNoInlineCode:
    @pytest.mark.parametrize("path", ANONYMOUS_PAGES)
    def test_anonymous_pages(self, client, path):
        self.check(client.get(path))

    @pytest.mark.parametrize("path", SIGNED_IN_PAGES)
    def test_signed_in_pages(self, client, make_user, path):
        client.force_login(make_user("dora", confirmed=False))
        found = self.check(client.get(path))
        # At least the sign-out form and the banner's resend form.
        assert found.post_forms >= 2

    def check(self, response):
        assert response.status_code in (200, 404)
        found = inspect(response.content.decode())
        assert found.inline_scripts == 0
        assert found.style_elements == 0
        assert found.style_attributes == []
        assert found.event_handlers == []
        assert found.post_forms_with_token == found.post_forms
        return found


class TestHeader:
    def test_signed_out_shows_register_and_sign_in_back_to_this_page(self, client):
        html = client.get("/users/account/password/reset/?x=1").content.decode()
        assert 'href="/users/account/Register"' in html
        assert (
            'href="/users/account/LogOn?returnUrl=%2Fusers%2Faccount%2Fpassword%2Freset%2F%3Fx%3D1"'
            in html
        )

    def test_signed_in_shows_the_user_menu(self, signed_in_client):
        html = signed_in_client.get("/").content.decode()
        assert "alice" in html
        assert 'aria-expanded="false"' in html
        assert 'aria-controls="user-menu-list"' in html
        for href in ("/account", "/account/apikeys", "/account/Packages"):
            assert f'href="{href}"' in html
        assert 'action="/users/account/LogOff"' in html
        assert "Administration" not in html

    def test_staff_also_get_the_administration_link(self, client, make_user):
        client.force_login(make_user("root1", is_staff=True))
        assert 'href="/admin/"' in client.get("/").content.decode()


class TestPages:
    def test_home_says_what_the_site_is(self, client):
        html = client.get("/").content.decode()
        assert "self-hosted NuGet gallery" in html
        assert "http://testserver/v3/index.json" in html

    @pytest.mark.parametrize("path", ["/account", "/account/apikeys", "/account/Packages"])
    def test_account_pages_need_a_signed_in_user(self, client, path):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"] == f"/users/account/LogOn?next={path}"

    def test_account_settings_lists_addresses_password_two_factor_and_keys(self, signed_in_client):
        html = signed_in_client.get("/account").content.decode()
        assert "alice@example.com" in html
        assert "Confirmed" in html
        assert 'href="/users/account/email/"' in html
        assert 'href="/users/account/password/change/"' in html
        assert 'href="/users/account/2fa/"' in html
        assert 'href="/account/apikeys"' in html

    def test_account_settings_links_trusted_publishing_beside_the_keys(self, signed_in_client):
        html = signed_in_client.get("/account").content.decode()
        keys_panel = html.split('aria-labelledby="keys-title"', 1)[1].split("</section>", 1)[0]
        assert 'href="/account/trustedpublishing"' in keys_panel

    def test_api_keys_page_asks_unconfirmed_users_to_confirm(self, client, make_user):
        client.force_login(make_user("erin", confirmed=False))
        html = client.get("/account/apikeys").content.decode()
        assert "You must confirm your account before you can get an API key." in html

    def test_api_keys_page_for_a_confirmed_user(self, signed_in_client):
        html = signed_in_client.get("/account/apikeys").content.decode()
        assert "You must confirm your account" not in html
        assert "An API key is a token that identifies you" in html

    def test_404_is_styled(self, client):
        response = client.get("/no/such/page")
        assert response.status_code == 404
        html = response.content.decode()
        assert "Page not found" in html
        assert 'class="site-header"' in html

    def test_403_is_styled(self, rf: RequestFactory):
        response = defaults.permission_denied(rf.get("/"), exception=None)
        assert response.status_code == 403
        assert "Access denied" in response.content.decode()

    def test_500_is_styled_without_a_request_context(self, rf: RequestFactory):
        response = server_error(rf.get("/"))
        assert response.status_code == 500
        html = response.content.decode()
        assert "Something went wrong" in html
        assert 'class="site-header"' in html
        assert "NuGet Portal" in html
        assert handler500 == "portal.views.server_error"


class TestAdmin:
    def test_admin_sign_in_goes_through_the_site_sign_in(self, client):
        response = client.get("/admin/login/?next=/admin/")
        assert response.status_code == 302
        assert response["Location"].startswith("/users/account/LogOn?next=")

    def test_signed_in_non_staff_are_refused(self, signed_in_client):
        assert signed_in_client.get("/admin/login/").status_code == 403
        assert signed_in_client.get("/admin/").status_code == 302

    def test_staff_reach_the_admin(self, client, make_user):
        client.force_login(make_user("root1", is_staff=True, is_superuser=True))
        assert client.get("/admin/").status_code == 200


class TestDatabaseAway:
    def test_a_database_error_anywhere_is_a_503_with_retry_after(
        self, signed_in_client, monkeypatch
    ):
        from django.db import OperationalError

        def unreachable(*args, **kwargs):
            raise OperationalError("could not connect to server: Connection refused")

        monkeypatch.setattr("apikeys.views.api_key_list_for", unreachable)
        signed_in_client.raise_request_exception = False
        response = signed_in_client.get("/account/apikeys")
        assert response.status_code == 503
        assert response["Retry-After"] == "5"
        assert "Temporarily unavailable" in response.content.decode()

    def test_other_errors_stay_500(self, signed_in_client, monkeypatch):
        def broken(*args, **kwargs):
            raise RuntimeError("a bug")

        monkeypatch.setattr("apikeys.views.api_key_list_for", broken)
        signed_in_client.raise_request_exception = False
        response = signed_in_client.get("/account/apikeys")
        assert response.status_code == 500
        assert "Something went wrong" in response.content.decode()

    def test_a_503_survives_missing_static_files(self, signed_in_client, monkeypatch, settings):
        from django.db import OperationalError

        settings.STORAGES = {
            **settings.STORAGES,
            "staticfiles": {
                "BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"
            },
        }
        settings.STATIC_ROOT = "/nonexistent-static-root"

        def unreachable(*args, **kwargs):
            raise OperationalError("could not connect to server")

        monkeypatch.setattr("apikeys.views.api_key_list_for", unreachable)
        signed_in_client.raise_request_exception = False
        response = signed_in_client.get("/account/apikeys")
        assert response.status_code == 503
        assert response["Retry-After"] == "5"
        assert response["Content-Type"].startswith("text/plain")
