"""Two portal servers behind one name: two gunicorns on two loopback ports, one
database, one Redis and one S3 store (moto's server), as a scaled-out deployment
runs them. Each server has a VAR_DIR of its own, as two machines would.

The database is the test leg's kind: an SQLite file both servers open (one
machine), or a throwaway PostgreSQL database on the server DATABASE_URL names.
Redis is the one at REDIS_URL_FOR_TESTS (default 127.0.0.1:6379), under a key
prefix of this run's own. Users are made by this module run with the servers'
environment (``python -m tests.twoservers.conftest setup``).
"""

import contextlib
import os
import secrets
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import s3server, servers

REDIS_URL = os.environ.get("REDIS_URL_FOR_TESTS") or "redis://127.0.0.1:6379/0"
PASSWORD = "a long passphrase for both servers"
USERS = ("alice", "victim")
LOGIN_ATTEMPTS_LIMIT = 3
FEED_AUTH_FAILURE_LIMIT = 4
# The name both servers answer to, as behind one load balancer.
SITE_HOST = "nuget.example.test"


def unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the two-server test must run)", pytrace=False)
    pytest.skip(reason)


@dataclass
class Server:
    name: str
    base: str
    log_path: Path
    process: subprocess.Popen

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        servers.stop(self.process)


@dataclass
class Cluster:
    a: Server
    b: Server
    s3: s3server.S3Server
    bucket: str


@contextlib.contextmanager
def _database(tmp_path: Path):
    url = os.environ.get("DATABASE_URL") or ""
    if url.startswith("postgres"):
        with servers.postgres_database(url, "portal_twoservers") as database_url:
            yield database_url
    else:
        yield f"sqlite:///{tmp_path / 'shared.sqlite3'}"


def _redis_reachable() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as error:
        unavailable(f"Redis at {REDIS_URL} is not reachable ({error})")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    _redis_reachable()
    tmp = tmp_path_factory.mktemp("twoservers")
    with (
        s3server.running(tmp / "moto.log") as s3,
        _database(tmp) as database_url,
    ):
        bucket = s3.new_bucket()
        shared = {
            "SECRET_KEY": secrets.token_urlsafe(50),
            "REDIS_URL": REDIS_URL,
            "CACHE_KEY_PREFIX": f"twoservers-{secrets.token_hex(4)}",
            "LOGIN_ATTEMPTS_LIMIT": str(LOGIN_ATTEMPTS_LIMIT),
            "FEED_AUTH_FAILURE_LIMIT": str(FEED_AUTH_FAILURE_LIMIT),
            "WEB_CONCURRENCY": "2",
            "ALLOWED_HOSTS": f"{SITE_HOST},127.0.0.1",
            **s3.env(bucket),
        }
        envs = {}
        for name in ("a", "b"):
            var_dir = tmp / name
            var_dir.mkdir()
            envs[name] = servers.server_env(
                var_dir,
                database_url,
                HOST="127.0.0.1",
                PORT=str(servers.free_port()),
                # One copy of the static files serves both (each machine has its own).
                STATIC_ROOT=str(tmp / "static"),
                **shared,
            )
        # One release, one migrate, from one machine, before the servers start.
        with ThreadPoolExecutor(2) as pool:
            collected = pool.submit(
                servers.manage, envs["a"], "collectstatic", "--noinput", "--verbosity", "0"
            )
            servers.manage(envs["a"], "migrate", "--noinput")
            _server_side(envs["a"], "setup")
            collected.result()
        started = {}
        try:
            for name, env in envs.items():
                log_path = tmp / f"{name}.log"
                process = servers.start_gunicorn(env, log_path)
                started[name] = Server(name, f"http://127.0.0.1:{env['PORT']}", log_path, process)
            for server in started.values():
                ready = f"{server.base}/health/ready"
                servers.wait_until_serving(ready, server.process, server.log)
            yield Cluster(a=started["a"], b=started["b"], s3=s3, bucket=bucket)
        finally:
            for server in started.values():
                server.stop()


def _server_side(env: dict[str, str], command: str) -> None:
    servers.run_python(env, "-m", "tests.twoservers.conftest", command, timeout=60)


def _setup() -> None:
    from allauth.account.models import EmailAddress
    from django.contrib.auth import get_user_model

    for username in USERS:
        user = get_user_model().objects.create_user(
            username=username, email=f"{username}@example.com", password=PASSWORD
        )
        # API keys need a confirmed email address.
        EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)


if __name__ == "__main__":
    import django

    django.setup()
    {"setup": _setup}[sys.argv[1]]()
