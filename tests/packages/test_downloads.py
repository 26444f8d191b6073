"""Download counts: counted in memory, written by ``flush()``, never lost on a stop."""

import json
import re
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models.functions import Lower
from django.db.transaction import TransactionManagementError

from packages import conf, downloads
from packages.models import Package, SearchEntry
from tests import servers
from tests.feed import conftest as feed_fixtures
from tests.feed import read_fixtures
from tests.nupkgs import make_nupkg, multipart

# Publishing as the feed's tests do: through the push endpoint, files in tmp_path.
_package_files, owner, push = feed_fixtures._package_files, feed_fixtures.owner, feed_fixtures.push
publish = read_fixtures.publish
NUPKG = "/v3/flatcontainer/contoso.core/{v}/contoso.core.{v}.nupkg"


@pytest.fixture(autouse=True)
def counts_written_in_each_test():
    """Earlier tests' downloads (in this process's memory) are written before this
    test makes its rows, and this test's before its rows go."""
    downloads.flush()
    yield
    downloads.flush()


def counts() -> tuple[int, dict[str, int], int]:
    package = Package.objects.annotate(n=Lower("name")).get(n="contoso.core")
    by_version = {v.normalized_version: v.download_count for v in package.versions.all()}
    return package.download_count, by_version, SearchEntry.objects.get(package=package).downloads


@pytest.mark.django_db
class TestFlush:
    def test_writes_the_downloads_to_the_version_the_package_and_the_ranking(self, client, publish):
        publish("Contoso.Core", "1.0.0")
        publish("Contoso.Core", "2.0.0")
        for version in ("1.0.0", "1.0.0", "2.0.0"):
            assert client.get(NUPKG.format(v=version)).status_code == 200
        assert counts() == (0, {"1.0.0": 0, "2.0.0": 0}, 0)
        assert downloads.flush() == 3
        assert counts() == (3, {"1.0.0": 2, "2.0.0": 1}, 3)
        assert downloads.flush() == 0
        assert counts() == (3, {"1.0.0": 2, "2.0.0": 1}, 3)

    def test_in_one_transaction_whatever_the_number_of_downloads(
        self, client, publish, django_assert_num_queries
    ):
        publish("Contoso.Core", "1.0.0")
        for _ in range(20):
            client.get(NUPKG.format(v="1.0.0"))
        # A savepoint (inside the test's transaction) and its release around one
        # update per version, one per package, one for its search entry and one
        # for its search terms.
        with django_assert_num_queries(6):
            assert downloads.flush() == 20

    def test_a_write_that_fails_keeps_the_counts_for_the_next(self, client, publish):
        publish("Contoso.Core", "1.0.0")
        client.get(NUPKG.format(v="1.0.0"))
        client.get(NUPKG.format(v="1.0.0"))
        with transaction.atomic():
            # A transaction marked for rollback refuses every query, as a lost
            # database connection would.
            transaction.set_rollback(True)
            with pytest.raises(TransactionManagementError):
                downloads.flush()
        assert counts() == (0, {"1.0.0": 0}, 0)
        assert downloads.flush() == 2
        assert counts() == (2, {"1.0.0": 2}, 2)


# --- Under gunicorn ---------------------------------------------------------------

WORKERS = 2
CLIENT_THREADS = 8
ACCESS_LOG_FORMAT = "counted %(p)s %(m)s %(U)s %(s)s"
ACCESS_LINE = re.compile(r"^counted <(?P<pid>\d+)> GET (?P<path>\S+\.nupkg) 200$")
# Run with the server's environment by manage.py shell: the rows the server sees.
SETUP = """
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from apikeys.services import api_key_create
user = get_user_model().objects.create_user(username="owner", email="owner@example.com")
EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
print(api_key_create(owner=user, name="push", actions=["package:push"], package_ids=[],
                     globs=["*"], expiration_days=1, actor=user)[1])
"""
COUNTS = """
import json
from packages.models import Package, PackageVersion, SearchEntry
print(json.dumps({
    "package": Package.objects.get().download_count,
    "versions": dict(PackageVersion.objects.values_list("normalized_version", "download_count")),
    "ranking": SearchEntry.objects.get().downloads,
}))
"""


def shell(env: dict[str, str], code: str) -> str:
    output = servers.run_python(env, "manage.py", "shell", "-c", code, timeout=120)
    return output.strip().splitlines()[-1]


@pytest.fixture
def database_url():
    """The leg's database kind: None (an SQLite file) or a fresh PostgreSQL database."""
    with servers.server_database("portal_downloads") as url:
        yield url


def push_over_http(base: str, key: str, nupkg: bytes) -> int:
    body, content_type = multipart(nupkg)
    request = urllib.request.Request(
        f"{base}/api/v2/package/",
        data=body,
        method="PUT",
        headers={
            "X-NuGet-ApiKey": key,
            "Content-Type": content_type,
        },
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status


def download(url: str) -> int:
    with urllib.request.urlopen(url, timeout=60) as response:
        response.read()
        return response.status


@pytest.mark.slow
@pytest.mark.django_db
def test_two_workers_lose_no_download_on_a_graceful_stop(tmp_path, database_url):
    port = servers.free_port()
    env = servers.server_env(
        tmp_path,
        database_url,
        HOST="127.0.0.1",
        PORT=str(port),
        WEB_CONCURRENCY=str(WORKERS),
        PACKAGES_DIR=str(tmp_path / "packages"),
    )
    servers.manage(env, "migrate", "--noinput")
    key = shell(env, SETUP)
    log_path = tmp_path / "server.log"
    process = servers.start_gunicorn(env, log_path, "--access-logformat", ACCESS_LOG_FORMAT)
    base = f"http://127.0.0.1:{port}"
    sent = 0
    try:
        servers.wait_until_serving(f"{base}/v3/index.json", process, log_path.read_text)
        for version in ("1.0.0", "2.0.0"):
            assert push_over_http(base, key, make_nupkg("Contoso.Core", version)) == 201
        urls = [base + NUPKG.format(v=version) for version in ("1.0.0", "1.0.0", "2.0.0")] * 8
        # Until both workers have counted some: each holds its own counts.
        with ThreadPoolExecutor(CLIENT_THREADS) as pool:
            for _ in range(10):
                assert set(pool.map(download, urls)) == {200}
                sent += len(urls)
                pids = {
                    m["pid"] for m in map(ACCESS_LINE.match, log_path.read_text().splitlines()) if m
                }
                if len(pids) == WORKERS:
                    break
        assert len(pids) == WORKERS, log_path.read_text()
    finally:
        servers.stop(process)  # SIGTERM: a graceful stop
    assert "Exception during worker exit" not in log_path.read_text()
    assert json.loads(shell(env, COUNTS)) == {
        "package": sent,
        "versions": {"1.0.0": sent * 2 // 3, "2.0.0": sent // 3},
        "ranking": sent,
    }


@pytest.mark.parametrize("value", [-1, "60", True, 1.5, None])
def test_the_download_cache_setting_takes_seconds(value, settings):
    settings.PACKAGES_DOWNLOAD_CACHE_SECONDS = value
    with pytest.raises(ImproperlyConfigured, match="PACKAGES_DOWNLOAD_CACHE_SECONDS"):
        conf.download_cache_seconds()


def test_the_download_cache_keeps_facts_a_minute_by_default(settings):
    del settings.PACKAGES_DOWNLOAD_CACHE_SECONDS
    assert conf.download_cache_seconds() == 60
