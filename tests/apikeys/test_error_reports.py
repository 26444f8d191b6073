"""Django's HTML error report, which shows every frame's local variables (the error
email with ``include_html``, the debug page's layout), never shows a key value or
a pepper: every function that holds one hides its own variables.

Each test makes something fail inside a path that holds a secret, through a
public seam (the database refusing queries, a setting that cannot be read, a
wrong argument), builds the HTML report from that exception, and looks for the
secret in every form it could take. Requests over HTTP build it as Django's
logged error does: from the request and every frame, the view's callers included.
"""

import contextlib
import html
import re
import sys

import pytest
from django.db import OperationalError, connection
from django.views.debug import ExceptionReporter

from apikeys import conf, keys, leaks
from apikeys.authentication import authenticate, check
from apikeys.services import api_key_regenerate
from tests.conftest import PASSWORD
from tests.nupkgs import make_nupkg, multipart
from tests.trustedpublishing.conftest import issuer, local_issuer, make_policy  # noqa: F401

HIDDEN = "********************"
PEPPER = "a-pepper-nobody-may-read"
OLD_PEPPER = "an-old-pepper-nobody-may-read"
LEAKED = "/admin/apikeys/apikey/revoke-leaked/"
# A key under any prefix the setting allows (keys.pattern() reads the setting).
ANY_KEY = re.compile(r"\b[a-z][a-z0-9]{1,7}_[0-9A-Za-z]{38}\b")


@pytest.fixture(autouse=True)
def _production(settings):
    # Django hides sensitive variables only with DEBUG off, as in production.
    settings.DEBUG = False


class Unreadable:
    """A setting value that fails when a pepper is made of it."""

    def __str__(self):
        raise RuntimeError("a pepper setting that cannot be read")


def html_report(exc_info, request=None) -> str:
    report = html.unescape(ExceptionReporter(request, *exc_info).get_traceback_html())
    # The report pretty-prints long values over several lines ('abc'\n 'def'):
    # join the pieces again, so that a secret cut in two is still found.
    return re.sub(r"['\"]\n\s*b?['\"]", "", report)


def logged_report(caplog) -> str:
    """The report Django's error email is built from: the logged request and
    exception, every frame from the handler down."""
    [logged] = [record for record in caplog.records if record.exc_info]
    return html_report(logged.exc_info, logged.request)


def report_of(call, *args, **kwargs) -> str:
    """The HTML report of the exception ``call`` raises, from ``call``'s frame down.

    This frame and the test's hold the secret as arguments; they are not part of
    the product and are left out of the report.
    """
    try:
        call(*args, **kwargs)
    except Exception:
        exc_type, exc_value, tb = sys.exc_info()
        return html_report((exc_type, exc_value, tb.tb_next))
    raise AssertionError(f"{call.__name__} raised nothing")


def forms_of(secret: str | bytes) -> list[str]:
    """How ``secret`` could appear in a report: as text, repr, hex, or a key's
    secret part alone."""
    if isinstance(secret, bytes):
        found = [repr(secret), secret.hex()]
        with contextlib.suppress(UnicodeDecodeError):
            found.append(secret.decode())
        return found
    found = [secret, repr(secret.encode())]
    if ANY_KEY.fullmatch(secret):
        found.append(secret[-keys.SECRET_LENGTH - keys.CHECKSUM_LENGTH : -keys.CHECKSUM_LENGTH])
    return found


def assert_hidden(report: str, *secrets: str | bytes, frames: tuple[str, ...]) -> None:
    # Not vacuous: the frames that held the secrets are in the report, blanked.
    for function in frames:
        assert f"in {function}" in report, function
    assert HIDDEN in report
    for secret in secrets:
        for form in forms_of(secret):
            assert form not in report, f"{secret!r} shown as {form!r}"
    # Nor any other key: a regenerated one is made inside the failing call.
    assert ANY_KEY.search(report) is None


def fail_queries(matching: str):
    """An execute wrapper under which every query containing ``matching`` fails."""

    def wrapper(execute, sql, params, many, context):
        if matching in sql:
            raise OperationalError("the database went away")
        return execute(sql, params, many, context)

    return wrapper


def fail_after(done: str, matching: str):
    """An execute wrapper under which, once a query containing ``done`` has run,
    every query containing ``matching`` fails."""
    seen = False

    def wrapper(execute, sql, params, many, context):
        nonlocal seen
        if seen and matching in sql:
            raise OperationalError("the database went away")
        result = execute(sql, params, many, context)
        seen = seen or done in sql
        return result

    return wrapper


# --- the key check ----------------------------------------------------------------


@pytest.mark.parametrize("entry", [check, authenticate])
def test_a_failure_inside_the_key_check_hides_the_key(user, make_key, settings, entry):
    settings.APIKEYS_PEPPER = PEPPER
    _, plaintext = make_key(user)

    with connection.execute_wrapper(fail_queries("apikeys_apikey")):
        report = report_of(entry, plaintext)

    assert "the database went away" in report
    assert_hidden(report, plaintext, PEPPER, frames=(entry.__name__,))


@pytest.mark.parametrize("method, path", [("PUT", ""), ("DELETE", "Contoso.Core/1.0.0")])
def test_a_failure_inside_the_key_check_of_a_request_hides_the_key(
    client, user, make_key, settings, caplog, method, path
):
    settings.APIKEYS_PEPPER = PEPPER
    _, value = make_key(user)
    body, content_type = multipart(make_nupkg("Contoso.Core", "1.0.0"))
    client.raise_request_exception = False

    with connection.execute_wrapper(fail_queries('"apikeys_apikey"')):
        response = client.generic(
            method, f"/api/v2/package/{path}", body, content_type, headers={"X-NuGet-ApiKey": value}
        )

    assert response.status_code >= 500
    report = logged_report(caplog)
    assert "the database went away" in report
    # The header, the protocol's check of it, and the key check it calls.
    assert_hidden(report, value, PEPPER, frames=("wrapper", "key_check", "check"))


# --- digests and peppers ----------------------------------------------------------


def test_a_failure_while_reading_the_peppers_hides_them_and_the_key(settings):
    settings.APIKEYS_PEPPER = PEPPER
    settings.APIKEYS_PEPPER_FALLBACKS = [OLD_PEPPER, Unreadable()]
    value = keys.generate()

    report = report_of(keys.digests, value)

    assert "a pepper setting that cannot be read" in report
    assert_hidden(report, value, PEPPER, OLD_PEPPER, frames=("digests", "peppers"))


def test_a_failure_while_deriving_peppers_hides_the_derived_ones(settings):
    settings.APIKEYS_PEPPER = None
    settings.APIKEYS_PEPPER_FALLBACKS = None
    settings.SECRET_KEY = "current-secret-key-nobody-may-read"
    settings.SECRET_KEY_FALLBACKS = ["old-secret-key-nobody-may-read"]
    derived = conf.peppers()
    settings.SECRET_KEY_FALLBACKS = ["old-secret-key-nobody-may-read", Unreadable()]

    report = report_of(conf.peppers)

    assert "a pepper setting that cannot be read" in report
    assert_hidden(report, *derived, frames=("peppers",))


def test_a_failure_while_parsing_hides_the_presented_value(settings):
    value = keys.generate()
    settings.APIKEYS_PREFIX = "Not A Prefix"

    report = report_of(keys.parse, value)

    assert "APIKEYS_PREFIX must be" in report
    assert_hidden(report, value, frames=("parse",))


def test_a_failure_inside_digest_hides_the_key_and_the_pepper():
    value = keys.generate()

    # A pepper must be bytes: hmac refuses text.
    report = report_of(keys.digest, value, PEPPER)

    assert "TypeError" in report
    assert_hidden(report, value, PEPPER, frames=("digest",))


# --- leaked keys ----------------------------------------------------------------


def test_a_failure_on_the_leak_page_hides_the_pasted_keys(
    client, make_user, make_key, settings, caplog
):
    settings.APIKEYS_PEPPER = PEPPER
    staff = make_user("root1", is_staff=True, is_superuser=True)
    _, value = make_key(staff)
    client.force_login(staff)
    client.raise_request_exception = False

    with connection.execute_wrapper(fail_queries('"digest" IN')):
        response = client.post(LEAKED, {"values": value, "verify": "Verify"})

    assert response.status_code >= 500
    report = logged_report(caplog)
    assert "the database went away" in report
    assert_hidden(report, value, PEPPER, frames=("find_leaked", "keys_for_values"))


def test_a_failure_while_looking_up_leaked_values_hides_them(user, make_key):
    _, value = make_key(user)
    unknown = keys.generate()

    with connection.execute_wrapper(fail_queries("apikeys_apikey")):
        report = report_of(leaks.keys_for_values, [value, unknown])

    assert_hidden(report, value, unknown, frames=("keys_for_values",))


# --- regenerate -----------------------------------------------------------------


def test_a_failure_while_regenerating_hides_the_new_value(user, make_key, settings):
    settings.APIKEYS_PEPPER = PEPPER
    api_key, old_value = make_key(user)

    with connection.execute_wrapper(fail_queries('UPDATE "apikeys_apikey"')):
        report = report_of(api_key_regenerate, api_key=api_key, actor=user)

    assert "the database went away" in report
    # The new value is nowhere but in the failed call: assert_hidden looks for
    # anything shaped like a key.
    assert_hidden(report, old_value, PEPPER, frames=("api_key_regenerate",))


def test_a_failure_while_regenerating_under_unreadable_peppers_hides_them(user, make_key, settings):
    api_key, _ = make_key(user)
    settings.APIKEYS_PEPPER = PEPPER
    settings.APIKEYS_PEPPER_FALLBACKS = [OLD_PEPPER, Unreadable()]

    report = report_of(api_key_regenerate, api_key=api_key, actor=user)

    assert "a pepper setting that cannot be read" in report
    assert_hidden(report, PEPPER, OLD_PEPPER, frames=("_set_new_secret", "digests", "peppers"))


# --- the API Keys pages -------------------------------------------------------------
# The new value is in the page's context from the service's return to the response:
# a query that fails while the page is built must not show it.


@pytest.fixture
def pages(client, make_user, make_organization, make_key):
    """A user who administers an organization, signed in through the form (the
    pages ask for a recent sign-in), with a key of their own and one of the
    organization's."""
    olivia = make_user("olivia")
    contoso = make_organization("Contoso", olivia)
    client.post("/users/account/LogOn", {"login": "olivia", "password": PASSWORD})
    client.raise_request_exception = False
    own, _ = make_key(olivia)
    organization_key, _ = make_key(contoso.account, actor=olivia)
    return {
        "user": ("/account/apikeys", "olivia", own),
        "organization": ("/organization/Contoso/apikeys", "Contoso", organization_key),
    }


def form_token(client, url) -> str:
    return re.search(r'name="form_token" value="([^"]+)"', client.get(url).content.decode())[1]


@pytest.mark.parametrize("page", ["user", "organization"])
def test_a_failure_after_a_key_is_created_hides_its_value(client, pages, settings, caplog, page):
    settings.APIKEYS_PEPPER = PEPPER
    url, owner, _ = pages[page]
    data = {
        "form_token": form_token(client, url),
        "name": "Build server",
        "owner": owner,
        "expires_in": "365",
        "push": "on",
        "push_type": "package:push",
        "globs": "Contoso.*",
    }

    # The key's row is in; listing the keys on the page that shows its value fails.
    with connection.execute_wrapper(fail_after('INSERT INTO "apikeys_apikey"', '"apikeys_apikey"')):
        response = client.post(url, data)

    assert response.status_code >= 500
    report = logged_report(caplog)
    assert "the database went away" in report
    render = "_render_page" if page == "user" else "render_page"
    assert_hidden(report, PEPPER, frames=("_create", render))


@pytest.mark.parametrize("page", ["user", "organization"])
def test_a_failure_after_a_key_is_regenerated_hides_its_value(
    client, pages, settings, caplog, page
):
    settings.APIKEYS_PEPPER = PEPPER
    url, _, api_key = pages[page]
    regenerate = f"{url}/{api_key.pk}/regenerate"
    data = {"form_token": form_token(client, regenerate)}

    with connection.execute_wrapper(fail_after('UPDATE "apikeys_apikey"', '"apikeys_apikey"')):
        response = client.post(regenerate, data)

    assert response.status_code >= 500
    report = logged_report(caplog)
    assert "the database went away" in report
    render = "_render_page" if page == "user" else "render_page"
    assert_hidden(report, PEPPER, frames=("_regenerate", render))


# --- trusted publishing ---------------------------------------------------------------


def test_a_failure_after_a_key_is_minted_hides_it_and_the_token(
    client,
    user,
    issuer,  # noqa: F811 - the fixture imported above
    make_policy,  # noqa: F811 - the fixture imported above
    settings,
    caplog,
):
    settings.APIKEYS_PEPPER = PEPPER
    make_policy(user)
    token = issuer.token("github", settings.TRUSTED_PUBLISHING_AUDIENCE)
    client.raise_request_exception = False

    # The minted key's row is in; its audit event fails.
    with connection.execute_wrapper(fail_after('INSERT INTO "apikeys_apikey"', '"audit_event"')):
        response = client.post(
            "/api/v2/token",
            {"username": user.username, "tokenType": "ApiKey"},
            content_type="application/json",
            headers={"Authorization": f"Bearer {token}", "User-Agent": "NuGet CI/1.0"},
        )

    assert response.status_code >= 500
    report = logged_report(caplog)
    assert "the database went away" in report
    assert_hidden(report, token, PEPPER, frames=("token", "token_exchange", "_mint"))
