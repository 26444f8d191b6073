"""/metrics: who may read it, and that its counters follow what the portal does."""

import concurrent.futures
import http.client
import os
import signal
import time
import urllib.parse
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from prometheus_client import CollectorRegistry, multiprocess
from prometheus_client.parser import text_string_to_metric_families

from apikeys import keys
from apikeys.models import ApiKey
from apikeys.services import api_key_revoke
from tests.feed.conftest import multipart
from tests.nupkgs import make_nupkg
from tests.portal.gunicorn_portal import running_portal

METRICS = "/metrics"
TOKEN = "s3cret-scrape-token-0123456789"


@pytest.fixture(autouse=True)
def _metrics_on(settings, tmp_path):
    settings.METRICS_ENABLED = True
    settings.METRICS_ALLOWED_IPS = ["127.0.0.1", "::1"]
    settings.METRICS_TOKEN = TOKEN
    settings.STORAGES = {
        **settings.STORAGES,
        "packages": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "packages")},
        },
    }


def scrape(client) -> dict:
    """Every sample, by (name, sorted labels)."""
    response = client.get(METRICS)
    assert response.status_code == 200, response
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


class Moves:
    """How far chosen counters moved between two scrapes."""

    def __init__(self, client):
        self.client = client
        self.before = scrape(client)

    def __call__(self, name: str, **labels) -> float:
        after = scrape(self.client)
        return value(after, name, **labels) - value(self.before, name, **labels)


def push(client, key: str, nupkg: bytes | None = None):
    body, content_type = multipart(nupkg if nupkg is not None else make_nupkg())
    return client.generic(
        "PUT", "/api/v2/package/", body, content_type, headers={"X-NuGet-ApiKey": key}
    )


class TestAccess:
    def test_404_when_off(self, client, settings):
        settings.METRICS_ENABLED = False
        assert client.get(METRICS).status_code == 404
        assert client.get(METRICS, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404

    def test_loopback_reads_it_without_cookies(self, client):
        response = client.get(METRICS)
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/plain; version=")
        assert "no-store" in response["Cache-Control"]
        assert not response.cookies
        assert b"portal_http_requests_total" in response.content

    def test_other_addresses_are_refused(self, client):
        response = client.get(METRICS, REMOTE_ADDR="203.0.113.9")
        assert response.status_code == 403
        assert b"portal_" not in response.content

    def test_the_token_lets_any_address_in(self, client):
        headers = {"Authorization": f"Bearer {TOKEN}"}
        assert client.get(METRICS, REMOTE_ADDR="203.0.113.9", headers=headers).status_code == 200

    @pytest.mark.parametrize(
        "authorization", [f"Bearer {TOKEN}x", "Bearer ", f"Bearer {TOKEN[:-1]}", "Bearer wrong"]
    )
    def test_a_wrong_token_is_refused_even_from_loopback(self, client, authorization):
        assert client.get(METRICS, headers={"Authorization": authorization}).status_code == 403

    def test_no_token_configured_refuses_every_token(self, client, settings):
        settings.METRICS_TOKEN = ""
        headers = {"Authorization": "Bearer "}
        assert client.get(METRICS, REMOTE_ADDR="203.0.113.9", headers=headers).status_code == 403

    def test_networks(self, client, settings):
        settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8", "2001:db8::/32"]
        assert client.get(METRICS, REMOTE_ADDR="10.1.2.3").status_code == 200
        assert client.get(METRICS, REMOTE_ADDR="2001:db8::5").status_code == 200
        assert client.get(METRICS, REMOTE_ADDR="127.0.0.1").status_code == 403

    def test_behind_a_trusted_proxy_the_client_address_counts(self, client, settings):
        # A proxy on loopback forwards a stranger: the stranger is not local.
        settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
        forwarded = {"X-Forwarded-For": "203.0.113.9"}
        assert client.get(METRICS, headers=forwarded).status_code == 403
        assert client.get(METRICS, headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 200

    def test_a_spoofed_forwarded_for_counts_for_nothing_without_a_proxy(self, client):
        forwarded = {"X-Forwarded-For": "127.0.0.1"}
        assert client.get(METRICS, REMOTE_ADDR="203.0.113.9", headers=forwarded).status_code == 403


class TestRequests:
    def test_counted_by_route_name_and_status(self, client):
        moved = Moves(client)
        client.get("/health/live")
        client.get("/health/live")
        assert moved("portal_http_requests_total", route="health_live", method="GET",
                     status="200") == 2  # fmt: skip
        assert moved("portal_http_request_duration_seconds_count", route="health_live",
                     method="GET") == 2  # fmt: skip

    def test_unmatched_paths_are_not_labels(self, client):
        moved = Moves(client)
        assert client.get("/no/such/page-abc123").status_code == 404
        assert moved("portal_http_requests_total", route="unmatched", method="GET",
                     status="404") == 1  # fmt: skip
        assert b"abc123" not in client.get(METRICS).content

    def test_made_up_methods_fold_into_other(self, client):
        moved = Moves(client)
        client.generic("BREW", "/health/live")
        assert moved("portal_http_requests_total", route="health_live", method="other",
                     status="405") == 1  # fmt: skip

    def test_nothing_moves_while_off(self, client, settings):
        before = scrape(client)
        settings.METRICS_ENABLED = False
        client.get("/health/live")
        settings.METRICS_ENABLED = True
        after = scrape(client)
        labels = {"route": "health_live", "method": "GET", "status": "200"}
        assert value(after, "portal_http_requests_total", **labels) == value(
            before, "portal_http_requests_total", **labels
        )


class TestPushesAndDownloads:
    def test_pushes_by_result(self, client, make_user, make_key):
        owner = make_user("alice")
        _, value_ = make_key(owner)
        _, narrow = make_key(owner, name="narrow", globs=["Fabrikam.*"])
        moved = Moves(client)
        assert push(client, value_).status_code == 201
        assert push(client, value_).status_code == 409
        assert push(client, value_, b"not a zip").status_code == 400
        assert push(client, narrow, make_nupkg("Contoso.Other")).status_code == 403
        assert moved("portal_pushes_total", result="pushed") == 1
        assert moved("portal_pushes_total", result="exists") == 1
        assert moved("portal_pushes_total", result="invalid") == 1
        assert moved("portal_pushes_total", result="refused") == 1
        assert moved("portal_http_requests_total", route="feed:push", method="PUT",
                     status="201") == 1  # fmt: skip

    def test_downloads(self, client, make_user, make_key):
        owner = make_user("alice")
        _, key = make_key(owner)
        assert push(client, key).status_code == 201
        url = "/v3/flatcontainer/contoso.core/1.0.0/contoso.core.1.0.0.nupkg"
        moved = Moves(client)
        assert client.get(url).status_code == 200
        assert client.get(url).status_code == 200
        assert client.head(url).status_code == 200
        assert moved("portal_downloads_total") == 2
        assert moved("portal_http_requests_total", route="feed:flat_file", method="GET",
                     status="200") == 2  # fmt: skip


class TestKeyChecks:
    def test_each_outcome(self, client, settings, make_user, make_key):
        owner = make_user("alice")
        _, ok = make_key(owner)
        expired, expired_value = make_key(owner, name="expired")
        ApiKey.objects.filter(pk=expired.pk).update(expires_at=timezone.now())
        revoked, revoked_value = make_key(owner, name="revoked")
        api_key_revoke(api_key=revoked, actor=owner)
        bob = make_user("bob")
        _, inactive_value = make_key(bob)
        get_user_model().objects.filter(pk=bob.pk).update(is_active=False)
        _, narrow = make_key(owner, name="narrow", globs=["Fabrikam.*"])

        moved = Moves(client)
        assert push(client, ok).status_code == 201
        assert push(client, "not-a-key").status_code == 403
        assert push(client, keys.generate()).status_code == 403
        assert push(client, expired_value).status_code == 403
        assert push(client, revoked_value).status_code == 403
        assert push(client, inactive_value).status_code == 403
        assert push(client, narrow, make_nupkg("Contoso.Other")).status_code == 403
        settings.FEED_AUTH_FAILURE_LIMIT = 4  # five failures so far: over it
        assert push(client, keys.generate()).status_code == 429

        for outcome in ("malformed", "unknown", "expired", "revoked", "owner_inactive"):
            assert moved("portal_key_checks_total", outcome=outcome) == 1, outcome
        assert moved("portal_key_checks_total", outcome="ok") == 2  # the pushing and narrow keys
        assert moved("portal_key_checks_total", outcome="refused") == 1
        assert moved("portal_key_checks_total", outcome="rate_limited") == 1


class TestOthers:
    def test_trusted_publishing_is_declared(self, client):
        content = client.get(METRICS).content.decode()
        assert "# TYPE portal_trusted_publishing_exchanges_total counter" in content

    @pytest.mark.django_db
    def test_a_refused_exchange_is_counted(self, client):
        moved = Moves(client)
        response = client.post(
            "/api/v2/token",
            {"username": "nobody", "tokenType": "ApiKey"},
            content_type="application/json",
            headers={"Authorization": "Bearer not.a.jwt", "User-Agent": "test"},
        )
        assert response.status_code in (400, 401)
        assert moved("portal_trusted_publishing_exchanges_total", result="refused") == 1

    @pytest.mark.django_db(transaction=True)
    def test_database_connections_opened(self, client):
        moved = Moves(client)
        connection.close()
        assert client.get("/health/ready").status_code == 200
        vendor = connection.vendor
        assert moved("portal_db_connections_opened_total", alias="default", vendor=vendor) == 1

    @pytest.mark.django_db(transaction=True)
    def test_database_connections_open_now(self, client):
        labels = {"alias": "default", "vendor": connection.vendor}
        connection.close()
        assert value(scrape(client), "portal_db_connections_open", **labels) == 0
        # The test client leaves the connection the request opened open, as a
        # keep-alive client's requests do under gunicorn.
        assert client.get("/health/ready").status_code == 200
        assert value(scrape(client), "portal_db_connections_open", **labels) == 1
        assert client.get("/health/ready").status_code == 200
        assert value(scrape(client), "portal_db_connections_open", **labels) == 1
        connection.close()
        assert value(scrape(client), "portal_db_connections_open", **labels) == 0


# --- Under gunicorn, several workers ------------------------------------------------


def _children(pid: int) -> set[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return {int(child) for child in children}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _scrape(portal) -> dict:
    answer = portal.request(METRICS)
    assert answer.status == 200, answer
    samples = {}
    for family in text_string_to_metric_families(answer.body.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _health_count(portal) -> float:
    return value(
        _scrape(portal),
        "portal_http_requests_total",
        route="health_live",
        method="GET",
        status="200",
    )


def _connections_open(folder: Path) -> float:
    """Database connections open in all workers together, as their files say: read
    here, not through /metrics, whose worker would count its own afresh."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(folder))
    return sum(
        sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.name == "portal_db_connections_open"
    )


@pytest.mark.slow
def test_counts_add_up_across_gunicorn_workers(tmp_path):
    """Each worker counts in its own files; any worker's scrape adds up all of them,
    those of workers that have since exited included. The open database connections
    of each worker's clients add up too, and fall as the clients go."""
    with running_portal(tmp_path, workers=3, METRICS_ENABLED="true") as portal:
        # A keep-alive client holds a database connection in its worker; once the
        # client goes the worker closes it, and the workers' gauges add up to zero.
        folder = tmp_path / "prometheus"
        assert _connections_open(folder) == 0
        client = http.client.HTTPConnection(urllib.parse.urlsplit(portal.base).netloc, timeout=30)
        for _ in range(3):
            client.request("GET", "/health/ready")
            answer = client.getresponse()
            answer.read()
            assert answer.status == 200
            assert _connections_open(folder) == 1
        client.close()
        deadline = time.monotonic() + 10
        while _connections_open(folder) != 0:
            assert time.monotonic() < deadline, portal.log()
            time.sleep(0.1)

        # Whatever the start-up wait asked before a worker was ready.
        before = _health_count(portal)
        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(lambda _: portal.request("/health/live"), range(60)))
        assert {answer.status for answer in answers} == {200}
        assert [_health_count(portal) - before for _ in range(6)] == [60.0] * 6

        # gunicorn replaces every worker on HUP: the new ones still report the old counts.
        old = _children(portal.process.pid)
        assert len(old) == 3
        os.kill(portal.process.pid, signal.SIGHUP)
        deadline = time.monotonic() + 60
        while any(_alive(pid) for pid in old) or len(_children(portal.process.pid)) < 3:
            assert time.monotonic() < deadline, portal.log()
            time.sleep(0.2)
        for _ in range(9):
            assert portal.request("/health/live").status == 200
        assert _health_count(portal) - before == 69.0

        # child_exit marked the old workers dead: their live gauges are gone.
        live = {int(f.stem.rsplit("_", 1)[1]) for f in folder.glob("gauge_livesum_*.db")}
        assert live and not live & old
