"""An S3 server for the tests: moto's standalone server, on a free loopback port.

moto speaks S3's REST protocol over HTTP (signatures, multipart uploads, presigned
URLs), so the portal talks to it exactly as to a real store, through boto3. It is
for tests only: production points the portal at a real S3 or S3-compatible store.
"""

import contextlib
import re
import secrets
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import servers

REGION = "us-east-1"
# moto accepts any credentials; the portal reads them where boto3 does, from the
# standard AWS_* variables (or the instance's role in production).
ACCESS_KEY, SECRET_KEY = "portal-test-access", "portal-test-secret"
# An access log line of the server: ... "PUT /bucket/key?query HTTP/1.1" 200 -
REQUEST_LINE = re.compile(r'"([A-Z]+ [^ ?"]+)[^"]* HTTP/[0-9.]+"')


@dataclass
class S3Server:
    endpoint_url: str
    process: subprocess.Popen
    log_path: Path

    def requests(self) -> list[str]:
        """The requests the server has answered so far, as ``"PUT /bucket/key"``."""
        lines = self.log_path.read_text(errors="replace").splitlines()
        return [m.group(1) for m in map(REQUEST_LINE.search, lines) if m]

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def new_bucket(self) -> str:
        name = f"packages-{secrets.token_hex(4)}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        listed = self.client().list_objects_v2(Bucket=bucket)
        return sorted(entry["Key"] for entry in listed.get("Contents", ()))

    def read(self, bucket: str, key: str) -> bytes:
        return self.client().get_object(Bucket=bucket, Key=key)["Body"].read()

    def env(self, bucket: str) -> dict[str, str]:
        """The portal's environment for package files in ``bucket``, as the README says."""
        return {
            "PACKAGES_S3_BUCKET": bucket,
            "PACKAGES_S3_ENDPOINT_URL": self.endpoint_url,
            "PACKAGES_S3_REGION": REGION,
            "PACKAGES_S3_ADDRESSING_STYLE": "path",
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        }


@contextlib.contextmanager
def running(log_path: Path, port: int | None = None):
    """moto's server until the block ends, on ``port`` or a free one; fails the test if
    it does not start. Its buckets live in its memory: a server started again on the
    same port starts empty."""
    port = port or servers.free_port()
    with log_path.open("a") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            env=servers.inherited_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = S3Server(endpoint_url=f"http://127.0.0.1:{port}", process=process, log_path=log_path)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{server.endpoint_url}/", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        "moto's S3 server did not start:\n" + log_path.read_text(errors="replace"),
                        pytrace=False,
                    )
                time.sleep(0.1)
        yield server
    finally:
        servers.stop(process)
