"""/health/ready under gunicorn while real services go away: PostgreSQL, Redis and the
S3 store are each stopped, then started again; Redis and the store also hang
(stopped with SIGSTOP: the kernel still accepts connections, nobody answers).

Every service is the test's own: a private PostgreSQL cluster (``cluster``), a
redis-server and moto's S3 server on free loopback ports. Each outage must be
answered by a 503 naming that service alone, within the check's timeout plus a
margin, and the service back by 200 at once.
"""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import s3server, servers
from tests.soak.conftest import PrivateCluster, unavailable

pytestmark = pytest.mark.slow

CHECK_TIMEOUT = 1.0  # HEALTH_CHECK_TIMEOUT the server runs with
MARGIN = 1.5  # seconds a failed answer may take beyond the timeout
PROBES = 4  # per state: with two workers, most likely each meets it
CHECKS = ("database", "cache", "storage")


@dataclass(frozen=True)
class Ready:
    status: int
    reason: str
    checks: dict
    seconds: float


def probe(base: str) -> Ready:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(f"{base}/health/ready", timeout=10) as response:
            status, reason, body = response.status, response.reason, response.read()
    except urllib.error.HTTPError as error:
        with error:
            status, reason, body = error.code, error.reason, error.read()
    return Ready(status, str(reason), json.loads(body)["checks"], time.monotonic() - started)


def assert_failed(base: str, name: str) -> None:
    """Every probe answers 503 naming ``name`` alone, each within the timeout and margin."""
    answers = [probe(base) for _ in range(PROBES)]
    expected = {check: "failed" if check == name else "ok" for check in CHECKS}
    assert [a.status for a in answers] == [503] * PROBES, answers
    assert all(a.checks == expected for a in answers), answers
    assert {a.reason for a in answers} == {f"Service Unavailable: {name} not reachable"}
    slowest = max(a.seconds for a in answers)
    assert slowest < CHECK_TIMEOUT + MARGIN, answers
    print(f"{name}: 503 in at most {slowest:.2f} s")


def assert_ready(base: str) -> None:
    answers = [probe(base) for _ in range(PROBES)]
    assert [a.status for a in answers] == [200] * PROBES, answers


class RedisServer:
    """redis-server on ``port``, nothing saved; started again on the same port."""

    def __init__(self, executable: str, port: int, folder: Path):
        self.executable, self.port, self.folder = executable, port, folder
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redis

        command = [
            self.executable,
            *("--port", str(self.port), "--bind", "127.0.0.1"),
            *("--save", "", "--appendonly", "no", "--dir", str(self.folder)),
        ]
        with (self.folder / "redis.log").open("a") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=self.port, socket_timeout=1).ping()
                return
            except redis.RedisError:
                log = (self.folder / "redis.log").read_text(errors="replace")
                assert self.process.poll() is None, log
                assert time.monotonic() < deadline, log
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)  # in case it was paused
            self.process.terminate()
            self.process.wait(timeout=10)

    def pause(self) -> None:
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)


@pytest.fixture
def redis_server(tmp_path):
    executable = shutil.which("redis-server")
    if executable is None:
        unavailable(
            "redis-server is not installed", "install it with: apt-get install -y redis-server"
        )
    folder = tmp_path / "redis"
    folder.mkdir()
    server = RedisServer(executable, servers.free_port(), folder)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_readiness_names_each_stopped_or_hung_service_and_recovers(
    tmp_path, cluster: PrivateCluster, redis_server: RedisServer
):
    cluster.create_database("portal")
    moto_log = tmp_path / "moto.log"
    with contextlib.ExitStack() as stack:
        s3 = stack.enter_context(s3server.running(moto_log))
        bucket = s3.new_bucket()
        env = servers.server_env(
            tmp_path,
            cluster.url("portal"),
            HOST="127.0.0.1",
            PORT=str(servers.free_port()),
            WEB_CONCURRENCY="2",
            REDIS_URL=redis_server.url,
            HEALTH_CHECK_TIMEOUT=str(CHECK_TIMEOUT),
            **s3.env(bucket),
        )
        servers.manage(env, "migrate", "--noinput")
        base = f"http://127.0.0.1:{env['PORT']}"
        _, body = stack.enter_context(
            servers.serving(env, tmp_path / "server.log", f"{base}/health/ready")
        )
        assert json.loads(body)["checks"] == dict.fromkeys(CHECKS, "ok")
        assert_ready(base)  # both workers hold a database connection the outage breaks

        cluster.stop()
        assert_failed(base, "database")
        cluster.start()
        assert_ready(base)

        redis_server.stop()
        assert_failed(base, "cache")
        redis_server.start()
        assert_ready(base)

        redis_server.pause()
        assert_failed(base, "cache")
        redis_server.resume()
        assert_ready(base)

        servers.stop(s3.process)
        assert_failed(base, "storage")
        # The same address; moto keeps buckets in memory, so the bucket is made again
        # (a real store would still have it).
        port = int(s3.endpoint_url.rsplit(":", 1)[1])
        s3 = stack.enter_context(s3server.running(moto_log, port=port))
        s3.client().create_bucket(Bucket=bucket)
        assert_ready(base)

        os.kill(s3.process.pid, signal.SIGSTOP)
        try:
            assert_failed(base, "storage")
        finally:
            os.kill(s3.process.pid, signal.SIGCONT)
        assert_ready(base)
        # The probes left no file behind.
        assert s3.keys(bucket) == []
