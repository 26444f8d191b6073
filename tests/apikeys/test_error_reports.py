"""Django's HTML error report, which shows every frame's local variables (the error
email with ``include_html``, the debug page's layout), never shows a key value or
a pepper: every function that holds one hides its own variables.

Each test makes something fail inside a path that holds a secret, through a
public seam (the database refusing queries, a setting that cannot be read, a
wrong argument), builds the HTML report from that exception, and looks for the
secret in every form it could take.
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


# --- the key check ----------------------------------------------------------------


@pytest.mark.parametrize("entry", [check, authenticate])
def test_a_failure_inside_the_key_check_hides_the_key(user, make_key, settings, entry):
    settings.APIKEYS_PEPPER = PEPPER
    _, plaintext = make_key(user)

    with connection.execute_wrapper(fail_queries("apikeys_apikey")):
        report = report_of(entry, plaintext)

    assert "the database went away" in report
    assert_hidden(report, plaintext, PEPPER, frames=(entry.__name__,))


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
    # What Django's error email is built from: the logged request and exception.
    [logged] = [record for record in caplog.records if record.exc_info]
    report = html_report(logged.exc_info, logged.request)
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
