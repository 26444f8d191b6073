"""The database goes away and comes back; the portal answers 503 meanwhile, then carries on.

The database is a private PostgreSQL cluster started for this test (the shared
one must never be stopped): initdb into a temporary folder, loopback only,
trust authentication, no fsync. gunicorn keeps its connections between requests
(CONN_MAX_AGE's default), so the outage also breaks connections the workers hold.
"""

import contextlib
import glob
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.nupkgs import make_nupkg
from tests.servers import free_port, manage
from tests.soak.conftest import (
    MALFORMED_KEY,
    push,
    request,
    server_env,
    serving,
    unavailable,
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
# Loopback only and nobody else on it: trust is enough. --no-sync: a throwaway cluster.
INITDB_OPTIONS = ("--username=postgres", "--auth=trust", "--encoding=UTF8", "--no-sync")
PG_CTL_WAIT = ("--wait", "--timeout=30")


def _postgres_bin() -> Path | None:
    """The newest installed server's binaries (Debian's layout), or those on PATH."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: [int(n) for n in re.findall(r"\d+", Path(path).parent.parent.name)],
    )
    initdb = found[-1] if found else shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PrivateCluster:
    """A throwaway PostgreSQL cluster in ``root``, owned by ``postgres`` when we are root
    (the server refuses to run as root)."""

    def __init__(self, bin_dir: Path, root: Path, port: int, as_postgres: bool):
        self.bin_dir, self.root, self.port = bin_dir, root, port
        self.data = root / "data"
        self.prefix = ["runuser", "-u", "postgres", "--"] if as_postgres else []

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run(
            [*self.prefix, str(self.bin_dir / tool), *args],
            # A folder postgres may enter, or it complains about the working directory.
            cwd=self.root,
            env={"PATH": os.environ.get("PATH", ""), "LC_ALL": "C"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, (
            f"{tool} {' '.join(args)} failed:\n{done.stdout}{done.stderr}\n{self.server_log()}"
        )

    def server_log(self) -> str:
        path = self.root / "postgres.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def init(self) -> None:
        self._run("initdb", f"--pgdata={self.data}", *INITDB_OPTIONS)
        settings = {
            "port": str(self.port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.root}'",
            # A test database: speed over durability.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())

    def start(self) -> None:
        log = self.root / "postgres.log"
        self._run("pg_ctl", "start", f"--pgdata={self.data}", f"--log={log}", *PG_CTL_WAIT)

    def stop(self) -> None:
        # fast: what an operator's restart or a failover does to open connections.
        self._run("pg_ctl", "stop", f"--pgdata={self.data}", "--mode=fast", *PG_CTL_WAIT)

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()


@pytest.fixture
def cluster():
    bin_dir = _postgres_bin()
    if bin_dir is None:
        unavailable(
            "PostgreSQL's server binaries (initdb) are not installed",
            "install them with: apt-get install -y postgresql",
        )
    as_postgres = os.geteuid() == 0
    if as_postgres:
        if shutil.which("runuser") is None:
            unavailable(
                "running as root, without runuser to start PostgreSQL as postgres",
                "install util-linux, or run the tests as another user",
            )
        try:
            postgres = pwd.getpwnam("postgres")
        except KeyError:
            unavailable(
                "running as root, with no postgres user to start PostgreSQL as",
                "install it with: apt-get install -y postgresql",
            )
    # Not under tmp_path: pytest makes its folders private to us, and postgres must enter.
    root = Path(tempfile.mkdtemp(prefix="portal-outage-pg-"))
    if as_postgres:
        os.chown(root, postgres.pw_uid, postgres.pw_gid)
    cluster = PrivateCluster(bin_dir, root, free_port(), as_postgres)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        if cluster.running():
            with contextlib.suppress(AssertionError):
                cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def _create_database(cluster: PrivateCluster, name: str) -> None:
    import psycopg

    with psycopg.connect(cluster.url("postgres"), autocommit=True, connect_timeout=5) as db:
        db.execute(f"CREATE DATABASE {name}")


def test_the_portal_answers_503_while_the_database_is_away_and_recovers(tmp_path, cluster):
    _create_database(cluster, "portal")
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
