"""Trusted publishing with nuget.exe 5.8 over real HTTP.

A CI job's OIDC token, signed by the local issuer (``tests/trustedpublishing/
issuer.py``), is exchanged at ``POST /api/v2/token`` for a short-lived key, and
nuget.exe pushes with that key as it would with any other: the steps the README
gives for GitHub Actions, against the portal under gunicorn.
"""

import json
import urllib.request

import pytest

from tests import servers
from tests.clients.conftest import ACCESS_LOG_FORMAT, Portal
from tests.nupkgs import write_nupkg
from tests.trustedpublishing.issuer import LocalIssuer

pytestmark = pytest.mark.clients
AUDIENCE = "https://nuget.test"
USER_AGENT = "portal-tests/1.0 (trusted publishing)"


@pytest.fixture(scope="module")
def issuer():
    issuer = LocalIssuer()
    yield issuer
    issuer.close()


@pytest.fixture(scope="module")
def portal(tmp_path_factory, server_database_url, issuer):
    """The portal under gunicorn trusting the local issuer for GitHub and GitLab."""
    var_dir = tmp_path_factory.mktemp("tp-portal-var")
    port = servers.free_port()
    env = servers.server_env(
        var_dir, server_database_url, HOST="127.0.0.1", PORT=str(port), WEB_CONCURRENCY="2",
        TRUSTED_PUBLISHING_ISSUERS=issuer.setting(), TRUSTED_PUBLISHING_AUDIENCE=AUDIENCE,
    )  # fmt: skip
    # The local issuer speaks plain HTTP, which only these settings accept.
    env["DJANGO_SETTINGS_MODULE"] = "tests.clients.trusted_publishing_settings"
    servers.manage(env, "migrate", "--noinput")
    servers.manage(env, "collectstatic", "--noinput")
    log_path = var_dir / "server.log"
    options = ("--bind", f"127.0.0.1:{port}", "--workers", "2",
               "--access-logformat", ACCESS_LOG_FORMAT)  # fmt: skip
    portal = Portal(base=f"http://127.0.0.1:{port}", env=env, log_path=log_path)
    with servers.serving(env, log_path, portal.index_url, *options):
        yield portal
    if "Traceback" in portal.log():
        pytest.fail("the server logged an error:\n" + portal.log(), pytrace=False)


def exchange(portal: Portal, oidc_token: str, username: str) -> dict:
    """POST the token to /api/v2/token as a CI step does; the JSON answer."""
    request = urllib.request.Request(
        f"{portal.base}/api/v2/token",
        data=json.dumps({"username": username, "tokenType": "ApiKey"}).encode(),
        method="POST",
        headers={
            "Authorization": f"Bearer {oidc_token}",
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
            return json.load(response)
    except urllib.error.HTTPError as error:
        pytest.fail(f"the exchange was refused: {error.code} {error.read().decode()}")


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


def test_nuget_exe_pushes_with_a_key_minted_from_a_github_token(portal, issuer, nuget58, tmp_path):
    portal.server_side("setup")
    portal.server_side("policy", "contoso", "widgets", "release.yml", "Contoso.*")

    oidc_token = issuer.token("github", AUDIENCE)
    answer = exchange(portal, oidc_token, "publisher")
    assert answer["tokenType"] == "ApiKey"
    assert answer["expires"]
    minted = answer["apiKey"]

    package = write_nupkg(
        tmp_path / "Contoso.Widgets.1.0.0.nupkg", package_id="Contoso.Widgets", version="1.0.0"
    )
    run = nuget58("push", str(package), "-Source", portal.index_url, "-ApiKey", minted)
    assert run.code == 0, str(run)

    stored = fetch(
        f"{portal.base}/v3/flatcontainer/contoso.widgets/1.0.0/contoso.widgets.1.0.0.nupkg"
    )
    assert stored == package.read_bytes()
    versions = portal.state()["versions"]
    assert [(v["id"], v["version"], v["pushed_by"]) for v in versions] == [
        ("Contoso.Widgets", "1.0.0", "publisher")
    ]
    # Neither the OIDC token nor the minted key is in the server's log.
    assert oidc_token not in portal.log()
    assert minted not in portal.log()
