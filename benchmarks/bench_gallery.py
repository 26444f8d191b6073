"""What the gallery's pages cost at 100,000 packages, on the database DATABASE_URL selects.

The registry is the one benchmarks/bench_search.py builds (its generator, imported), plus
``Big.Package`` with 1,000 versions whose latest carries a 100 KB readme in its stored
.nupkg. gunicorn serves the portal as a deployment starts it; one client asks one page
at a time on a keep-alive connection, so each figure is one request's time, not
queueing. Server time is gunicorn's access-log ``%(D)s`` (from the request's start to
its last byte); the client's time is printed beside it. Kinds: ``/packages?q=`` with
an exact ID, a prefix, a word and the empty query (pages 1 to 3), and the big
package's page (the readme rendered once, then from the cache; the first view's time
is reported on its own). Query counts come from Django's test client in this process.

    DATABASE_URL= python -m benchmarks.bench_gallery --json var/bench/gallery-sqlite.json

Target: server p99 at most 100 ms for every kind.
"""

import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

from benchmarks import bench_search, common
from benchmarks.bench_push import BenchmarkError, server_env, serving
from benchmarks.bench_read import (
    GUNICORN_ARGS,
    Client,
    latency_figures,
    server_side,
)

POSTGRES_DATABASE = "portal_bench_gallery"
REQUESTS = 200  # per kind, after WARMUP
WARMUP = 20
POOL = 100
TARGET_P99_MS = 100
BIG_PACKAGE = "Big.Package"
BIG_VERSIONS = 1000
README_BYTES = 100 * 1024
SEED = 13


def readme_text(rng: random.Random) -> str:
    """About README_BYTES of Markdown shaped like real readmes: headings, prose with
    links and code, lists, tables and code blocks."""
    words = [*bench_search.WORDS, *(a.lower() for a in bench_search.AREAS)]
    parts, size, n = [], 0, 0
    while size < README_BYTES:
        n += 1
        prose = " ".join(rng.choices(words, k=60))
        block = (
            f"## Section {n}\n\n{prose} with [a link](https://example.com/{n}) and "
            f"`code{n}`.\n\n- {rng.choice(words)}\n- **{rng.choice(words)}**\n\n"
            "| Option | Default |\n|---|---|\n| retries | 3 |\n| timeout | 30 s |\n\n"
            f'```csharp\nvar client = new Client("{rng.choice(words)}");\n```\n\n'
        )
        parts.append(block)
        size += len(block)
    return "# Big.Package\n\n" + "".join(parts)


def add_big_package(rng: random.Random, packages_dir: Path) -> int:
    """Big.Package with BIG_VERSIONS versions; the latest has the readme, stored where the
    server's storage (PACKAGES_DIR) finds it. Returns the readme's size."""
    import hashlib

    from django.contrib.auth import get_user_model

    from packages import search
    from packages.models import Package, PackageVersion, SearchEntry, SearchTerm, SearchTotal
    from packages.storage import file_name_for
    from tests.nupkgs import make_nupkg

    text = readme_text(rng)
    latest = f"1.{BIG_VERSIONS - 1}.0"
    data = make_nupkg(BIG_PACKAGE, latest, metadata_extra="<readme>docs/README.md</readme>",
                      extra_files={"docs/README.md": text.encode()})  # fmt: skip
    package = Package.objects.create(name=BIG_PACKAGE, download_count=10**6)
    package.owners.add(get_user_model().objects.order_by("pk").first())
    rows = []
    for minor in range(BIG_VERSIONS):
        version = f"1.{minor}.0"
        rows.append(
            PackageVersion(
                package=package,
                version=version,
                normalized_version=version,
                size=len(data),
                sha512=hashlib.sha512(data).hexdigest() if version == latest else "x",
                file_name=file_name_for(BIG_PACKAGE, version) if version == latest else "",
                readme_path="docs/README.md" if version == latest else "",
                authors="Big Team",
                description="A package with many versions.",
                tags=["big"],
                download_count=1000,
                listed=minor % 50 != 1,
                dependencies=[
                    {
                        "target_framework": "net8.0",
                        "dependencies": [{"id": "Newtonsoft.Json", "range": "13.0.1"}],
                    }
                ],
            )
        )
    PackageVersion.objects.bulk_create(rows, batch_size=500)
    stored = packages_dir / file_name_for(BIG_PACKAGE, latest)
    stored.parent.mkdir(parents=True, exist_ok=True)
    stored.write_bytes(data)
    search.rebuild_entries(
        [package.pk], package_model=Package, version_model=PackageVersion,
        entry_model=SearchEntry, term_model=SearchTerm, total_model=SearchTotal,
    )  # fmt: skip
    return len(text.encode())


def cases(rng: random.Random, names: list[str]) -> dict[str, list[str]]:
    picked = rng.sample(names, POOL)
    return {
        "list exact ID": [f"/packages?q={urllib.parse.quote(name)}" for name in picked],
        "list prefix": [
            f"/packages?q={urllib.parse.quote(name.rsplit('.', 1)[0][:-2])}" for name in picked
        ],
        "list word": [
            f"/packages?q={rng.choice(bench_search.AREAS + bench_search.TAGS).lower()}"
            for _ in range(POOL)
        ],
        "list empty": [f"/packages?q=&page={rng.choice([1, 1, 2, 3])}" for _ in range(POOL)],
        "package page, 1,000 versions": [f"/packages/{BIG_PACKAGE}"] * POOL,
    }


def query_counts(queries: dict[str, list[str]]) -> dict[str, int]:
    """Queries per page, from the test client (anonymous; the same code the server runs)."""
    from django.db import connection
    from django.test import Client as TestClient
    from django.test.utils import CaptureQueriesContext

    client = TestClient()
    counts = {}
    for kind, paths in queries.items():
        with CaptureQueriesContext(connection) as captured:
            response = client.get(paths[0])
        if response.status_code != 200:
            raise BenchmarkError(f"{paths[0]} answered {response.status_code}")
        counts[kind] = len(captured)
    return counts


def measure(scratch: Path) -> dict:
    from django.core.cache import cache

    rng = random.Random(SEED)  # noqa: S311 (not a secret)
    began = time.perf_counter()
    names = bench_search.populate(rng)
    packages_dir = scratch / "packages"
    readme_size = add_big_package(rng, packages_dir)
    load_seconds = time.perf_counter() - began
    home = scratch / "home"
    home.mkdir()
    env = {
        **server_env(home, packages_dir),
        "GUNICORN_CMD_ARGS": GUNICORN_ARGS,
        "STATIC_ROOT": str(scratch / "static"),
    }
    # HTML pages name their static files through the collected manifest, as `make run`
    # serves them.
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        env=env,
        check=True,
    )
    queries = cases(rng, names)
    # The readme cache is the database's (or Redis'): start with it cold.
    cache.clear()
    log_path = scratch / "gunicorn.log"
    rows = []
    with serving(env, log_path) as server:
        client = Client(server.port)
        status, body, first_ns = client.get(f"/packages/{BIG_PACKAGE}", "first-view")
        if status != 200 or b"Section 1" not in body:
            raise BenchmarkError(f"the big package's page answered {status}")
        samples: dict[str, list[int]] = {}
        for kind, pool in queries.items():
            for path in pool[:WARMUP]:
                client.get(path)
            label = kind.replace(" ", "_").replace(",", "")
            for i in range(REQUESTS):
                status, _, elapsed = client.get(pool[i % len(pool)], label)
                if status != 200:
                    raise BenchmarkError(f"{pool[i % len(pool)]} answered {status}")
                samples.setdefault(kind, []).append(elapsed)
        client.close()
    server_us = server_side(log_path.read_text(errors="replace"))
    for kind, latencies in samples.items():
        label = kind.replace(" ", "_").replace(",", "")
        row = {
            "kind": kind,
            "example": queries[kind][0],
            **latency_figures(latencies, server_us.get(label, [])),
        }
        row["met"] = row.get("server_p99_ms", row["client_p99_ms"]) <= TARGET_P99_MS
        rows.append(row)
        print(
            f"  {kind:<30} server p50 {common.ms(row['server_p50_ms'])} ms, "
            f"p99 {common.ms(row['server_p99_ms'])} ms (client p99 "
            f"{common.ms(row['client_p99_ms'])} ms) "
            + ("(met)" if row["met"] else f"(NOT met: target p99 <= {TARGET_P99_MS} ms)"),
            flush=True,
        )
    counts = query_counts(queries)
    for row in rows:
        row["queries"] = counts[row["kind"]]
    print(
        "  queries per page: " + ", ".join(f"{kind} {n}" for kind, n in counts.items()),
        flush=True,
    )
    first_server = server_us.get("first-view", [0])[0] / 1000
    print(
        f"  first view of the big package (renders the {readme_size // 1024} KB readme): "
        f"server {common.ms(first_server)} ms, client {common.ms(first_ns / 1e6)} ms",
        flush=True,
    )
    return {
        "packages": bench_search.PACKAGES + 1,
        "versions_of_big_package": BIG_VERSIONS,
        "readme_bytes": readme_size,
        "load_seconds": load_seconds,
        "target_p99_ms": TARGET_P99_MS,
        "first_view_server_ms": first_server,
        "rows": rows,
    }


def main() -> None:
    arguments = common.parser(__doc__.splitlines()[0])
    arguments.add_argument(
        "--packages", type=int, default=bench_search.PACKAGES, help="registry size (100,000)"
    )
    options = arguments.parse_args()
    # bench_search's generator reads its module's PACKAGES.
    bench_search.PACKAGES = options.packages
    common.setup_django()
    from django.conf import settings
    from django.db import connection

    print(f"Gallery on {common.VENDOR_NAMES[connection.vendor]}:", flush=True)
    scratch = Path(tempfile.mkdtemp(prefix="gallery-", dir=settings.VAR_DIR))
    try:
        figures = common.measure_on_throwaway_database(
            "gallery",
            lambda: measure(scratch),
            options.json,
            postgres_name=POSTGRES_DATABASE,
            sqlite_prefix="bench-gallery",
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if figures is not None:
        common.write_json(options.json, figures)


if __name__ == "__main__":
    main()
