"""The portal under gunicorn for tests that talk to it over real HTTP.

Shared by every test that starts gunicorn (``tests/clients``, ``tests/serving``,
``tests/soak``, ``tests/twoservers``, ``tests/portal``, the download counts); each
keeps its own fixtures and its own server-side commands. The server is a
separate process with an environment built from scratch, so it never sees the
test process's settings (``tests.settings``, DJANGO_ALLOW_ASYNC_UNSAFE...).
"""

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

import dj_database_url
import pytest

ROOT = Path(__file__).resolve().parents[1]
# Children get only these from the test's environment: the portal reads dozens of
# variables (DATABASE_URL, SITE_URL, CACHE_URL, HTTPS...) and a client must not
# pick up a proxy for 127.0.0.1.
INHERITED = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def inherited_env(**extra: str) -> dict[str, str]:
    env = {name: os.environ[name] for name in INHERITED if name in os.environ}
    env.update(extra)
    return env


def server_env(var_dir: Path, database_url: str | None, **extra: str) -> dict[str, str]:
    """The portal's environment; no ``database_url``: an SQLite file in ``var_dir``."""
    env = inherited_env(
        # gunicorn puts its control socket under HOME.
        HOME=str(var_dir),
        VAR_DIR=str(var_dir),
        DJANGO_SETTINGS_MODULE="portal.settings",
        EMAIL_BACKEND="dummy",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def run_python(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    """``python *args`` in the repository with the server's ``env``; its output, or
    the test fails showing it."""
    done = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}{done.stderr}"
    return done.stdout


def manage(env: dict[str, str], *args: str) -> None:
    run_python(env, "manage.py", *args)


def server_side(env: dict[str, str], module: str, *args: str) -> dict:
    """Run ``python -m module *args`` against the server's database; the JSON object it
    prints last. Rows are made this way, never through pytest-django's database."""
    output = run_python(env, "-m", module, *args, timeout=120)
    return json.loads(output.strip().splitlines()[-1])


# --- A throwaway PostgreSQL database ------------------------------------------


def admin_connection(url: str):
    """A connection to the ``postgres`` database of the server ``url`` names."""
    import psycopg

    config = dj_database_url.parse(url)
    return psycopg.connect(
        host=config.get("HOST") or None,
        port=config.get("PORT") or None,
        user=config.get("USER") or None,
        password=config.get("PASSWORD") or None,
        dbname="postgres",
        autocommit=True,
        connect_timeout=5,
    )


@contextlib.contextmanager
def postgres_database(server_url: str, prefix: str):
    """A fresh database ``<prefix>_<hex>`` on ``server_url``; yields its URL, drops it after."""
    import psycopg
    from psycopg import sql

    name = f"{prefix}_{secrets.token_hex(4)}"
    with admin_connection(server_url) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urllib.parse.urlsplit(server_url)._replace(path=f"/{name}").geturl()
    finally:
        with (
            contextlib.suppress(psycopg.OperationalError),
            admin_connection(server_url) as connection,
        ):
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@contextlib.contextmanager
def server_database(prefix: str):
    """The DATABASE_URL a server gets: None (an SQLite file in its VAR_DIR) unless the
    tests run on PostgreSQL, then a fresh database ``<prefix>_<hex>`` dropped after."""
    url = os.environ.get("DATABASE_URL") or ""
    if not url.startswith(("postgres://", "postgresql://")):
        yield None
        return
    with postgres_database(url, prefix) as database_url:
        yield database_url


# --- gunicorn -------------------------------------------------------------------


def start_gunicorn(env: dict[str, str], log_path: Path, *options: str) -> subprocess.Popen:
    """gunicorn serving the portal, in a process group of its own (see ``stop``)."""
    with log_path.open("a") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "portal.wsgi:application", *options],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_until_serving(url: str, process: subprocess.Popen, log: Callable[[], str]) -> bytes:
    """The body of the first 200 answer to GET ``url``; fails the test if gunicorn
    exits or does not answer within a minute."""
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read()
        except OSError:  # refused, reset, timed out, or an HTTP error status
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("gunicorn did not serve the portal:\n" + log(), pytrace=False)
            time.sleep(0.1)


@contextlib.contextmanager
def serving(env: dict[str, str], log_path: Path, ready_url: str, *options: str):
    """gunicorn started with ``options``, once it answers 200 at ``ready_url``; stopped
    with its workers however the block ends. Yields the process and that answer's body."""
    process = start_gunicorn(env, log_path, *options)
    try:
        yield (
            process,
            wait_until_serving(ready_url, process, lambda: log_path.read_text(errors="replace")),
        )
    finally:
        stop(process)


def stop(process: subprocess.Popen) -> None:
    """Stop gunicorn and its workers (the whole group); the log is complete afterwards."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
