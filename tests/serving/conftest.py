"""The portal served as `make run` and a deployment serve it: gunicorn reading
``gunicorn.conf.py``, on a free loopback port, with a database of its own (an SQLite
file in its VAR_DIR, or a fresh PostgreSQL database when DATABASE_URL names
PostgreSQL). Rows are made with ``tests/serving/server_side.py`` run with the
server's environment, never through the test process's pytest-django database.
"""

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import servers


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "serving: gunicorn as gunicorn.conf.py starts it, under hostile clients"
    )


@dataclass
class Portal:
    host: str
    port: int
    env: dict[str, str]
    log_path: Path

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def server_side(self, command: str) -> dict:
        return servers.server_side(self.env, "tests.serving.server_side", command)


@pytest.fixture(scope="module")
def server_database_url():
    with servers.server_database("portal_serving") as database_url:
        yield database_url


@pytest.fixture(scope="module")
def portal(tmp_path_factory, server_database_url):
    """gunicorn with nothing on its command line but the application: workers, worker
    class and the rest come from ``gunicorn.conf.py``; WEB_CONCURRENCY=5 is the
    default on two cores, pinned so the test means the same on any machine."""
    var_dir = tmp_path_factory.mktemp("portal-var")
    host, port = "127.0.0.1", servers.free_port()
    env = servers.server_env(
        var_dir,
        server_database_url,
        HOST=host,
        PORT=str(port),
        WEB_CONCURRENCY="5",
        PACKAGES_DIR=str(var_dir / "packages"),
    )
    servers.manage(env, "migrate", "--noinput")
    # As `make run` does: the home page's templates need the static files' manifest.
    servers.manage(env, "collectstatic", "--noinput", "--verbosity", "0")
    log_path = var_dir / "server.log"
    portal = Portal(host=host, port=port, env=env, log_path=log_path)
    with servers.serving(env, log_path, f"{portal.base}/"):
        yield portal
    if "Traceback" in portal.log():
        pytest.fail("the server logged an error:\n" + portal.log(), pytrace=False)
