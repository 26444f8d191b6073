"""Real NuGet clients against the portal served by gunicorn.

The clients come from Debian and npm, never from the repository:

    apt-get install -y nuget mono-runtime libmono-system-net-http4.0-cil \
        libmono-system-io-compression4.0-cil npm

``/usr/bin/nuget`` is NuGet 2.8.7; nuget.exe 5.8 is fetched once with
``npm pack nuget-exe@5.8.0`` into ``~/.cache/portal-tests/`` (``XDG_CACHE_HOME``
moves it). Without them the tests skip, saying what to install; with CI=true
they fail instead.

The portal runs under gunicorn, not runserver, which cannot read the chunked
bodies nuget.exe sends. It gets a database of its own (an SQLite file in its
VAR_DIR, or a fresh PostgreSQL database when DATABASE_URL names PostgreSQL), so
rows are made and read by ``tests/clients/server_side.py`` run with the server's
environment, not through the test process's pytest-django database.
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import servers
from tests.servers import ROOT

APT_PACKAGES = (
    "nuget mono-runtime libmono-system-net-http4.0-cil libmono-system-io-compression4.0-cil"
)
# nuget.exe 5.8 dies at its first request without these two assemblies.
MONO_ASSEMBLIES = (
    Path("/usr/lib/mono/4.5/System.Net.Http.dll"),
    Path("/usr/lib/mono/4.5/System.IO.Compression.dll"),
)
DEBIAN_NUGET = Path("/usr/bin/nuget")
NUGET_EXE_VERSION = "5.8.0"
# The exe inside the npm package; a cached copy that differs is fetched again.
NUGET_EXE_SHA256 = "5c5b9c96165d3283b2cb9e5b65825d343e0e7139b9e70a250b4bb24c2285f3ba"
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "portal-tests"
CLIENT_TIMEOUT = 180

# The access log names the two headers that tell a chunked push from one with a
# length, so the tests can check which path each client took.
ACCESS_LOG_FORMAT = (
    '%(m)s %(U)s %(s)s te=%({transfer-encoding}i)s cl=%({content-length}i)s ua="%(a)s"'
)
ACCESS_LINE = re.compile(
    r"^(?P<method>[A-Z]+) (?P<path>\S+) (?P<status>\d{3}) te=(?P<te>\S*) cl=(?P<cl>\S*) "
    r'ua="(?P<ua>[^"]*)"$'
)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "clients: runs real NuGet clients (Mono) against gunicorn; slow-ish"
    )


def _unavailable(reason: str, fix: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: client tests must run); {fix}", pytrace=False)
    pytest.skip(f"{reason}; {fix}")


# --- The clients --------------------------------------------------------------


@dataclass(frozen=True)
class ClientRun:
    command: list[str]
    code: int
    output: str  # stdout and stderr together: the clients print refusals on stderr

    def __str__(self):
        return f"$ {' '.join(self.command)}\nexit code {self.code}\n{self.output}"

    @property
    def runtime_crashed(self) -> bool:
        """Mono itself died of a signal, with its crash report: not the client's verdict.

        Mono aborts now and then under heavy load, in its own runtime, after the
        client's request has gone out; what the client would have printed is lost.
        """
        return self.code < 0 and "while executing native code" in self.output


def _run_client(command: list[str], *, cwd: Path, home: Path) -> ClientRun:
    done = subprocess.run(
        command,
        cwd=cwd,
        env=servers.inherited_env(HOME=str(home)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=CLIENT_TIMEOUT,
        check=False,
    )
    return ClientRun(command, done.returncode, done.stdout)


@pytest.fixture(scope="session")
def mono() -> str:
    found = shutil.which("mono")
    missing = [str(path) for path in MONO_ASSEMBLIES if not path.exists()]
    if found is None or missing:
        what = "mono is not installed" if found is None else f"Mono lacks {', '.join(missing)}"
        _unavailable(what, f"install it with: apt-get install -y {APT_PACKAGES}")
    return found


def _sha256(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


@pytest.fixture(scope="session")
def nuget_exe(mono) -> Path:
    """nuget.exe 5.8, from the npm package ``nuget-exe``, cached outside the repository."""
    target = CACHE_DIR / f"nuget-{NUGET_EXE_VERSION}.exe"
    if target.is_file() and _sha256(target) == NUGET_EXE_SHA256:
        return target
    npm = shutil.which("npm")
    if npm is None:
        _unavailable(
            f"npm is not installed and {target} is not there",
            "install it with: apt-get install -y npm "
            f"(the tests then run: npm pack nuget-exe@{NUGET_EXE_VERSION})",
        )
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE_DIR) as scratch:
        done = subprocess.run(
            [npm, "pack", f"nuget-exe@{NUGET_EXE_VERSION}", "--silent"],
            cwd=scratch,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        tarballs = list(Path(scratch).glob("*.tgz"))
        if done.returncode != 0 or not tarballs:
            _unavailable(
                f"npm pack nuget-exe@{NUGET_EXE_VERSION} failed: {done.stderr.strip()[-500:]}",
                "the npm registry must be reachable",
            )
        with tarfile.open(tarballs[0]) as archive:
            member = archive.extractfile(f"package/nuget-{NUGET_EXE_VERSION}.exe")
            exe = Path(scratch) / target.name
            exe.write_bytes(member.read())
        assert _sha256(exe) == NUGET_EXE_SHA256, "nuget-exe from npm is not the expected file"
        # Atomic, so a concurrent run never sees half a file.
        os.replace(exe, target)
    return target


@pytest.fixture(scope="session")
def debian_nuget(mono) -> Path:
    if not DEBIAN_NUGET.exists():
        _unavailable(
            "NuGet 2.8.7 (/usr/bin/nuget) is not installed",
            f"install it with: apt-get install -y {APT_PACKAGES}",
        )
    return DEBIAN_NUGET


@pytest.fixture(scope="module")
def client_home(tmp_path_factory) -> Path:
    # The clients write their config and HTTP cache under HOME.
    return tmp_path_factory.mktemp("client-home")


@pytest.fixture(scope="module")
def nuget58(mono, nuget_exe, client_home):
    """``nuget58("push", path, "-Source", url, "-ApiKey", key)``: nuget.exe 5.8 under Mono."""

    def run(*args: str, cwd: Path = ROOT) -> ClientRun:
        command = [mono, str(nuget_exe), *args, "-NonInteractive"]
        return _run_client(command, cwd=cwd, home=client_home)

    return run


@pytest.fixture(scope="module")
def nuget287(debian_nuget, client_home):
    """Debian's NuGet 2.8.7; give it the package as a name relative to ``cwd``: it
    takes an absolute Unix path for a relative one (``/tmp/x`` → ``$PWD/tmp/x``)."""

    def run(*args: str, cwd: Path) -> ClientRun:
        command = [str(debian_nuget), *args, "-NonInteractive"]
        return _run_client(command, cwd=cwd, home=client_home)

    return run


# --- The server ---------------------------------------------------------------


@pytest.fixture(scope="module")
def server_database_url():
    """The DATABASE_URL the server gets: None (an SQLite file in its VAR_DIR) or a
    PostgreSQL database made for this module and dropped after it."""
    with servers.server_database("portal_clients") as database_url:
        yield database_url


@dataclass
class Portal:
    base: str
    env: dict[str, str]
    log_path: Path

    @property
    def index_url(self) -> str:
        return f"{self.base}/v3/index.json"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def server_side(self, *args: str) -> dict:
        """Run ``tests/clients/server_side.py`` against the server's database."""
        return servers.server_side(self.env, "tests.clients.server_side", *args)

    def state(self) -> dict:
        return self.server_side("state")

    def access_log(self) -> list[dict]:
        return [m.groupdict() for m in map(ACCESS_LINE.match, self.log().splitlines()) if m]

    def wait_for_access(self, method: str, status: str, user_agent: str) -> list[dict]:
        """Access-log entries matching; gunicorn logs just after answering, so wait briefly."""
        deadline = time.monotonic() + 5
        while True:
            found = [
                entry
                for entry in self.access_log()
                if entry["method"] == method
                and entry["status"] == status
                and user_agent in entry["ua"]
            ]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.1)


@pytest.fixture(scope="module")
def portal(tmp_path_factory, server_database_url):
    """The portal under gunicorn on a free loopback port, with its own database."""
    var_dir = tmp_path_factory.mktemp("portal-var")
    port = servers.free_port()
    env = servers.server_env(
        var_dir,
        server_database_url,
        HOST="127.0.0.1",
        PORT=str(port),
        WEB_CONCURRENCY="2",
    )
    servers.manage(env, "migrate", "--noinput")
    # As `make run` does: NuGet 2.8.7 first GETs the home page, which needs the manifest.
    servers.manage(env, "collectstatic", "--noinput")

    log_path = var_dir / "server.log"
    portal = Portal(base=f"http://127.0.0.1:{port}", env=env, log_path=log_path)
    options = ("--bind", f"127.0.0.1:{port}", "--workers", "2",
               "--access-logformat", ACCESS_LOG_FORMAT)  # fmt: skip
    with servers.serving(env, log_path, portal.index_url, *options) as (_, body):
        index = json.loads(body)
        publish = [r["@id"] for r in index["resources"] if r["@type"] == "PackagePublish/2.0.0"]
        assert publish == [f"{portal.base}/api/v2/package"], index
        yield portal
    # A client may carry on after a 500 (NuGet 2.8.7 ignores a failing GET /).
    if "Traceback" in portal.log():
        pytest.fail("the server logged an error:\n" + portal.log(), pytrace=False)
