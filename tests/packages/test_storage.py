"""Package files on the file system and in S3 (moto's S3 server), through the public
surfaces: push, download (streamed and redirected), unlist and relist, and what a
failure on either side leaves behind (nothing)."""

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from packages.models import Package, PackageVersion
from packages.storage import package_storage
from tests import s3server, servers
from tests.feed.conftest import multipart
from tests.nupkgs import make_nupkg

pytestmark = pytest.mark.django_db

CANONICAL = "contoso.core/1.0.0/contoso.core.1.0.0.nupkg"
NUPKG_URL = "/v3/flatcontainer/contoso.core/1.0.0/contoso.core.1.0.0.nupkg"


@pytest.fixture(scope="session")
def s3(tmp_path_factory):
    with s3server.running(tmp_path_factory.mktemp("moto") / "moto.log") as server:
        yield server


class FolderStore:
    """Package files in a folder, as FileSystemStorage keeps them."""

    def __init__(self, folder: Path):
        self.folder = folder

    def options(self) -> dict:
        return {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(self.folder)},
        }

    def names(self) -> list[str]:
        found = self.folder.rglob("*") if self.folder.exists() else ()
        return sorted(p.relative_to(self.folder).as_posix() for p in found if p.is_file())

    def read(self, name: str) -> bytes:
        return (self.folder / name).read_bytes()

    def put(self, name: str, data: bytes) -> None:
        (self.folder / name).parent.mkdir(parents=True, exist_ok=True)
        (self.folder / name).write_bytes(data)

    def remove(self, name: str) -> None:
        (self.folder / name).unlink()

    def broken(self) -> dict:
        # A location below a plain file: every write fails in makedirs.
        self.folder.parent.joinpath("not-a-folder").write_bytes(b"")
        return {**self.options(), "OPTIONS": {"location": str(self.folder.parent / "not-a-folder")}}


class BucketStore:
    """Package files in a bucket of moto's S3 server, as the settings build it."""

    def __init__(self, server: s3server.S3Server):
        self.server = server
        self.bucket = server.new_bucket()

    def options(self, bucket: str | None = None) -> dict:
        from botocore.config import Config

        return {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket or self.bucket,
                "endpoint_url": self.server.endpoint_url,
                "region_name": s3server.REGION,
                "access_key": s3server.ACCESS_KEY,
                "secret_key": s3server.SECRET_KEY,
                "default_acl": None,
                "querystring_auth": True,
                "file_overwrite": True,
                "client_config": Config(
                    s3={"addressing_style": "path"},
                    signature_version="s3v4",
                    retries={"mode": "standard", "max_attempts": 1},
                ),
            },
        }

    def names(self) -> list[str]:
        return self.server.keys(self.bucket)

    def read(self, name: str) -> bytes:
        return self.server.read(self.bucket, name)

    def put(self, name: str, data: bytes) -> None:
        self.server.client().put_object(Bucket=self.bucket, Key=name, Body=data)

    def remove(self, name: str) -> None:
        self.server.client().delete_object(Bucket=self.bucket, Key=name)

    def broken(self) -> dict:
        # A bucket that does not exist: the store refuses every write.
        return self.options(bucket=f"{self.bucket}-missing")


@pytest.fixture(params=["filesystem", "s3"])
def store(request, settings, tmp_path):
    if request.param == "s3":
        store = BucketStore(request.getfixturevalue("s3"))
    else:
        store = FolderStore(tmp_path / "packages")
    settings.STORAGES = {**settings.STORAGES, "packages": store.options()}
    return store


@pytest.fixture
def bucket(s3, settings):
    store = BucketStore(s3)
    settings.STORAGES = {**settings.STORAGES, "packages": store.options()}
    return store


@pytest.fixture
def key(make_user, make_key):
    _, value = make_key(make_user("alice"), actions=["package:push", "package:unlist"])
    return value


def push(client, key, data):
    body, content_type = multipart(data)
    return client.generic(
        "PUT", "/api/v2/package/", body, content_type, headers={"X-NuGet-ApiKey": key}
    )


def streamed(response) -> bytes:
    return b"".join(response.streaming_content)


def test_a_push_stores_the_file_at_its_name_and_nothing_else(client, store, key):
    data = make_nupkg("Contoso.Core", "1.0.0")
    assert push(client, key, data).status_code == 201
    assert store.names() == [CANONICAL]
    assert store.read(CANONICAL) == data
    assert PackageVersion.objects.get().file_name == CANONICAL


def test_a_push_to_s3_is_one_upload_to_the_final_key(client, bucket, key):
    # S3 publishes an object only once its upload completes, so the package goes
    # straight to its name: no temporary key, no server-side copy, no delete.
    seen = len(bucket.server.requests())
    assert push(client, key, make_nupkg("Contoso.Core", "1.0.0")).status_code == 201
    writes = [r for r in bucket.server.requests()[seen:] if not r.startswith(("GET", "HEAD"))]
    assert writes == [f"PUT /{bucket.bucket}/{CANONICAL}"]


def test_a_download_streams_the_stored_bytes(client, store, key):
    data = make_nupkg("Contoso.Core", "1.0.0", extra_files={"lib/a.bin": bytes(300_000)})
    push(client, key, data)
    response = client.get(NUPKG_URL)
    assert response.status_code == 200
    assert response["Content-Length"] == str(len(data))
    assert streamed(response) == data


def test_files_inside_the_package_are_read_from_the_store(client, store, key):
    push(client, key, make_nupkg("Contoso.Core", "1.0.0"))
    response = client.get("/v3/flatcontainer/contoso.core/1.0.0/contoso.core.nuspec")
    assert response.status_code == 200
    assert b"<id>Contoso.Core</id>" in streamed(response)


def test_unlist_and_relist_leave_the_file_as_it_is(client, store, key):
    data = make_nupkg("Contoso.Core", "1.0.0")
    push(client, key, data)
    headers = {"X-NuGet-ApiKey": key}
    assert client.delete("/api/v2/package/Contoso.Core/1.0.0", headers=headers).status_code == 204
    assert not PackageVersion.objects.get().listed
    assert store.names() == [CANONICAL]
    assert streamed(client.get(NUPKG_URL)) == data
    assert client.post("/api/v2/package/Contoso.Core/1.0.0", headers=headers).status_code == 200
    assert PackageVersion.objects.get().listed
    assert store.names() == [CANONICAL]
    assert store.read(CANONICAL) == data


def test_a_leftover_with_no_row_is_replaced_by_the_next_push(client, store, key):
    # What a worker killed after writing, before its commit, leaves behind.
    store.put(CANONICAL, b"PK\x03\x04 a leftover")
    data = make_nupkg("Contoso.Core", "1.0.0")
    assert push(client, key, data).status_code == 201
    assert store.names() == [CANONICAL]
    assert store.read(CANONICAL) == data


@pytest.mark.parametrize("leftover", [False, True])
def test_a_push_writes_another_name_and_moves_the_whole_file_into_place(
    client, key, settings, tmp_path, leftover
):
    # A worker killed while writing must leave nothing at the name clients
    # download: the bytes go under another name, and only a rename (which writes
    # nothing) puts the whole file at its canonical name, over any leftover.
    store = FolderStore(tmp_path / "packages")
    recording = {**store.options(), "BACKEND": "tests.packages.recording_storage.RecordingStorage"}
    settings.STORAGES = {**settings.STORAGES, "packages": recording}
    if leftover:
        store.put(CANONICAL, b"PK\x03\x04 a leftover")
    data = make_nupkg("Contoso.Core", "1.0.0")

    assert push(client, key, data).status_code == 201

    [written] = package_storage().written
    assert written != CANONICAL
    assert written.startswith("contoso.core/1.0.0/")
    assert store.names() == [CANONICAL]
    assert store.read(CANONICAL) == data


def test_a_failed_write_to_the_store_leaves_no_row(client, store, key, settings):
    settings.STORAGES = {**settings.STORAGES, "packages": store.broken()}
    with pytest.raises(Exception):  # noqa: B017 (OSError on a folder, ClientError from S3)
        push(client, key, make_nupkg("Contoso.Core", "1.0.0"))
    assert not PackageVersion.objects.exists()
    assert not Package.objects.exists()
    assert store.names() == []


def test_a_failed_row_leaves_no_file(client, store, key, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the audit write failed")

    # The audit event is written after the file, in the row's transaction.
    monkeypatch.setattr("packages.services.record", broken)
    with pytest.raises(RuntimeError):
        push(client, key, make_nupkg("Contoso.Core", "1.0.0"))
    assert not PackageVersion.objects.exists()
    assert store.names() == []


def test_a_file_missing_from_the_store_is_404(client, store, key):
    push(client, key, make_nupkg("Contoso.Core", "1.0.0"))
    store.remove(CANONICAL)
    response = client.get(NUPKG_URL)
    assert response.status_code == 404
    assert "missing from storage" in response.reason_phrase


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_a_redirected_download_gets_a_short_lived_signed_url(client, bucket, key, settings):
    settings.PACKAGES_DOWNLOAD_REDIRECT = 60
    data = make_nupkg("Contoso.Core", "1.0.0")
    push(client, key, data)
    response = client.get(NUPKG_URL)
    assert response.status_code == 302
    assert response["Cache-Control"] == "no-store"
    location = response["Location"]
    assert location.startswith(f"{bucket.server.endpoint_url}/{bucket.bucket}/{CANONICAL}?")
    assert "X-Amz-Expires=60" in location and "X-Amz-Signature=" in location
    assert fetch(location) == (200, data)


def test_the_environment_variables_build_the_s3_storage(s3, tmp_path):
    bucket = s3.new_bucket()
    env = servers.server_env(tmp_path, None, **s3.env(bucket), PACKAGES_S3_PREFIX="feed")
    script = (
        "import django, json; django.setup()\n"
        "from django.core.files.base import ContentFile\n"
        "from packages.storage import package_storage\n"
        "storage = package_storage()\n"
        "name = storage.save('a/b.nupkg', ContentFile(b'stored'))\n"
        "print(json.dumps({'name': name, 'url': storage.url(name, expire=30)}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=servers.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.splitlines()[-1])
    assert answer["name"] == "a/b.nupkg"
    assert s3.keys(bucket) == ["feed/a/b.nupkg"]
    assert "X-Amz-Signature=" in answer["url"] and "X-Amz-Expires=30" in answer["url"]
    assert fetch(answer["url"]) == (200, b"stored")


def test_the_s3_bucket_and_another_backend_are_refused_together(tmp_path):
    env = servers.server_env(
        tmp_path,
        None,
        PACKAGES_S3_BUCKET="packages",
        PACKAGES_STORAGE_BACKEND="django.core.files.storage.FileSystemStorage",
    )
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=servers.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "PACKAGES_S3_BUCKET or PACKAGES_STORAGE_BACKEND" in done.stderr
