"""`make run`, the README's first command: migrate, collect static files, serve with gunicorn."""

import http.cookiejar
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    var_dir = tmp_path_factory.mktemp("var")
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "DATABASE_URL",
            "SECRET_KEY",
            "DEBUG",
            "DJANGO_SETTINGS_MODULE",
            "DJANGO_ALLOW_ASYNC_UNSAFE",
        )
    }
    env.update(VAR_DIR=str(var_dir), PORT=str(port), WEB_CONCURRENCY="2")
    log = (var_dir / "server.log").open("w+")
    process = subprocess.Popen(
        ["make", "--no-print-directory", "run", f"VENV={sys.prefix}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(base + "/", timeout=10)
                break
            # OSError covers a refused connection (not listening yet) and a read
            # that times out (listening, a worker still booting).
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail("make run did not serve the portal:\n" + log.read())
                time.sleep(0.3)
        yield base, var_dir, log
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        log.close()


def test_prints_the_url_and_uses_an_sqlite_file_under_var(served):
    base, var_dir, log = served
    log.seek(0)
    assert f"Serving the portal on {base}/" in log.read()
    assert (var_dir / "db.sqlite3").exists()
    assert (var_dir / "secret_key").exists()


def test_static_files_come_from_whitenoise_with_hashed_names(served):
    base, _, _ = served
    home = urllib.request.urlopen(base + "/").read().decode()
    css = re.search(r'href="(/static/portal/site\.[0-9a-f]{12}\.css)"', home)
    js = re.search(r'src="(/static/portal/menu\.[0-9a-f]{12}\.js)"', home)
    assert css and js, home
    request = urllib.request.Request(base + css[1], headers={"Accept-Encoding": "gzip"})
    response = urllib.request.urlopen(request)
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/css")
    assert "immutable" in response.headers["Cache-Control"]
    assert response.headers["Content-Encoding"] == "gzip"


def test_register_and_sign_in_over_real_http(served):
    base, _, _ = served
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def post(path, data):
        page = opener.open(base + path).read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
        body = urllib.parse.urlencode({**data, "csrfmiddlewaretoken": token}).encode()
        request = urllib.request.Request(base + path, data=body, headers={"Referer": base + path})
        return opener.open(request)

    password = "a long and unusual passphrase"
    response = post(
        "/users/account/Register",
        {"email": "gina@example.com", "username": "gina", "password1": password,
         "password2": password},
    )  # fmt: skip
    # Signing up signs nobody in; an unconfirmed user may sign in and is told to confirm.
    assert response.url == base + "/users/account/confirm-email/"
    response = post("/users/account/LogOn?returnUrl=%2F", {"login": "gina", "password": password})
    assert response.url == base + "/"
    html = response.read().decode()
    assert "is not confirmed yet" in html
    assert 'aria-controls="user-menu-list"' in html
