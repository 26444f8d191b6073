"""Installing from the feed with nuget.exe 5.8 over real HTTP: the read protocol end to end.

nuget.exe reads the service index, the registrations (dependencies, listed
state, the package's URL) and downloads from the flat container. Everything is
pushed (and unlisted) first, so the client's HTTP cache never holds a stale
answer when it installs.
"""

import pytest

from tests.nupkgs import write_nupkg

pytestmark = pytest.mark.clients


def assert_ran(run) -> None:
    assert run.code == 0, str(run)


@pytest.fixture(scope="module")
def published(portal, nuget58, tmp_path_factory):
    """Demo.Lib 1.0.0, 1.1.0 and 1.2.0 (unlisted), Demo.App 1.0.0 needing Demo.Lib >= 1.0.0,
    all pushed and unlisted with nuget.exe; returns the pushed bytes by file name."""
    portal.server_side("setup")
    key = portal.server_side("key", "demo", "Demo.*")["key"]
    folder = tmp_path_factory.mktemp("demo-nupkgs")
    packages = {
        ("Demo.Lib", "1.0.0"): "",
        ("Demo.Lib", "1.1.0"): "",
        ("Demo.Lib", "1.2.0"): "",
        ("Demo.App", "1.0.0"): (
            '<dependencies><dependency id="Demo.Lib" version="[1.0.0, )" /></dependencies>'
        ),
    }
    pushed = {}
    for (package_id, version), extra in packages.items():
        path = write_nupkg(
            folder / f"{package_id}.{version}.nupkg",
            package_id=package_id,
            version=version,
            metadata_extra=extra,
        )
        pushed[path.name] = path.read_bytes()
        assert_ran(nuget58("push", str(path), "-Source", portal.index_url, "-ApiKey", key))
    assert_ran(nuget58("delete", "Demo.Lib", "1.2.0", "-Source", portal.index_url, "-ApiKey", key))
    assert [row["listed"] for row in portal.state()["versions"]] == [True, True, False, True]
    return pushed


def installed(folder) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in folder.glob("*/*.nupkg")}


def test_install_brings_the_dependency_at_its_lowest_applicable_version(
    portal, nuget58, published, tmp_path
):
    run = nuget58("install", "Demo.App", "-Source", portal.index_url, "-OutputDirectory",
                  str(tmp_path))  # fmt: skip
    assert_ran(run)
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "Demo.App.1.0.0", "Demo.Lib.1.0.0",
    ]  # fmt: skip
    got = installed(tmp_path)
    assert got == {
        "Demo.App.1.0.0.nupkg": published["Demo.App.1.0.0.nupkg"],
        "Demo.Lib.1.0.0.nupkg": published["Demo.Lib.1.0.0.nupkg"],
    }
    downloads = [
        entry["path"]
        for entry in portal.access_log()
        if entry["method"] == "GET" and entry["path"].endswith(".nupkg")
    ]
    assert "/v3/flatcontainer/demo.app/1.0.0/demo.app.1.0.0.nupkg" in downloads
    assert "/v3/flatcontainer/demo.lib/1.0.0/demo.lib.1.0.0.nupkg" in downloads


def test_an_exact_unlisted_version_still_installs(portal, nuget58, published, tmp_path):
    run = nuget58("install", "Demo.Lib", "-Version", "1.2.0", "-Source", portal.index_url,
                  "-OutputDirectory", str(tmp_path))  # fmt: skip
    assert_ran(run)
    assert installed(tmp_path) == {"Demo.Lib.1.2.0.nupkg": published["Demo.Lib.1.2.0.nupkg"]}
