"""Two servers answer the same users as one: keys, packages, sessions, rate limits and
search are shared through PostgreSQL (or one SQLite file), Redis and S3, and either
server alone keeps serving.

Each test holds to a few dozen requests; the module starts its servers once.
"""

import http.cookiejar
import json
import re
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.nupkgs import make_nupkg
from tests.soak.conftest import push, request, unlist
from tests.twoservers.conftest import (
    FEED_AUTH_FAILURE_LIMIT,
    LOGIN_ATTEMPTS_LIMIT,
    PASSWORD,
    SITE_HOST,
)

pytestmark = pytest.mark.slow

TIMEOUT = 30
AGENT = "two-servers-test"
SIGN_IN = "/users/account/LogOn"


class Browser:
    """One person's browser, whichever server answers: both sit behind one name, as
    behind a load balancer that passes the Host header on (the sign-in limit counts
    per account and site, and the site is that name)."""

    def __init__(self):
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def open(self, url: str, form: dict | None = None) -> tuple[int, str, str]:
        """(status, final URL, body) after redirects."""
        body = urllib.parse.urlencode(form, doseq=True).encode() if form is not None else None
        headers = {"Accept-Language": "en", "Host": SITE_HOST}
        outgoing = urllib.request.Request(url, data=body, headers=headers)
        try:
            with self.opener.open(outgoing, timeout=TIMEOUT) as answer:
                return answer.status, answer.url, answer.read().decode(errors="replace")
        except urllib.error.HTTPError as error:
            with error:
                return error.code, url, error.read().decode(errors="replace")

    def form(self, url: str) -> dict:
        """The hidden fields of the page's forms (CSRF token, form token)."""
        status, _, html = self.open(url)
        assert status == 200, (url, status)
        fields = re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html)
        return dict(fields)

    def sign_in(self, base: str, username: str, password: str) -> str:
        fields = self.form(base + SIGN_IN)
        status, _, html = self.open(
            base + SIGN_IN,
            {"csrfmiddlewaretoken": fields["csrfmiddlewaretoken"], "login": username,
             "password": password},
        )  # fmt: skip
        if "Too many failed login attempts" in html:
            return "limited"
        if "are not correct" in html:
            return "checked"
        return "signed in" if status == 200 and self.signed_in(base) else f"{status} {html[:200]}"

    def signed_in(self, base: str) -> bool:
        status, final_url, _ = self.open(base + "/account")
        return status == 200 and SIGN_IN not in final_url

    def create_key(self, base: str, globs: str) -> str:
        """A key made on the API Keys page: push and unlist for ``globs``."""
        fields = self.form(base + "/account/apikeys")
        status, _, html = self.open(
            base + "/account/apikeys",
            {
                "csrfmiddlewaretoken": fields["csrfmiddlewaretoken"],
                "form_token": fields["form_token"],
                "name": f"two servers {secrets.token_hex(2)}",
                "expires_in": "90",
                "owner": "alice",
                "push": "on",
                "push_type": "package:push",
                "unlist": "on",
                "globs": globs,
            },
        )
        errors = re.findall(r'class="errorlist[^>]*>\s*<li>([^<]+)', html)
        assert status == 200, errors
        return re.search(r'aria-label="API key value" value="([^"]+)"', html)[1]


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


def nupkg_url(base: str, package_id: str, version: str) -> str:
    lower = package_id.lower()
    return f"{base}/v3/flatcontainer/{lower}/{version}/{lower}.{version}.nupkg"


def pushed(base: str, key: str, data: bytes) -> int:
    return push(base, key, data, timeout=TIMEOUT, user_agent=AGENT).status


@pytest.fixture(scope="module")
def alice(cluster):
    """alice, signed in on server A, with a key made on A's API Keys page."""
    browser = Browser()
    assert browser.sign_in(cluster.a.base, "alice", PASSWORD) == "signed in"
    return browser, browser.create_key(cluster.a.base, "Twin.*")


def test_a_key_made_on_a_pushes_through_b_and_a_package_pushed_to_a_restores_from_b(cluster, alice):
    _, key = alice
    first = make_nupkg("Twin.Core", "1.0.0", extra_files={"lib/a.bin": secrets.token_bytes(5000)})
    assert pushed(cluster.b.base, key, first) == 201
    second = make_nupkg("Twin.Core", "2.0.0", extra_files={"lib/b.bin": secrets.token_bytes(5000)})
    assert pushed(cluster.a.base, key, second) == 201

    # Byte for byte from the other server, which read it from the shared bucket.
    assert get(nupkg_url(cluster.b.base, "Twin.Core", "2.0.0")) == (200, second)
    assert get(nupkg_url(cluster.a.base, "Twin.Core", "1.0.0")) == (200, first)
    assert cluster.s3.keys(cluster.bucket) == [
        "twin.core/1.0.0/twin.core.1.0.0.nupkg",
        "twin.core/2.0.0/twin.core.2.0.0.nupkg",
    ]
    # The same version again, through either server, is a conflict.
    assert pushed(cluster.b.base, key, second) == 409


def test_a_session_signed_in_on_a_is_valid_on_b(cluster, alice):
    browser, _ = alice
    assert browser.signed_in(cluster.b.base)
    assert not Browser().signed_in(cluster.b.base)
    # Signing out on B ends it on A too.
    fields = browser.form(cluster.b.base + "/account")
    browser.open(
        cluster.b.base + "/users/account/LogOff",
        {"csrfmiddlewaretoken": fields["csrfmiddlewaretoken"]},
    )
    assert not browser.signed_in(cluster.a.base)
    assert browser.sign_in(cluster.a.base, "alice", PASSWORD) == "signed in"


def test_an_unlist_on_b_is_seen_by_search_on_a_at_once(cluster, alice):
    _, key = alice
    for version in ("1.0.0", "2.0.0"):
        status = pushed(cluster.a.base, key, make_nupkg("Twin.Search", version))
        assert status == 201
    search = f"{cluster.a.base}/v3/search?q=packageid:Twin.Search"

    def latest_on_a():
        status, body = get(search)
        assert status == 200
        return [hit["version"] for hit in json.loads(body)["data"]]

    assert latest_on_a() == ["2.0.0"]
    answer = unlist(cluster.b.base, key, "Twin.Search", "2.0.0", timeout=TIMEOUT, user_agent=AGENT)
    assert answer.status == 204
    assert latest_on_a() == ["1.0.0"]
    # Unlisted, not gone: a restore that pins it still gets it, from either server.
    assert get(nupkg_url(cluster.a.base, "Twin.Search", "2.0.0"))[0] == 200


def test_the_failed_key_limit_counts_across_both_servers(cluster, alice):
    _, key = alice
    statuses = []
    for attempt in range(FEED_AUTH_FAILURE_LIMIT + 2):
        server = (cluster.a, cluster.b)[attempt % 2]
        bad_key = "ngk_" + secrets.token_hex(19)
        statuses.append(pushed(server.base, bad_key, b""))
    # Each server alone saw only half the failures: only a shared count says 429.
    assert statuses == [403] * FEED_AUTH_FAILURE_LIMIT + [429, 429]
    # A valid key still passes.
    assert pushed(cluster.b.base, key, make_nupkg("Twin.Limits", "1.0.0")) == 201


def test_the_sign_in_limit_counts_across_both_servers(cluster):
    browser = Browser()
    outcomes = [
        browser.sign_in((cluster.a, cluster.b)[attempt % 2].base, "victim", "wrong " * 3)
        for attempt in range(LOGIN_ATTEMPTS_LIMIT)
    ]
    assert outcomes == ["checked"] * LOGIN_ATTEMPTS_LIMIT
    # The right password, on the server that saw fewer failures, is refused too.
    assert browser.sign_in(cluster.b.base, "victim", PASSWORD) == "limited"
    assert browser.sign_in(cluster.a.base, "victim", PASSWORD) == "limited"


def test_stopping_a_leaves_b_serving(cluster, alice):
    _, key = alice
    data = make_nupkg("Twin.Survivor", "1.0.0")
    assert pushed(cluster.a.base, key, data) == 201
    cluster.a.stop()
    assert request("GET", cluster.a.base + "/health/live", timeout=5).status == 0
    started = time.monotonic()
    assert get(cluster.b.base + "/health/ready")[0] == 200
    assert get(nupkg_url(cluster.b.base, "Twin.Survivor", "1.0.0")) == (200, data)
    assert pushed(cluster.b.base, key, make_nupkg("Twin.Survivor", "2.0.0")) == 201
    assert time.monotonic() - started < 10
