"""A client's keep-alive connection keeps one database connection, closed when it goes.

gunicorn as gunicorn.conf.py starts it (gevent, one worker here), a real client
connection per ``http.client.HTTPConnection``. Connections opened are read from the
portal's own counter on ``/metrics``; connections still open from the outside: on
PostgreSQL the server's ``pg_stat_activity``, on SQLite the worker's file
descriptors on the database file (SQLite keeps a closed connection's file open while
another connection of the process has it, so there only "none left" is exact).
"""

import contextlib
import http.client
import os
import re
import time
from pathlib import Path

import dj_database_url
import pytest

from tests import servers

pytestmark = pytest.mark.serving

# One DB query each, and a 404: nothing is written.
PATH = "/v3/flatcontainer/no.such.package/index.json"
SETTLE = 5  # seconds within which a closed client's database connection must go


def open_database_connections(var_dir: Path, master_pid: int, database_url: str | None) -> int:
    if database_url:
        name = dj_database_url.parse(database_url)["NAME"]
        with servers.admin_connection(database_url) as admin:
            return admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [name]
            ).fetchone()[0]
    database = str(var_dir / "db.sqlite3")
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    count = 0
    for pid in children:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(FileNotFoundError):  # closed while listed
                count += os.readlink(fd) == database
    return count


def settled(read, expected: int) -> int:
    deadline = time.monotonic() + SETTLE
    while (found := read()) != expected and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def get(client: http.client.HTTPConnection, path: str = PATH) -> int:
    client.request("GET", path)
    response = client.getresponse()
    response.read()
    return response.status


def opened(host: str, port: int) -> float:
    """The portal's count of database connections opened so far."""
    client = http.client.HTTPConnection(host, port, timeout=10)
    try:
        client.request("GET", "/metrics")
        text = client.getresponse().read().decode()
    finally:
        client.close()
    found = re.findall(r"^portal_db_connections_opened_total\{[^}]*\} (\S+)$", text, re.M)
    return sum(float(value) for value in found)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    var_dir = tmp_path_factory.mktemp("connections-var")
    host, port = "127.0.0.1", servers.free_port()
    with servers.server_database("portal_connections") as database_url:
        env = servers.server_env(
            var_dir,
            database_url,
            HOST=host,
            PORT=str(port),
            WEB_CONCURRENCY="1",
            METRICS_ENABLED="1",
        )
        servers.manage(env, "migrate", "--noinput")
        log_path = var_dir / "server.log"
        with servers.serving(env, log_path, f"http://{host}:{port}/health/live") as (process, _):
            yield (
                host,
                port,
                lambda: open_database_connections(var_dir, process.pid, database_url),
                bool(database_url),
            )
        assert "Traceback" not in log_path.read_text(errors="replace")


def test_a_keep_alive_client_reuses_one_database_connection_until_it_leaves(server):
    host, port, open_connections, exact = server
    assert settled(open_connections, 0) == 0
    before = opened(host, port)
    first = http.client.HTTPConnection(host, port, timeout=10)
    second = http.client.HTTPConnection(host, port, timeout=10)
    try:
        for _ in range(10):
            assert get(first) == 404
        # Ten requests, one connection: kept between them, not opened for each.
        assert opened(host, port) - before == 1
        assert open_connections() == 1
        assert get(second) == 404
        # Each client connection has its own.
        assert opened(host, port) - before == 2
        assert open_connections() == 2
        first.close()
        if exact:
            # Gone with its client, not left for garbage collection.
            assert settled(open_connections, 1) == 1
        assert get(second) == 404
        assert opened(host, port) - before == 2
    finally:
        first.close()
        second.close()
    assert settled(open_connections, 0) == 0
