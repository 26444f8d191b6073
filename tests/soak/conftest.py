"""The portal under gunicorn with a PostgreSQL database of its own, for the soak tests.

These tests always run on PostgreSQL, whichever database the test leg names:
the soak test makes ``portal_soak_<hex>`` on the server SOAK_POSTGRES_URL names
(default ``postgres://postgres@127.0.0.1:5432/postgres``) and drops it after; the
outage tests start a private cluster they may stop (``cluster``). The test process never opens
the server's database through Django: rows are made and read by this module run
with the server's environment, which prints one JSON line:

    python -m tests.soak.conftest setup   # {"key": ..., "bad_keys": {...}}
    python -m tests.soak.conftest state   # {"versions": [...], "events": [...]}
    python -m tests.soak.conftest delete ID   # {"deleted": rows}
"""

import contextlib
import glob
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import servers
from tests.nupkgs import multipart

POSTGRES_URL = os.environ.get("SOAK_POSTGRES_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
MALFORMED_KEY = "not-a-key"
# Access log lines the tests parse: method, path, status, seconds taken.
ACCESS_LOG_FORMAT = "access %(m)s %(U)s %(s)s %(L)s"
ACCESS_LINE = re.compile(
    r"^access (?P<method>[A-Z]+) (?P<path>\S+) (?P<status>\d{3}) (?P<seconds>[\d.]+)$"
)


def unavailable(reason: str, fix: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the soak tests must run); {fix}", pytrace=False)
    pytest.skip(f"{reason}; {fix}")


# --- A database on the shared PostgreSQL server ---------------------------------


@pytest.fixture
def soak_database_url():
    """A database of its own on the shared PostgreSQL server, whatever DATABASE_URL says."""
    import psycopg

    try:
        with servers.admin_connection(POSTGRES_URL):
            pass
    except psycopg.OperationalError as error:
        unavailable(
            f"PostgreSQL at {POSTGRES_URL} is not reachable ({error})",
            "start it, or point SOAK_POSTGRES_URL at a server where this user may create databases",
        )
    with servers.postgres_database(POSTGRES_URL, "portal_soak") as url:
        yield url


# --- A private PostgreSQL cluster, which a test may stop ---------------------------
# initdb into a temporary folder, loopback only, trust authentication, no fsync.

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

    def create_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True, connect_timeout=5) as db:
            db.execute(f"CREATE DATABASE {name}")


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
    cluster = PrivateCluster(bin_dir, root, servers.free_port(), as_postgres)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        if cluster.running():
            with contextlib.suppress(AssertionError):
                cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


# --- The portal under gunicorn ------------------------------------------------


@dataclass
class Portal:
    base: str
    env: dict[str, str]
    log_path: Path

    @property
    def packages_dir(self) -> Path:
        return Path(self.env["PACKAGES_DIR"])

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def access_log(self) -> list[dict]:
        return [m.groupdict() for m in map(ACCESS_LINE.match, self.log().splitlines()) if m]

    def server_side(self, command: str, *args: str) -> dict:
        return server_side(self.env, command, *args)


def server_env(var_dir: Path, database_url: str, **extra: str) -> dict[str, str]:
    return servers.server_env(
        var_dir, database_url, PACKAGES_DIR=str(var_dir / "packages"), **extra
    )


def server_side(env: dict[str, str], command: str, *args: str) -> dict:
    """Run this module's ``command`` against the database ``env`` names."""
    return servers.server_side(env, "tests.soak.conftest", command, *args)


@contextlib.contextmanager
def serving(env: dict[str, str], log_path: Path):
    """gunicorn as `make run` starts it, on the HOST, PORT and WEB_CONCURRENCY in ``env``;
    stopped (the whole process group) however the block ends."""
    portal = Portal(base=f"http://{env['HOST']}:{env['PORT']}", env=env, log_path=log_path)
    options = ("--access-logformat", ACCESS_LOG_FORMAT)
    with servers.serving(env, log_path, f"{portal.base}/v3/index.json", *options):
        yield portal


# --- Talking to it --------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int  # 0: no HTTP answer at all (refused, reset, timed out); see reason
    reason: str
    retry_after: str | None
    seconds: float


def request(method: str, url: str, *, body=None, headers=None, timeout: float) -> Answer:
    started = time.monotonic()
    outgoing = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(outgoing, timeout=timeout) as response:
            response.read()
            status, reason, retry_after = response.status, response.reason, None
    except urllib.error.HTTPError as error:
        error.read()
        status, reason, retry_after = error.code, error.reason, error.headers.get("Retry-After")
        error.close()
    except (urllib.error.URLError, OSError) as error:
        status, reason, retry_after = 0, repr(error), None
    return Answer(status, str(reason), retry_after, time.monotonic() - started)


def push(base: str, key: str, nupkg: bytes, *, timeout: float, user_agent: str) -> Answer:
    body, content_type = multipart(nupkg)
    headers = {
        "X-NuGet-ApiKey": key,
        "Content-Type": content_type,
        "User-Agent": user_agent,
    }
    return request("PUT", f"{base}/api/v2/package/", body=body, headers=headers, timeout=timeout)


def unlist(
    base: str, key: str, package_id: str, version: str, *, timeout: float, user_agent: str
) -> Answer:
    headers = {"X-NuGet-ApiKey": key, "User-Agent": user_agent}
    url = f"{base}/api/v2/package/{package_id}/{version}"
    return request("DELETE", url, headers=headers, timeout=timeout)


# --- Run with the server's environment ----------------------------------------------


def _setup() -> dict:
    from allauth.account.models import EmailAddress
    from django.contrib.auth import get_user_model

    from apikeys import keys
    from apikeys.services import api_key_create, api_key_revoke

    owner = get_user_model().objects.create_user(
        username="soak", email="soak@example.com", password="a long unused passphrase"
    )
    # Keys need a confirmed email address.
    EmailAddress.objects.create(user=owner, email=owner.email, primary=True, verified=True)

    def create(name):
        return api_key_create(
            owner=owner,
            name=name,
            actions=["package:push", "package:unlist"],
            package_ids=[],
            globs=["Soak.*"],
            expiration_days=30,
            actor=owner,
        )

    _, plaintext = create("soak")
    revoked, revoked_plaintext = create("revoked")
    api_key_revoke(api_key=revoked, actor=owner)
    # Three ways to fail: no key format at all, the right format but no such key
    # (a database lookup), and a key that exists but was revoked.
    bad_keys = {
        "malformed": MALFORMED_KEY,
        "unknown": keys.generate(),
        "revoked": revoked_plaintext,
    }
    return {"key": plaintext, "bad_keys": bad_keys}


def _state() -> dict:
    from audit.models import Event
    from packages.models import PackageVersion

    versions = [
        {
            "id": row.package.name,
            "version": row.normalized_version,
            "listed": row.listed,
            "file_name": row.file_name,
            "size": row.size,
            "sha512": row.sha512,
        }
        for row in PackageVersion.objects.select_related("package").order_by("pk")
    ]
    events = [
        {
            "kind": event.kind,
            "package_id": event.package_id,
            "package_version": event.package_version,
            "details": event.details,
        }
        for event in Event.objects.order_by("pk")
    ]
    return {"versions": versions, "events": events}


def _delete(package_id: str) -> dict:
    """Delete the package and its versions, as the admin's delete action does."""
    from packages.models import Package

    deleted, _ = Package.objects.filter(name__iexact=package_id).delete()
    return {"deleted": deleted}


if __name__ == "__main__":
    import django

    django.setup()
    commands = {"setup": _setup, "state": _state, "delete": _delete}
    print(json.dumps(commands[sys.argv[1]](*sys.argv[2:])))
