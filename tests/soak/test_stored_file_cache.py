"""On PostgreSQL a worker serves a download it has looked up from memory, and forgets
it the moment the row changes or goes (packages/stored_file_cache.py).

gunicorn runs as `make run` starts it, with the production settings, on a database
of its own on the shared PostgreSQL server whichever database the test leg names:
the cache exists only there. One worker, so that every request meets the same
memory. "Served from memory" is seen from outside: the download is answered while
another connection holds the versions table locked, where a lookup would wait.
"""

import base64
import contextlib
import hashlib
import http.client
import time

import psycopg

from packages.stored_file_cache import APPLICATION_NAME
from tests.nupkgs import make_nupkg
from tests.servers import free_port, manage
from tests.soak.conftest import push, server_env, serving

PACKAGE_ID = "Soak.Cached"
TIMEOUT = 10
# Well within the 60 s an entry may live: a change seen this soon was heard of.
PROMPT = 5
# What a lookup stuck behind the lock is given before it counts as waiting.
STUCK = 1.5


def _path(version: str) -> str:
    lower = PACKAGE_ID.lower()
    return f"/v3/flatcontainer/{lower}/{version}/{lower}.{version}.nupkg"


def _get(port: int, path: str, timeout: float = TIMEOUT):
    """(status, ETag, body); status 0 when no answer came within ``timeout``."""
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        client.request("GET", path)
        response = client.getresponse()
        return response.status, response.getheader("ETag"), response.read()
    except TimeoutError:
        return 0, None, b""
    finally:
        client.close()


def _listeners(database_url: str) -> list[int]:
    with psycopg.connect(database_url, autocommit=True) as admin:
        found = admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s "
            "AND state = 'idle' AND query LIKE 'LISTEN %%'",
            [APPLICATION_NAME],
        )
        return [row[0] for row in found.fetchall()]


def _wait_for(condition, seconds: float = PROMPT):
    deadline = time.monotonic() + seconds
    while not (found := condition()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def _served_while_locked(database_url: str, port: int, cached: str, uncached: str):
    """(status of ``cached``, status of ``uncached``) while the versions table is
    locked against every reader."""
    with psycopg.connect(database_url) as locker:
        locker.execute("LOCK TABLE packages_packageversion IN ACCESS EXCLUSIVE MODE")
        try:
            return _get(port, cached)[0], _get(port, uncached, timeout=STUCK)[0]
        finally:
            locker.rollback()


def _etag(nupkg: bytes) -> str:
    return '"' + base64.b64encode(hashlib.sha512(nupkg).digest()).decode() + '"'


@contextlib.contextmanager
def _one_worker(tmp_path, database_url: str, first: bytes):
    """gunicorn with one worker, ``first`` (1.0.0) and a 2.0.0 pushed; yields the
    portal, its port and the push key."""
    port = free_port()
    env = server_env(tmp_path, database_url, HOST="127.0.0.1", PORT=str(port), WEB_CONCURRENCY="1")
    manage(env, "migrate", "--noinput")
    with serving(env, tmp_path / "server.log") as portal:
        key = portal.server_side("setup")["key"]
        for nupkg in (first, make_nupkg(PACKAGE_ID, "2.0.0")):
            assert push(portal.base, key, nupkg, timeout=TIMEOUT, user_agent="cache").status == 201
        yield portal, port, key


def test_a_download_is_served_from_memory_until_its_package_goes(tmp_path, soak_database_url):
    first = make_nupkg(PACKAGE_ID, "1.0.0", description="The first push")
    with _one_worker(tmp_path, soak_database_url, first) as (portal, port, key):
        # The first download starts the worker's listener; once it listens, the
        # next one is kept (or the one after: PostgreSQL shows the LISTEN done a
        # moment before the worker reads that it is).
        assert _get(port, _path("1.0.0"))[0] == 200
        assert _wait_for(lambda: _listeners(soak_database_url))
        for _ in range(2):
            assert _get(port, _path("1.0.0")) == (200, _etag(first), first)

        # Kept: answered though a lookup would wait; 2.0.0 was never looked up.
        assert _served_while_locked(soak_database_url, port, _path("1.0.0"), _path("2.0.0")) == (
            200,
            0,
        )

        # Deleted (as the admin does): gone at once, not when the entry expires.
        assert portal.server_side("delete", PACKAGE_ID)["deleted"] > 0
        assert _wait_for(lambda: _get(port, _path("1.0.0"))[0] == 404)

        # Pushed again with other bytes, under the same file name: those are served.
        second = make_nupkg(PACKAGE_ID, "1.0.0", description="The second push")
        assert push(portal.base, key, second, timeout=TIMEOUT, user_agent="cache").status == 201
        assert _get(port, _path("1.0.0")) == (200, _etag(second), second)
        assert _get(port, _path("1.0.0")) == (200, _etag(second), second)
    assert "Traceback" not in portal.log()


def test_a_worker_that_stops_listening_keeps_nothing_and_listens_again(tmp_path, soak_database_url):
    nupkg = make_nupkg(PACKAGE_ID, "1.0.0")
    with _one_worker(tmp_path, soak_database_url, nupkg) as (portal, port, _key):
        assert _get(port, _path("1.0.0"))[0] == 200
        (listener,) = _wait_for(lambda: _listeners(soak_database_url))
        for _ in range(2):
            assert _get(port, _path("1.0.0")) == (200, _etag(nupkg), nupkg)

        # The listener's connection ends; a row changes by hand before it is back
        # (it waits a second before connecting again), so no notification reaches it.
        changed = base64.b64encode(hashlib.sha512(b"changed by hand").digest()).decode()
        with psycopg.connect(soak_database_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [listener])
            assert _wait_for(lambda: listener not in _listeners(soak_database_url))
            admin.execute(
                "UPDATE packages_packageversion SET sha512 = %s WHERE normalized_version = '1.0.0'",
                [changed],
            )
        # What the worker kept went with its listener: the row as it is now.
        assert _get(port, _path("1.0.0"))[1] == f'"{changed}"'

        # It listens again, on a new connection, and keeps what it looks up again.
        (again,) = _wait_for(lambda: _listeners(soak_database_url))
        assert again != listener
        for _ in range(2):
            assert _get(port, _path("1.0.0"))[0] == 200
        assert _served_while_locked(soak_database_url, port, _path("1.0.0"), _path("2.0.0")) == (
            200,
            0,
        )
        assert portal.server_side("delete", PACKAGE_ID)["deleted"] > 0
        assert _wait_for(lambda: _get(port, _path("1.0.0"))[0] == 404)
    log = portal.log()
    assert "Stopped listening for stored-file changes" in log
    assert "Traceback" not in log
