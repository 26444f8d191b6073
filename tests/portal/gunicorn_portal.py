"""The portal under real gunicorn (gunicorn.conf.py, several workers), for the tests of
metrics across workers and of JSON logs; and what it runs server-side:

    python -m tests.portal.gunicorn_portal setup   # {"username": ..., "password": ...}

Rows are made by that command run with the server's environment, never through the
test process's pytest-django database.
"""

import contextlib
import http.cookiejar
import json
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests import servers

USERNAME = "observer"
PASSWORD = "a long passphrase nobody guesses 7"


@dataclass
class Answer:
    status: int
    headers: dict
    body: bytes


@dataclass
class Portal:
    base: str
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def server_side(self, command: str) -> dict:
        return servers.server_side(self.env, "tests.portal.gunicorn_portal", command)

    def opener(self):
        """A client with its own cookies (a browser, for the web pages)."""
        return urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def request(self, path, *, method="GET", data=None, headers=None, opener=None) -> Answer:
        request = urllib.request.Request(
            self.base + path, data=data, method=method, headers=headers or {}
        )
        try:
            with (opener or urllib.request.build_opener()).open(request, timeout=30) as response:
                return Answer(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as error:
            return Answer(error.code, dict(error.headers), error.read())


@contextlib.contextmanager
def running_portal(tmp_path: Path, *, workers: int, **extra: str):
    """gunicorn started as a deployment starts it (``gunicorn portal.wsgi``), with
    ``extra`` in its environment; a database of its own (SQLite in its VAR_DIR, or a
    fresh PostgreSQL database when DATABASE_URL names PostgreSQL)."""
    with servers.server_database("portal_obs") as database_url:
        port = servers.free_port()
        env = servers.server_env(
            tmp_path,
            database_url,
            HOST="127.0.0.1",
            PORT=str(port),
            WEB_CONCURRENCY=str(workers),
            PACKAGES_DIR=str(tmp_path / "packages"),
            **extra,
        )
        servers.manage(env, "migrate", "--noinput")
        servers.manage(env, "collectstatic", "--noinput", "--verbosity", "0")
        log_path = tmp_path / "server.log"
        base = f"http://127.0.0.1:{port}"
        with servers.serving(env, log_path, f"{base}/health/live") as (process, _):
            yield Portal(base, env, log_path, process)


# --- Server side ------------------------------------------------------------------


def setup() -> dict:
    from allauth.account.models import EmailAddress
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(
        username=USERNAME, email=f"{USERNAME}@example.com", password=PASSWORD
    )
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
    return {"user_id": user.pk}


if __name__ == "__main__":
    import django

    django.setup()
    print(json.dumps({"setup": setup}[sys.argv[1]]()))
