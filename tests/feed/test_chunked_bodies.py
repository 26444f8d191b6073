"""Broken chunked bodies against real gunicorn, over a raw socket: 400, never a 500.

gunicorn de-chunks the body while the view reads it, so a body that stops early or
carries a bad chunk size surfaces as the server's own exception inside the view.
"""

import json
import socket
import subprocess
import sys

import pytest

from tests import servers
from tests.feed.conftest import multipart
from tests.nupkgs import make_nupkg


@pytest.fixture(scope="module")
def portal(tmp_path_factory):
    var_dir = tmp_path_factory.mktemp("portal")
    port = servers.free_port()
    env = servers.server_env(
        var_dir, None, HOST="127.0.0.1", PORT=str(port), WEB_CONCURRENCY="1",
        PACKAGES_DIR=str(var_dir / "packages"),
    )  # fmt: skip
    servers.manage(env, "migrate", "--noinput")
    done = subprocess.run(
        [sys.executable, "-m", "tests.clients.server_side", "setup"],
        cwd=servers.ROOT, env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    key = json.loads(done.stdout.strip().splitlines()[-1])["keys"]["contoso"]
    log_path = var_dir / "gunicorn.log"
    process = servers.start_gunicorn(env, log_path)
    try:
        servers.wait_until_serving(
            f"http://127.0.0.1:{port}/v3/index.json", process, log_path.read_text
        )
        yield port, key, var_dir / "packages"
    finally:
        servers.stop(process)


def send(port: int, key: str, chunks: bytes, content_type: str) -> bytes:
    """PUT a chunked push whose chunked framing is ``chunks``; the status line back."""
    head = (
        "PUT /api/v2/package/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"X-NuGet-ApiKey: {key}\r\nContent-Type: {content_type}\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head + chunks)
        sock.shutdown(socket.SHUT_WR)  # the client stops sending here
        answer = b""
        while data := sock.recv(65536):
            answer += data
    return answer.split(b"\r\n", 1)[0]


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


@pytest.mark.parametrize(
    "framing",
    [
        pytest.param(lambda body: chunk(body[:1000]), id="stops-early"),
        pytest.param(lambda body: chunk(body[:1000])[:500], id="stops-mid-chunk"),
        pytest.param(lambda body: chunk(body[:1000]) + b"zz\r\n" + body[1000:], id="bad-size"),
    ],
)
def test_a_broken_chunked_body_is_400(portal, framing):
    port, key, packages_dir = portal
    body, content_type = multipart(make_nupkg("Contoso.Core", "1.0.0"))
    status = send(port, key, framing(body), content_type)
    assert status.startswith(b"HTTP/1.1 400 "), status
    assert not packages_dir.exists() or not any(p.is_file() for p in packages_dir.rglob("*"))


def test_a_whole_chunked_body_is_201(portal):
    port, key, _ = portal
    body, content_type = multipart(make_nupkg("Contoso.Core", "2.0.0"))
    status = send(port, key, chunk(body[:1000]) + chunk(body[1000:]) + b"0\r\n\r\n", content_type)
    assert status.startswith(b"HTTP/1.1 201 "), status
