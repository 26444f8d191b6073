"""Rate limits hold across gunicorn's worker processes, with no cache service.

The portal as it is served (gunicorn.conf.py, WEB_CONCURRENCY=5, no REDIS_URL),
on the test leg's database: SQLite, or a throwaway PostgreSQL database. Clients
in threads send their attempts at once, so the workers share them; each limit
must count them all, not each worker its own share.
"""

import os
import re
import secrets
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests import servers
from tests.soak.conftest import POSTGRES_URL

pytestmark = pytest.mark.slow

WORKERS = 5
CLIENT_THREADS = 10
TIMEOUT = 30
PASSWORD = "the right passphrase, never sent"
SIGN_IN = "/users/account/LogOn"
# What the tests read from the access log: which worker answered which request.
ACCESS_LOG_FORMAT = "limits %(p)s %(m)s %(U)s %(s)s"
ACCESS_LINE = re.compile(
    r"^limits <(?P<pid>\d+)> (?P<method>[A-Z]+) (?P<path>\S+) (?P<status>\d{3})$"
)


@pytest.fixture
def database_url():
    """The leg's database kind: None (an SQLite file) or a fresh PostgreSQL database."""
    if not (os.environ.get("DATABASE_URL") or "").startswith("postgres"):
        yield None
        return
    with servers.postgres_database(POSTGRES_URL, "portal_limits") as url:
        yield url


@pytest.fixture
def portal(tmp_path, database_url):
    port = servers.free_port()
    env = servers.server_env(
        tmp_path, database_url, HOST="127.0.0.1", PORT=str(port), WEB_CONCURRENCY=str(WORKERS)
    )
    servers.manage(env, "migrate", "--noinput")
    servers.manage(env, "collectstatic", "--noinput", "--verbosity", "0")
    servers.manage(
        {**env, "DJANGO_SUPERUSER_PASSWORD": PASSWORD},
        "createsuperuser",
        "--noinput",
        "--username",
        "victim",
        "--email",
        "victim@example.com",
    )
    log_path = tmp_path / "server.log"
    base = f"http://127.0.0.1:{port}"
    options = ("--access-logformat", ACCESS_LOG_FORMAT)
    with servers.serving(env, log_path, f"{base}/v3/index.json", *options):
        yield base, log_path


def send(method: str, url: str, body: bytes, headers: dict) -> tuple[int, str]:
    """The status and body text of one request (0 and the error when none came back)."""
    outgoing = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(outgoing, timeout=TIMEOUT) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode(errors="replace")
    except OSError as error:
        return 0, repr(error)


def at_once(attempt, count: int) -> list:
    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        return list(pool.map(lambda _: attempt(), range(count)))


def workers_that_answered(log_path, method: str, path: str) -> set[str]:
    lines = map(ACCESS_LINE.match, log_path.read_text(errors="replace").splitlines())
    return {m["pid"] for m in lines if m and m["method"] == method and m["path"] == path}


def sign_in_attempt(base: str, csrf: str) -> str:
    """One wrong password for ``victim``: 'checked', 'limited' or what came back."""
    body = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": csrf, "login": "victim", "password": "wrong " * 3}
    ).encode()
    status, text = send(
        "POST",
        base + SIGN_IN,
        body,
        {
            "Content-Type": "application/x-www-form-urlencoded",
            # Django accepts its unmasked secret as the form's token too.
            "Cookie": f"csrftoken={csrf}",
            "Accept-Language": "en",
        },
    )
    if status == 200 and "are not correct" in text:
        return "checked"
    if status == 429 or (status == 200 and "Too many failed login attempts" in text):
        return "limited"
    return f"{status} {text[:200]}"


def test_forty_wrong_passwords_get_at_most_five_checks(portal):
    base, log_path = portal
    csrf = secrets.token_hex(16)  # 32 characters: a CSRF secret, as the cookie holds

    outcomes = Counter(at_once(lambda: sign_in_attempt(base, csrf), 40))

    assert set(outcomes) <= {"checked", "limited"}, outcomes
    assert 1 <= outcomes["checked"] <= 5, outcomes
    # Otherwise the test proves nothing: one worker alone keeps its own count right.
    assert len(workers_that_answered(log_path, "POST", SIGN_IN)) >= 2


def test_eighty_failed_keys_get_at_most_ten_refusals_before_429(portal):
    base, log_path = portal

    def push_with_unknown_key():
        headers = {"X-NuGet-ApiKey": "ngk_" + secrets.token_hex(19)}
        return send("PUT", f"{base}/api/v2/package/", b"", headers)[0]

    statuses = Counter(at_once(push_with_unknown_key, 80))

    assert set(statuses) <= {403, 429}, statuses
    assert 1 <= statuses[403] <= 10, statuses
    assert len(workers_that_answered(log_path, "PUT", "/api/v2/package/")) >= 2
