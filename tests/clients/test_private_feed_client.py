"""A private feed (FEED_READ_ACCESS=authenticated) with nuget.exe 5.8 over real HTTP.

Without credentials nuget.exe cannot install; with a nuget.config that holds the
source and a read key as its ``packageSourceCredentials`` password (sent as HTTP
Basic after the server's 401), it installs, and it pushes with a push key as
before. The steps run in one test, in order: nuget.exe caches what it read, so a
run without credentials after one with them could succeed from its cache.
"""

import json
import subprocess
import sys
from xml.sax.saxutils import quoteattr

import pytest

from tests import servers
from tests.clients.conftest import ACCESS_LOG_FORMAT, Portal
from tests.nupkgs import write_nupkg
from tests.servers import ROOT

pytestmark = pytest.mark.clients
SOURCE = "private"


@pytest.fixture(scope="module")
def portal(tmp_path_factory, server_database_url):
    """The portal under gunicorn with FEED_READ_ACCESS=authenticated."""
    var_dir = tmp_path_factory.mktemp("private-portal-var")
    port = servers.free_port()
    env = servers.server_env(
        var_dir, server_database_url, HOST="127.0.0.1", PORT=str(port), WEB_CONCURRENCY="2",
        FEED_READ_ACCESS="authenticated",
    )  # fmt: skip
    servers.manage(env, "migrate", "--noinput")
    servers.manage(env, "collectstatic", "--noinput")
    log_path = var_dir / "server.log"
    options = ("--bind", f"127.0.0.1:{port}", "--workers", "2",
               "--access-logformat", ACCESS_LOG_FORMAT)  # fmt: skip
    portal = Portal(base=f"http://127.0.0.1:{port}", env=env, log_path=log_path)
    # The service index needs a key here; the home page says when gunicorn serves.
    with servers.serving(env, log_path, f"{portal.base}/", *options):
        yield portal
    if "Traceback" in portal.log():
        pytest.fail("the server logged an error:\n" + portal.log(), pytrace=False)


def read_key(portal) -> str:
    """A Download packages key for Demo.*, made with ``manage.py apikey create``."""
    done = subprocess.run(
        [sys.executable, "manage.py", "apikey", "create", "--user", "publisher",
         "--name", "restore", "--scope", "read", "--glob", "Demo.*"],
        cwd=ROOT, env=portal.env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()[-1]


def nuget_config(path, source_url: str, password: str):
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<configuration>\n'
        f"  <packageSources>\n    <clear />\n"
        f"    <add key={quoteattr(SOURCE)} value={quoteattr(source_url)} />\n"
        "  </packageSources>\n  <packageSourceCredentials>\n"
        f"    <{SOURCE}>\n"
        '      <add key="Username" value="ci" />\n'
        f'      <add key="ClearTextPassword" value={quoteattr(password)} />\n'
        f"    </{SOURCE}>\n  </packageSourceCredentials>\n</configuration>\n"
    )
    return path


def assert_ran(run) -> None:
    assert run.code == 0, str(run)


def test_install_needs_a_read_key_from_nuget_config(portal, nuget58, tmp_path):
    portal.server_side("setup")
    push_key = portal.server_side("key", "demo", "Demo.*")["key"]
    reader = read_key(portal)
    config = nuget_config(tmp_path / "nuget.config", portal.index_url, reader)

    # Pushing is as before: the PUT carries the push key; the service index that
    # nuget.exe reads first is answered for the source's credentials.
    lib = write_nupkg(tmp_path / "Demo.Lib.1.0.0.nupkg", package_id="Demo.Lib", version="1.0.0")
    app = write_nupkg(
        tmp_path / "Demo.App.1.0.0.nupkg", package_id="Demo.App", version="1.0.0",
        metadata_extra='<dependencies><dependency id="Demo.Lib" version="[1.0.0, )" />'
        "</dependencies>",
    )  # fmt: skip
    for package in (lib, app):
        assert_ran(nuget58("push", str(package), "-Source", SOURCE, "-ApiKey", push_key,
                           "-ConfigFile", str(config)))  # fmt: skip
    assert len(portal.state()["versions"]) == 2

    # Without credentials: refused, and nothing installed.
    bare = tmp_path / "bare"
    refused = nuget58("install", "Demo.App", "-Source", portal.index_url,
                      "-OutputDirectory", str(bare))  # fmt: skip
    assert refused.code != 0, str(refused)
    assert "401" in refused.output or "Unauthorized" in refused.output, str(refused)
    assert not list(bare.glob("*/*.nupkg"))

    # With the read key in nuget.config: both packages, the bytes that were pushed.
    out = tmp_path / "out"
    assert_ran(nuget58("install", "Demo.App", "-Source", SOURCE, "-ConfigFile", str(config),
                       "-OutputDirectory", str(out)))  # fmt: skip
    installed = {path.name: path.read_bytes() for path in out.glob("*/*.nupkg")}
    assert installed == {lib.name: lib.read_bytes(), app.name: app.read_bytes()}

    # .NET sends credentials only when challenged: each URL is a 401, then a 200.
    # A request without a key is not a failed key, so this costs no failure count.
    answered = {(e["path"], e["status"]) for e in portal.access_log() if e["method"] == "GET"}
    for path in ("/v3/index.json", "/v3/flatcontainer/demo.lib/1.0.0/demo.lib.1.0.0.nupkg",
                 "/v3/flatcontainer/demo.app/1.0.0/demo.app.1.0.0.nupkg"):  # fmt: skip
        assert {(path, "401"), (path, "200")} <= answered
    events = portal.state()["events"]
    refusals = [e for e in events if e["kind"] in ("package:refused", "api_key:auth_failed")]
    assert not refusals, json.dumps(events)
