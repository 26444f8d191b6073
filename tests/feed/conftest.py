import io

import pytest

from tests.nupkgs import multipart


@pytest.fixture(autouse=True)
def _package_files(settings, tmp_path):
    # Each test stores .nupkg files in a folder of its own.
    settings.STORAGES = {
        **settings.STORAGES,
        "packages": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "packages")},
        },
    }
    return tmp_path / "packages"


@pytest.fixture
def package_files(_package_files):
    return _package_files


@pytest.fixture
def owner(make_user):
    return make_user("alice")


@pytest.fixture
def push(client):
    """PUT a package as a NuGet client does; ``chunked`` sends no Content-Length."""

    def send(nupkg: bytes, key: str | None, *, chunked=False, unquoted=False, path=None):
        body, content_type = multipart(nupkg, unquoted=unquoted)
        headers = {"X-NuGet-ApiKey": key} if key is not None else {}
        extra = {}
        if chunked:
            # What gunicorn hands Django for a chunked body: no length, a stream
            # that ends where the body ends.
            extra = {
                "HTTP_TRANSFER_ENCODING": "chunked",
                "wsgi.input_terminated": True,
                "wsgi.input": io.BytesIO(body),
                "CONTENT_LENGTH": "",
            }
        return client.generic(
            "PUT", path or "/api/v2/package/", body, content_type, headers=headers, **extra
        )

    return send
