"""/health/live and /health/ready: what a load balancer sees, and each failure named.

Here failures are made in the test process (a query refused, Redis on a port nobody
listens on, a folder that cannot be made, a bucket that does not exist); the real
services stopped and hung under gunicorn are tests/soak/test_readiness_outages.py.
"""

import secrets

import pytest
from django.db import OperationalError, connection
from django.test import override_settings

from tests import s3server

LIVE, READY = "/health/live", "/health/ready"


@pytest.fixture(autouse=True)
def _package_files(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "packages": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "packages")},
        },
    }
    return tmp_path / "packages"


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with s3server.running(tmp_path_factory.mktemp("moto") / "moto.log") as server:
        yield server


def _bucket_storage(s3: s3server.S3Server, bucket: str, endpoint_url: str | None = None) -> dict:
    from botocore.config import Config

    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": endpoint_url or s3.endpoint_url,
            "region_name": s3server.REGION,
            "access_key": s3server.ACCESS_KEY,
            "secret_key": s3server.SECRET_KEY,
            "default_acl": None,
            "client_config": Config(
                s3={"addressing_style": "path"},
                signature_version="s3v4",
                retries={"mode": "standard", "max_attempts": 1},
            ),
        },
    }


def _assert_plain(response):
    """Never cached, no cookie: nothing a probe could be refused or remembered by."""
    assert "no-store" in response["Cache-Control"]
    assert not response.cookies
    assert "Set-Cookie" not in response


class TestLive:
    def test_answers_ok(self, client):
        response = client.get(LIVE)
        assert response.status_code == 200
        assert response.content == b"ok\n"
        _assert_plain(response)

    def test_touches_no_database(self, client, django_assert_num_queries):
        # No ``db`` fixture: any query would raise. A database outage must not make
        # the process look dead.
        response = client.get(LIVE)
        assert response.status_code == 200

    def test_head(self, client):
        assert client.head(LIVE).status_code == 200

    def test_post_is_refused(self, client):
        assert client.post(LIVE).status_code == 405

    @override_settings(ALLOWED_HOSTS=["nuget.example.com"])
    def test_unknown_host_is_refused_as_everywhere(self, client):
        assert client.get(LIVE, HTTP_HOST="10.0.0.7").status_code == 400
        assert client.get(LIVE, HTTP_HOST="nuget.example.com").status_code == 200

    @override_settings(SECURE_SSL_REDIRECT=True)
    def test_answers_plain_http_without_redirecting(self, client):
        assert client.get(LIVE).status_code == 200
        assert client.get(READY).status_code in (200, 503)
        assert client.get("/").status_code == 301


class TestReady:
    def test_all_reachable(self, client, db, _package_files):
        response = client.get(READY)
        assert response.status_code == 200
        assert response.json() == {
            "status": "ok",
            "checks": {"database": "ok", "cache": "ok", "storage": "ok"},
        }
        _assert_plain(response)
        # The probe's file is gone.
        assert list(_package_files.iterdir()) == []

    def test_database_unreachable_then_back(self, client, db):
        def unreachable(execute, sql, params, many, context):
            raise OperationalError("connection refused")

        with connection.execute_wrapper(unreachable):
            response = client.get(READY)
        assert response.status_code == 503
        assert response.json()["checks"] == {"database": "failed", "cache": "ok", "storage": "ok"}
        assert response.reason_phrase == "Service Unavailable: database not reachable"
        _assert_plain(response)

        assert client.get(READY).status_code == 200

    def test_cache_unreachable_then_back(self, client, db):
        # Port 1 on loopback: nothing listens, the connection is refused at once.
        unreachable = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": "redis://127.0.0.1:1/0",
            }
        }
        with override_settings(CACHES=unreachable):
            response = client.get(READY)
        assert response.status_code == 503
        assert response.json()["checks"] == {"database": "ok", "cache": "failed", "storage": "ok"}
        assert response.reason_phrase == "Service Unavailable: cache not reachable"

        assert client.get(READY).status_code == 200

    def test_storage_unreachable_then_back(self, client, db, settings, tmp_path):
        # A folder that cannot be made: its parent is a file (the test may run as
        # root, for whom no permission bit forbids a write).
        blocker = tmp_path / "not-a-folder"
        blocker.write_text("")
        broken = {
            **settings.STORAGES,
            "packages": {
                "BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": str(blocker / "packages")},
            },
        }
        with override_settings(STORAGES=broken):
            response = client.get(READY)
        assert response.status_code == 503
        assert response.json()["checks"] == {"database": "ok", "cache": "ok", "storage": "failed"}

        assert client.get(READY).status_code == 200

    def test_everything_unreachable_names_all(self, client, db, settings, tmp_path):
        def unreachable(execute, sql, params, many, context):
            raise OperationalError("connection refused")

        blocker = tmp_path / "file"
        blocker.write_text("")
        broken_storage = {
            **settings.STORAGES,
            "packages": {
                "BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": str(blocker / "packages")},
            },
        }
        broken_cache = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": "redis://127.0.0.1:1/0",
            }
        }
        with (
            override_settings(STORAGES=broken_storage, CACHES=broken_cache),
            connection.execute_wrapper(unreachable),
        ):
            response = client.get(READY)
        assert response.status_code == 503
        assert response.reason_phrase == (
            "Service Unavailable: database, cache, storage not reachable"
        )

    def test_failure_reason_is_logged_not_answered(self, client, db, caplog):
        def unreachable(execute, sql, params, many, context):
            raise OperationalError("could not connect to server db.internal:5432")

        with connection.execute_wrapper(unreachable):
            response = client.get(READY)
        assert b"db.internal" not in response.content
        assert "db.internal" in caplog.text


class TestReadyOnS3:
    def test_bucket_reachable(self, client, db, settings, s3):
        bucket = s3.new_bucket()
        settings.STORAGES = {**settings.STORAGES, "packages": _bucket_storage(s3, bucket)}
        response = client.get(READY)
        assert response.status_code == 200
        assert response.json()["checks"] == {"database": "ok", "cache": "ok", "storage": "ok"}
        # The probe wrote an object and deleted it.
        assert any(r.startswith(f"PUT /{bucket}/.health-") for r in s3.requests())
        assert s3.keys(bucket) == []

    def test_missing_bucket_then_back(self, client, db, settings, s3):
        bucket = f"packages-missing-{secrets.token_hex(4)}"
        settings.STORAGES = {**settings.STORAGES, "packages": _bucket_storage(s3, bucket)}
        response = client.get(READY)
        assert response.status_code == 503
        assert response.json()["checks"] == {"database": "ok", "cache": "ok", "storage": "failed"}
        assert response.reason_phrase == "Service Unavailable: storage not reachable"

        s3.client().create_bucket(Bucket=bucket)
        assert client.get(READY).status_code == 200

    def test_store_unreachable(self, client, db, settings, s3):
        # Port 1 on loopback: nothing listens, the connection is refused at once.
        unreachable = _bucket_storage(s3, "packages", endpoint_url="http://127.0.0.1:1")
        settings.STORAGES = {**settings.STORAGES, "packages": unreachable}
        response = client.get(READY)
        assert response.status_code == 503
        assert response.json()["checks"] == {"database": "ok", "cache": "ok", "storage": "failed"}
