"""Pushing, refusing and unlisting with the real NuGet clients over real HTTP.

nuget.exe 5.8 reads the service index and pushes chunked; Debian's NuGet 2.8.7
speaks only V2 and pushes with a Content-Length. Each test checks what the
client printed and how it exited, then what the server stored. Six client runs
at one to two seconds each (Mono starting): skip them with ``-m "not clients"``.
"""

import base64
import hashlib

import pytest

from tests.nupkgs import write_nupkg

pytestmark = pytest.mark.clients

# nuget.org's wording; clients print the reason phrase, so it must arrive there.
FORBIDDEN = (
    "The specified API key is invalid, has expired, "
    "or does not have permission to access the specified package."
)
NUGET_58_AGENT = "NuGet Command Line/5.8.0"
NUGET_287_AGENT = "NuGet Command Line/2.8.7"


@pytest.fixture(scope="module")
def keys(portal) -> dict[str, str]:
    """Two keys of one publisher, both for ``Contoso.*``: ``contoso`` may push and
    unlist, ``retired`` may push and gets revoked by a test."""
    return portal.server_side("setup")["keys"]


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    """``package(id, version)`` writes ``<id>.<version>.nupkg`` and returns its path."""
    folder = tmp_path_factory.mktemp("nupkgs")

    def make(package_id: str, version: str):
        return write_nupkg(
            folder / f"{package_id}.{version}.nupkg", package_id=package_id, version=version
        )

    return make


@pytest.fixture(scope="module")
def first_push(portal, keys, package, nuget58):
    """nuget.exe 5.8 pushes Contoso.Core 1.0.0; the state is read straight after."""
    path = package("Contoso.Core", "1.0.0")
    run = nuget58("push", str(path), "-Source", portal.index_url, "-ApiKey", keys["contoso"])
    return path, run, portal.state()


def version_row(state: dict, package_id: str, version: str) -> dict | None:
    rows = [
        row
        for row in state["versions"]
        if row["id"].lower() == package_id.lower() and row["version"] == version
    ]
    assert len(rows) <= 1, rows
    return rows[0] if rows else None


def events(state: dict, kind: str, **fields) -> list[dict]:
    return [
        event
        for event in state["events"]
        if event["kind"] == kind and all(event[name] == value for name, value in fields.items())
    ]


def nuget_sha512(data: bytes) -> str:
    return base64.b64encode(hashlib.sha512(data).digest()).decode()


def assert_pushed(run, row: dict | None, path) -> None:
    # If Mono's runtime crashed, the client's own verdict is lost; the server's
    # record below (and each caller's access-log check) must then show the push.
    if not run.runtime_crashed:
        assert run.code == 0, str(run)
        assert "Your package was pushed." in run.output, str(run)
    # The stored file is the client's file, byte for byte.
    data = path.read_bytes()
    assert row is not None
    assert row["listed"] is True
    assert row["pushed_by"] == "publisher"
    assert (row["size"], row["sha512"]) == (len(data), nuget_sha512(data))


def test_nuget_exe_5_8_pushes_chunked_through_the_service_index(portal, first_push):
    path, run, state = first_push
    assert f"PUT {portal.base}/api/v2/package/" in run.output, run
    assert_pushed(run, version_row(state, "Contoso.Core", "1.0.0"), path)
    assert events(state, "package:pushed", package_id="Contoso.Core", package_version="1.0.0")
    # It sent the body chunked: no Content-Length, so the de-chunking path was taken.
    pushes = portal.wait_for_access("PUT", "201", NUGET_58_AGENT)
    assert pushes, portal.log()
    assert (pushes[0]["te"], pushes[0]["cl"]) == ("chunked", "-"), pushes


def test_pushing_the_same_version_again_is_a_conflict(portal, keys, first_push, nuget58):
    path, _, before = first_push
    run = nuget58("push", str(path), "-Source", portal.index_url, "-ApiKey", keys["contoso"])
    assert run.code != 0, run
    assert "409" in run.output, run
    assert "already exists" in run.output, run
    state = portal.state()
    # The first file stays.
    stored = version_row(state, "Contoso.Core", "1.0.0")["sha512"]
    assert stored == version_row(before, "Contoso.Core", "1.0.0")["sha512"]
    refused = events(state, "package:refused", package_id="Contoso.Core")
    assert [e["details"]["code"] for e in refused] == ["exists"], refused


def test_a_package_outside_the_keys_glob_is_forbidden(portal, keys, package, nuget58):
    path = package("Fabrikam.Web", "1.0.0")
    run = nuget58("push", str(path), "-Source", portal.index_url, "-ApiKey", keys["contoso"])
    assert run.code != 0, run
    assert "403" in run.output, run
    assert FORBIDDEN in run.output, run
    state = portal.state()
    assert version_row(state, "Fabrikam.Web", "1.0.0") is None
    assert events(state, "package:refused", package_id="Fabrikam.Web")


def test_a_revoked_key_is_refused_at_once(portal, keys, package, nuget58):
    portal.server_side("revoke", "retired")
    path = package("Contoso.Core", "1.1.0")
    run = nuget58("push", str(path), "-Source", portal.index_url, "-ApiKey", keys["retired"])
    assert run.code != 0, run
    assert FORBIDDEN in run.output, run
    state = portal.state()
    assert version_row(state, "Contoso.Core", "1.1.0") is None
    failures = events(state, "api_key:auth_failed")
    assert [e["details"]["failure"] for e in failures] == ["revoked"], failures


def test_nuget_exe_5_8_delete_unlists_the_version(portal, keys, first_push, nuget58):
    run = nuget58(
        "delete", "Contoso.Core", "1.0.0",
        "-Source", portal.index_url, "-ApiKey", keys["contoso"],
    )  # fmt: skip
    assert run.code == 0, run
    assert "Contoso.Core 1.0.0 was deleted successfully." in run.output, run
    state = portal.state()
    # Unlisted, not deleted: the row and its file stay.
    assert version_row(state, "Contoso.Core", "1.0.0")["listed"] is False
    assert events(state, "package:unlisted", package_id="Contoso.Core", package_version="1.0.0")


def test_debian_nuget_2_8_7_pushes_to_the_v2_source_with_a_length(portal, keys, package, nuget287):
    path = package("Contoso.Core", "2.0.0")
    run = nuget287(
        "push", path.name, "-Source", f"{portal.base}/", "-ApiKey", keys["contoso"],
        cwd=path.parent,
    )  # fmt: skip
    assert_pushed(run, version_row(portal.state(), "Contoso.Core", "2.0.0"), path)
    pushes = portal.wait_for_access("PUT", "201", NUGET_287_AGENT)
    assert len(pushes) == 1, portal.log()
    assert pushes[0]["te"] == "-", pushes
    assert int(pushes[0]["cl"]) > path.stat().st_size, pushes
