"""The database goes away and comes back; the portal answers 503 meanwhile, then carries on.

The database is a private PostgreSQL cluster started for this test (the shared
one must never be stopped; ``cluster`` in conftest.py). gunicorn keeps its
connections between requests (CONN_MAX_AGE's default), so the outage also breaks
connections the workers hold. The last test ends one connection, not the server:
on the shared server, in a database of its own.
"""

import http.client
import re
import time

import dj_database_url

from tests import servers
from tests.nupkgs import make_nupkg
from tests.servers import free_port, manage
from tests.soak.conftest import (
    MALFORMED_KEY,
    PrivateCluster,
    push,
    request,
    server_env,
    serving,
    unlist,
)

TIMEOUT = 10  # seconds a client waits; a refusal must come well within it
PROMPT = 5  # seconds: what "at once" means for an answer while the database is away
PACKAGE_ID = "Soak.Outage"
USER_AGENT = "soak-outage"
# What a logged traceback may end in: the database being away, nothing else.
DATABASE_ERRORS = {
    "django.db.utils.OperationalError",
    "django.db.utils.InterfaceError",
    "psycopg.OperationalError",
    "psycopg.InterfaceError",
}
EXCEPTION_LINE = re.compile(r"^(?P<name>[A-Za-z_][\w.]*(?:Error|Exception)): ")


def test_the_portal_answers_503_while_the_database_is_away_and_recovers(
    tmp_path, cluster: PrivateCluster
):
    cluster.create_database("portal")
    env = server_env(
        tmp_path,
        cluster.url("portal"),
        HOST="127.0.0.1",
        PORT=str(free_port()),
        WEB_CONCURRENCY="2",
    )
    manage(env, "migrate", "--noinput")
    # As `make run` does: the 503 page is HTML, its stylesheet named in the manifest.
    manage(env, "collectstatic", "--noinput", "--verbosity", "0")

    with serving(env, tmp_path / "server.log") as portal:
        keys = portal.server_side("setup")
        key, unknown = keys["key"], keys["bad_keys"]["unknown"]
        base = portal.base

        def push_version(version, api_key=key):
            nupkg = make_nupkg(PACKAGE_ID, version)
            return push(base, api_key, nupkg, timeout=TIMEOUT, user_agent=USER_AGENT)

        def unlist_version(version):
            return unlist(base, key, PACKAGE_ID, version, timeout=TIMEOUT, user_agent=USER_AGENT)

        assert push_version("1.0.0").status == 201
        # Both workers now hold a connection that the outage will break.
        assert [push_version("1.0.0").status for _ in range(4)] == [409] * 4

        cluster.stop()
        during = []
        for _ in range(3):  # enough for both workers to meet the outage, twice
            during += [
                push_version("2.0.0"),
                push_version("1.0.0"),
                unlist_version("1.0.0"),
                push_version("2.0.0", unknown),
                push_version("2.0.0", MALFORMED_KEY),
            ]
        index = request("GET", f"{base}/v3/index.json", timeout=TIMEOUT)

        cluster.start()
        after = {
            "push": push_version("2.0.0").status,
            "again": push_version("2.0.0").status,
            "unlist": [unlist_version("1.0.0").status for _ in range(4)],
            "bad key": push_version("3.0.0", unknown).status,
        }
    log, access = portal.log(), portal.access_log()
    state = portal.server_side("state")

    # While the database was away: a prompt 503 that says when to come back, every time.
    assert all(a.status == 503 and (a.retry_after or "").isdigit() for a in during), during
    slowest = max(a.seconds for a in during)
    assert slowest < PROMPT, during
    # The service index needs no database and kept being served.
    assert index.status == 200
    print(f"{len(during)} requests during the outage, slowest answer {slowest:.2f} s")

    # Once it was back, at once: pushes, refusals and unlists as before.
    assert after == {"push": 201, "again": 409, "unlist": [204] * 4, "bad key": 403}

    # Nothing lost, nothing half-written by the refused requests.
    versions = {v["version"]: v for v in state["versions"]}
    assert sorted(versions) == ["1.0.0", "2.0.0"]
    assert (versions["1.0.0"]["listed"], versions["2.0.0"]["listed"]) == (False, True)
    files = {
        p.relative_to(portal.packages_dir).as_posix()
        for p in portal.packages_dir.rglob("*")
        if p.is_file()
    }
    assert files == {v["file_name"] for v in versions.values()}
    pushed = [e["package_version"] for e in state["events"] if e["kind"] == "package:pushed"]
    assert pushed == ["1.0.0", "2.0.0"]
    failed = [e for e in state["events"] if e["kind"] == "api_key:auth_failed"]
    assert len(failed) == 1  # the one after the outage; none could be written during it

    # No 500 and no error but the database's: Django logs each 503 with its traceback.
    assert not [
        line for line in access if line["status"].startswith("5") and line["status"] != "503"
    ], log
    assert sum(line["status"] == "503" for line in access) == len(during)
    errors = {m["name"] for m in map(EXCEPTION_LINE.match, log.splitlines()) if m}
    assert errors <= DATABASE_ERRORS, log
    for sign in ("WORKER TIMEOUT", "exited with code"):
        assert sign not in log, f"the server log has {sign!r}:\n{log}"


def test_a_kept_connection_the_database_ended_is_replaced_before_the_next_request(
    tmp_path, soak_database_url
):
    """PostgreSQL ends a worker's connection between two requests of one keep-alive
    client (a restart, an idle timeout, ``pg_terminate_backend``). The health check
    before the next request's first query, which sends nothing (portal.postgresql),
    must still see it, so that the request gets a new connection and no 503."""
    env = server_env(
        tmp_path, soak_database_url, HOST="127.0.0.1", PORT=str(free_port()), WEB_CONCURRENCY="1"
    )
    manage(env, "migrate", "--noinput")
    name = dj_database_url.parse(soak_database_url)["NAME"]
    path = "/v3/flatcontainer/no.such.package/index.json"  # one query, nothing written

    def backends() -> list[int]:
        with servers.admin_connection(soak_database_url) as admin:
            found = admin.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [name])
            return [row[0] for row in found.fetchall()]

    def get(client) -> int:
        client.request("GET", path)
        response = client.getresponse()
        response.read()
        return response.status

    with serving(env, tmp_path / "server.log") as portal:
        client = http.client.HTTPConnection("127.0.0.1", int(env["PORT"]), timeout=TIMEOUT)
        try:
            assert get(client) == 404
            (ended,) = backends()  # the one the client's requests use
            with servers.admin_connection(soak_database_url) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", [ended])
            deadline = time.monotonic() + PROMPT
            while backends() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert backends() == []
            # The same client connection: answered as before, on a new connection.
            assert [get(client) for _ in range(3)] == [404] * 3
            (replacement,) = backends()
            assert replacement != ended
        finally:
            client.close()
    assert "Traceback" not in portal.log()
