"""What reading from the feed costs, through gunicorn on loopback, on one database.

1. Downloads per second of a 1 MiB ``.nupkg`` from the flat container, against the
   same bytes served as a static file by whitenoise from the same gunicorn (the
   ceiling), driven by wrk.
2. The flat container's ``index.json``, the registration index and one registration
   page of a package with 5,000 versions: p50/p99 from a sequential client over one
   keep-alive connection (loopback, an upper bound) and server-side, from gunicorn's
   access log (``%(D)s``, microseconds from the request's start to its last byte).
3. minchoc 0.2.0, a Django NuGet feed for Chocolatey, side by side in the same run:
   a throwaway Django project made under VAR_DIR, served by gunicorn with the same
   ``gunicorn.conf.py`` but sync workers (its async views fail under gevent),
   holding the same package bytes and the same 5,000 versions;
   its downloads per second and its ``FindPackagesById()`` (OData V2, every version
   with its metadata in one answer), against our downloads and our registration
   index plus all its pages (every version with its metadata).
4. ``nuget.exe install Demo.App`` (5.8, on Mono) timed end to end with an empty
   client cache, when Mono and the nuget.exe the client tests cache are there.

Figures and ratios are printed and written as JSON; nothing is asserted.

    DATABASE_URL= python -m benchmarks.bench_read --json var/bench/read-sqlite.json

``make bench`` runs it on SQLite and PostgreSQL and merges the figures.
"""

import argparse
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from benchmarks import common
from benchmarks.bench_http import _GET, wrk
from benchmarks.bench_push import (
    ROOT,
    BenchmarkError,
    nupkgs,
    push_headers,
    put,
    server_env,
    serving,
    whole_body,
)
from tests.nupkgs import make_nupkg

POSTGRES_DATABASE = "portal_bench_read"
MINCHOC_DATABASE_PREFIX = "portal_bench_read_minchoc"
MiB = 1024 * 1024
READ_ID, READ_VERSION = "Bench.Read", "1.0.0"
MANY_ID, MANY_VERSIONS = "Bench.Many", 5_000
# wrk rounds per download row, taking turns (A B B A) so that other load on the
# machine weighs on both rows alike; each round is bench_http's -t2 -c8 -d5s.
DOWNLOAD_ROUNDS = 2
# Sequential requests per endpoint, after a warm-up, the endpoints taking turns.
LATENCY_WARMUP, LATENCY_CALLS = 10, 150
# Whole walks (index plus every page) and minchoc FindPackagesById() calls.
WALKS = 1
FIND_CALLS, FIND_BUDGET_SECONDS = 3, 60
MINCHOC_WORKER = "sync"
TARGET_DOWNLOAD_VS_CEILING = 0.8
TARGET_SERVER_P99_MS = 20
TARGET_VS_MINCHOC = 2
CLIENT_TIMEOUT = 180
# gunicorn reads GUNICORN_CMD_ARGS after gunicorn.conf.py: the access log gets the
# request time in microseconds and the X-Bench header that names a timed request.
ACCESS_LOG_FORMAT = "bench=%({x-bench}i)s status=%(s)s us=%(D)s path=%(U)s"
ACCESS_LINE = re.compile(r"^bench=(?P<label>\S+) status=(?P<status>\d+) us=(?P<us>\d+) ")
GUNICORN_ARGS = f"--access-logformat='{ACCESS_LOG_FORMAT}'"
# The last line of a traceback: "django.db.utils.OperationalError: ...".
EXCEPTION_LINE = re.compile(r"^\w+(\.\w+)*(Error|Exception|Operation)\b")
# nuget.exe 5.8, as tests/clients/conftest.py caches it.
NUGET_EXE = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    / "portal-tests"
    / "nuget-5.8.0.exe"
)
MONO_ASSEMBLIES = (
    Path("/usr/lib/mono/4.5/System.Net.Http.dll"),
    Path("/usr/lib/mono/4.5/System.IO.Compression.dll"),
)

MANY_METADATA_TAGS = ("bench", "registration", "flat-container", "restore")
MANY_METADATA = (
    "<title>Bench Many</title><summary>A package with many versions.</summary>"
    f"<tags>{' '.join(MANY_METADATA_TAGS)}</tags>"
    "<projectUrl>https://example.com/bench-many</projectUrl>"
    '<license type="expression">MIT</license>'
    "<dependencies>"
    '<group targetFramework="net8.0"><dependency id="Bench.Read" version="1.0.0" />'
    '<dependency id="Demo.Lib" version="[1.0.0, 2.0.0)" /></group>'
    '<group targetFramework="netstandard2.0"><dependency id="Bench.Read" version="1.0.0" />'
    "</group></dependencies>"
)
MANY_DESCRIPTION = (
    "A package pushed once and then stored in 5,000 versions, each with the same "
    "metadata: a title, a summary, tags, a project URL, a license expression and two "
    "dependency groups, as a long-lived library on a gallery has."
)


def many_version(n: int) -> str:
    """The n-th of MANY_VERSIONS distinct versions: 1.0.0 ... 5.19.49."""
    return f"{1 + n // 1000}.{(n // 50) % 20}.{n % 50}"


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# --- The client -----------------------------------------------------------------------


class Client:
    """Sequential requests on one keep-alive connection, as a NuGet client sends them."""

    def __init__(self, port: int, timeout: float = CLIENT_TIMEOUT):
        self.port, self.timeout = port, timeout
        self.connection = None

    def get(self, path: str, label: str = "-") -> tuple[int, bytes, int]:
        """(status, body, nanoseconds from sending to the last byte)."""
        for attempt in (1, 2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection(
                    "127.0.0.1", self.port, timeout=self.timeout
                )
            try:
                begin = time.perf_counter_ns()
                self.connection.request("GET", path, headers={"X-Bench": label})
                response = self.connection.getresponse()
                body = response.read()
                elapsed = time.perf_counter_ns() - begin
            except TimeoutError:
                self.close()
                raise
            except (OSError, http.client.HTTPException):
                # The server closed an idle keep-alive connection: once more on a new one.
                self.close()
                if attempt == 2:
                    raise
                continue
            if response.will_close:
                self.close()
            return response.status, body, elapsed
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def checked_get(client: Client, path: str, expected: bytes | None = None) -> bytes:
    status, body, _ = client.get(path)
    if status != 200 or (expected is not None and body != expected):
        raise BenchmarkError(f"GET {path}: {status}, {len(body)} bytes")
    return body


def server_side(log_text: str) -> dict[str, list[int]]:
    """Microseconds per timed request, by label, from the access log."""
    found: dict[str, list[int]] = {}
    for line in log_text.splitlines():
        match = ACCESS_LINE.match(line)
        if match and match["label"] != "-":
            found.setdefault(match["label"], []).append(int(match["us"]))
    return found


def latency_figures(samples_ns: list[int], server_us: list[int]) -> dict:
    client = sorted(samples_ns)
    server = sorted(server_us)
    figures = {
        "calls": len(client),
        "client_p50_ms": common.percentile(client, 0.50) / 1e6,
        "client_p99_ms": common.percentile(client, 0.99) / 1e6,
        "client_max_ms": client[-1] / 1e6,
    }
    if server:
        figures.update(
            server_calls=len(server),
            server_p50_ms=common.percentile(server, 0.50) / 1000,
            server_p99_ms=common.percentile(server, 0.99) / 1000,
            server_max_ms=server[-1] / 1000,
        )
    return figures


def downloads(
    port: int,
    rows: list[tuple[str, str]],
    folder: Path,
    *,
    rounds: int = DOWNLOAD_ROUNDS,
    headers: str = "",
) -> dict[str, dict]:
    """wrk on each (id, path), ``rounds`` rounds, the order reversed every other
    round; requests/s over all the rounds."""
    runs: dict[str, list[dict]] = {row_id: [] for row_id, _ in rows}
    for number in range(rounds):
        for row_id, path in rows if number % 2 == 0 else list(reversed(rows)):
            runs[row_id].append(wrk(port, path, _GET.format(headers=headers), folder, row_id))
    result = {}
    for row_id, path in rows:
        taken = runs[row_id]
        requests = sum(run["requests"] for run in taken)
        seconds = sum(run["duration_us"] for run in taken) / 1e6
        result[row_id] = {
            "path": path,
            "rounds": len(taken),
            "requests": requests,
            "rps": requests / seconds,
            "p50_ms": max(run["p50_us"] for run in taken) / 1000,
            "p99_ms": max(run["p99_us"] for run in taken) / 1000,
            "non_2xx_3xx": sum(run["non_2xx_3xx"] for run in taken),
            "socket_errors": sum(run["socket_errors"] for run in taken),
        }
    return result


def print_downloads(label: str, row: dict, nupkg_bytes: int) -> None:
    print(
        f"  {label:<44} {row['rps']:>8.1f} downloads/s "
        f"({row['rps'] * nupkg_bytes / MiB:,.0f} MiB/s)  p50 {common.ms(row['p50_ms'])} ms  "
        f"p99 {common.ms(row['p99_ms'])} ms  non-2xx/3xx {row['non_2xx_3xx']}  "
        f"socket errors {row['socket_errors']}",
        flush=True,
    )


# --- Our feed ---------------------------------------------------------------------------


def make_key() -> str:
    """A confirmed user with a push key for the benchmark's IDs; returns the key."""
    from allauth.account.models import EmailAddress
    from django.contrib.auth import get_user_model

    from apikeys.scopes import Action
    from apikeys.services import api_key_create

    owner = get_user_model().objects.create_user(username="bench", email="bench@example.com")
    EmailAddress.objects.create(user=owner, email=owner.email, primary=True, verified=True)
    return api_key_create(
        owner=owner,
        name="bench",
        actions=[Action.PUSH.value],
        package_ids=[],
        globs=["Bench.*", "Demo.*"],
        expiration_days=365,
        actor=owner,
    )[1]


def push(port: int, key: str, nupkg: bytes) -> None:
    body, content_type = whole_body(nupkg)
    status = put(port, body, push_headers(key, content_type))
    if status != 201:
        raise BenchmarkError(f"a push answered {status}")


def store_many_versions() -> None:
    """MANY_VERSIONS - 1 more versions of MANY_ID, copies of the pushed one (same
    metadata, file and hash), straight into the database."""
    from datetime import timedelta

    from packages.models import PackageVersion

    pushed = PackageVersion.objects.get(package__name=MANY_ID)
    fields = [
        field.attname
        for field in PackageVersion._meta.concrete_fields
        if field.attname not in ("id", "version", "normalized_version", "pushed_at")
    ]
    copies = []
    for n in range(1, MANY_VERSIONS):
        version = many_version(n)
        copy = PackageVersion(**{name: getattr(pushed, name) for name in fields})
        copy.version = copy.normalized_version = version
        copy.pushed_at = pushed.pushed_at + timedelta(seconds=n)
        copies.append(copy)
    PackageVersion.objects.bulk_create(copies, batch_size=1_000)
    common.analyze()


def latencies(client: Client, paths: dict[str, str]) -> dict[str, list[int]]:
    """Each path LATENCY_CALLS times, one request at a time, the paths taking turns in
    an order shuffled each round; the timed requests carry ``X-Bench: <id>``."""
    for _ in range(LATENCY_WARMUP):
        for path in paths.values():
            client.get(path)
    samples: dict[str, list[int]] = {row_id: [] for row_id in paths}
    for number in range(LATENCY_CALLS):
        for row_id in common.in_turn(list(paths), number):
            status, _, elapsed = client.get(paths[row_id], row_id)
            if status != 200:
                raise BenchmarkError(f"GET {paths[row_id]}: {status}")
            samples[row_id].append(elapsed)
    return samples


def walk(client: Client, index_path: str, label: str) -> tuple[int, int, int]:
    """The registration index and every page it links to: (ns, requests, bytes)."""
    begin = time.perf_counter_ns()
    status, body, _ = client.get(index_path, label)
    total, requests = len(body), 1
    for page in json.loads(body)["items"]:
        status, page_body, _ = client.get(_path(page["@id"]), label)
        if status != 200:
            raise BenchmarkError(f"GET {page['@id']}: {status}")
        total += len(page_body)
        requests += 1
    return time.perf_counter_ns() - begin, requests, total


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def restore(port: int, scratch: Path) -> dict:
    """``nuget.exe install Demo.App`` with an empty HTTP cache, timed end to end."""
    mono = shutil.which("mono")
    missing = [str(p) for p in (*MONO_ASSEMBLIES, NUGET_EXE) if not p.exists()]
    if mono is None or missing:
        why = "mono is not installed" if mono is None else f"missing {', '.join(missing)}"
        note = (
            f"not run: {why} (apt-get install -y mono-runtime libmono-system-net-http4.0-cil "
            "libmono-system-io-compression4.0-cil; the client tests cache nuget.exe 5.8)"
        )
        print(f"  nuget.exe restore {note}", flush=True)
        return {"skipped": note}
    home, output = scratch / "nuget-home", scratch / "restored"
    home.mkdir()
    command = [
        mono,
        str(NUGET_EXE),
        "install",
        "Demo.App",
        "-Source",
        f"http://127.0.0.1:{port}/v3/index.json",
        "-OutputDirectory",
        str(output),
        "-NonInteractive",
    ]
    env = {name: os.environ[name] for name in ("PATH", "LANG", "TMPDIR") if name in os.environ}
    begin = time.perf_counter()
    done = subprocess.run(  # noqa: S603
        command,
        env={**env, "HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT,
        check=False,
    )
    seconds = time.perf_counter() - begin
    installed = sorted(p.name for p in output.glob("*/*.nupkg")) if output.exists() else []
    figures = {"seconds": seconds, "exit_code": done.returncode, "installed": installed}
    print(
        f"  nuget.exe 5.8 install Demo.App, empty cache: {seconds:.1f} s, exit code "
        f"{done.returncode}, installed {', '.join(installed) or 'nothing'}",
        flush=True,
    )
    if done.returncode != 0:
        figures["output"] = (done.stdout + done.stderr)[-2000:]
        print(figures["output"], flush=True)
    return figures


def ours(scratch: Path, *, with_restore: bool = True) -> tuple[dict, bytes, bytes]:
    """Our feed: downloads against the static ceiling, read latencies, the full walk,
    a restore; with the bytes of the two packages, for minchoc."""
    from packages.models import PackageVersion

    home, packages_dir, static_root = scratch / "home", scratch / "packages", scratch / "static"
    for folder in (home, static_root / "bench"):
        folder.mkdir(parents=True)
    key = make_key()
    read_nupkg = nupkgs(READ_ID, [READ_VERSION], 1 * MiB)[0]
    lower = f"{READ_ID.lower()}.{READ_VERSION}"
    # whitenoise looks through STATIC_ROOT when gunicorn loads the portal.
    (static_root / "bench" / f"{lower}.nupkg").write_bytes(read_nupkg)
    many_nupkg = make_nupkg(
        MANY_ID, many_version(0), description=MANY_DESCRIPTION, metadata_extra=MANY_METADATA
    )
    demo = [
        make_nupkg("Demo.Lib", "1.0.0"),
        make_nupkg("Demo.Lib", "1.1.0"),
        make_nupkg(
            "Demo.App",
            "1.0.0",
            metadata_extra=(
                '<dependencies><dependency id="Demo.Lib" version="[1.0.0, )" /></dependencies>'
            ),
        ),
    ]
    env = {
        **server_env(home, packages_dir),
        "STATIC_ROOT": str(static_root),
        "GUNICORN_CMD_ARGS": GUNICORN_ARGS,
    }
    log_path = scratch / "gunicorn.log"
    download_path = f"/v3/flatcontainer/{READ_ID.lower()}/{READ_VERSION}/{lower}.nupkg"
    static_path = f"/static/bench/{lower}.nupkg"
    many = MANY_ID.lower()
    figures: dict = {"nupkg_bytes": len(read_nupkg), "versions": MANY_VERSIONS}
    with serving(env, log_path) as server:
        port = server.port
        figures["workers"] = len(server.workers())
        for nupkg in (read_nupkg, many_nupkg, *demo):
            push(port, key, nupkg)
        store_many_versions()
        client = Client(port)
        # The checks that make the figures mean what they say.
        checked_get(client, download_path, read_nupkg)
        checked_get(client, static_path, read_nupkg)
        versions = json.loads(checked_get(client, f"/v3/flatcontainer/{many}/index.json"))
        index = json.loads(checked_get(client, f"/v3/registration/{many}/index.json"))
        if len(versions["versions"]) != MANY_VERSIONS or index["count"] * 64 < MANY_VERSIONS:
            raise BenchmarkError(f"{len(versions['versions'])} versions, {index['count']} pages")
        middle = index["items"][len(index["items"]) // 2]
        paths = {
            "flat_index": f"/v3/flatcontainer/{many}/index.json",
            "registration_index": f"/v3/registration/{many}/index.json",
            "registration_page": _path(middle["@id"]),
        }
        sizes = {row_id: len(checked_get(client, path)) for row_id, path in paths.items()}

        began = time.perf_counter()
        rows = downloads(port, [("ceiling", static_path), ("download", download_path)], scratch)
        print_downloads("whitenoise static file (the ceiling)", rows["ceiling"], len(read_nupkg))
        print_downloads("flat container .nupkg (ours)", rows["download"], len(read_nupkg))
        ratio = rows["download"]["rps"] / rows["ceiling"]["rps"]
        print(
            f"  ours / ceiling = {common.ratio(ratio)} (target >= {TARGET_DOWNLOAD_VS_CEILING}x)",
            flush=True,
        )
        # For the diagnosis: the same request with If-None-Match, answered 304 after
        # the same lookup, with no file sent and no download counted.
        etag = '"' + PackageVersion.objects.get(package__name=READ_ID).sha512 + '"'
        condition = f"wrk.headers['If-None-Match'] = {json.dumps(etag)}"
        rows.update(
            downloads(port, [("not_modified", download_path)], scratch, rounds=1, headers=condition)
        )
        print_downloads("the same, If-None-Match: 304 (not counted)", rows["not_modified"], 0)
        print(f"  ({time.perf_counter() - began:.0f} s)", flush=True)
        figures["downloads"] = {**rows, "vs_ceiling": ratio}
        # wrk's completed downloads and the probe's; wrk leaves some in flight as it stops.
        figures["downloads"]["served"] = rows["download"]["requests"] + 1

        began = time.perf_counter()
        samples = latencies(client, paths)
        walks = [walk(client, paths["registration_index"], "walk") for _ in range(WALKS)]
        skipped = {"skipped": "--skip-restore"}
        figures["restore"] = restore(port, scratch) if with_restore else skipped
        client.close()
        print(f"  ({time.perf_counter() - began:.0f} s)", flush=True)
    # Counted: the workers write the counts they hold as the server stops.
    version = PackageVersion.objects.get(package__name=READ_ID)
    figures["downloads"]["counted"] = version.download_count
    log = log_path.read_text(errors="replace")
    server_times = server_side(log)
    figures["latency"] = {}
    for row_id, path in paths.items():
        row = {"path": path, "bytes": sizes[row_id]}
        row.update(latency_figures(samples[row_id], server_times.get(row_id, [])))
        row["met"] = row.get("server_p99_ms", float("inf")) <= TARGET_SERVER_P99_MS
        figures["latency"][row_id] = row
        print(
            f"  {path} ({common.kib(row['bytes'])}): client p50 {row['client_p50_ms']:.1f} ms, "
            f"p99 {row['client_p99_ms']:.1f} ms; server p50 {row.get('server_p50_ms', 0):.1f} "
            f"ms, p99 {row.get('server_p99_ms', 0):.1f} ms (target p99 <= "
            f"{TARGET_SERVER_P99_MS} ms: {'met' if row['met'] else 'not met'}; "
            f"n={row['calls']})",
            flush=True,
        )
    walk_ns = sorted(ns for ns, _, _ in walks)
    figures["walk"] = {
        "walks": len(walks),
        "requests": walks[0][1],
        "bytes": walks[0][2],
        "median_ms": walk_ns[len(walk_ns) // 2] / 1e6,
        "server_ms_per_walk": sum(server_times.get("walk", [])) / 1000 / len(walks),
    }
    print(
        f"  registration index + all {walks[0][1] - 1} pages ({common.kib(walks[0][2])}): "
        f"median {figures['walk']['median_ms']:.0f} ms per walk of {len(walks)}, "
        f"server {figures['walk']['server_ms_per_walk']:.0f} ms",
        flush=True,
    )
    figures["server_errors"] = log.count("Traceback")
    if figures["server_errors"]:
        print(f"  the server logged {figures['server_errors']} tracebacks:\n{log}", flush=True)
    return figures, read_nupkg, many_nupkg


# --- minchoc ----------------------------------------------------------------------------

# A project as `django-admin startproject` makes one, plus minchoc as its README says.
MINCHOC_SETTINGS = '''"""A throwaway project serving minchoc for bench_read, made at run time."""

import os
from pathlib import Path

import dj_database_url

HERE = Path(__file__).resolve().parent.parent
SECRET_KEY = "not a secret: a benchmark on loopback"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "minchoc",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "minchoc_site.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}
USE_TZ = True
STATIC_URL = "static/"
MEDIA_ROOT = HERE / "media"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ALLOW_PACKAGE_DELETION = False
# Errors to the server's log, as the portal's settings send them.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django.request": {"handlers": ["console"], "level": "ERROR"}},
}
'''

MINCHOC_URLS = '''"""minchoc's URLs where its README puts them."""

from django.urls import include, path

urlpatterns = [path("api/v2/", include("minchoc.urls"))]
'''


def minchoc_project(folder: Path) -> None:
    site = folder / "minchoc_site"
    site.mkdir(parents=True)
    (site / "__init__.py").write_text("")
    (site / "settings.py").write_text(MINCHOC_SETTINGS)
    (site / "urls.py").write_text(MINCHOC_URLS)
    (folder / "media" / "packages").mkdir(parents=True)


def minchoc_setup(folder: Path) -> None:
    """Run in minchoc's project (``--minchoc-setup``): migrate, then store the same
    packages as ours: READ_ID with the 1 MiB file, MANY_ID in MANY_VERSIONS versions
    with an author and tags, rows made as its push view makes them."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from minchoc.models import Author, NugetUser, Package, Tag

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user(username="bench")
    uploader = NugetUser.objects.get(base=user)  # made by minchoc's post_save receiver
    author = Author.objects.create(name="Contoso")
    tags = [Tag.objects.create(name=name) for name in MANY_METADATA_TAGS]
    read_file = f"packages/{READ_ID.lower()}.{READ_VERSION}.nupkg"
    many_file = f"packages/{MANY_ID.lower()}.{many_version(0)}.nupkg"

    def row(nuget_id, version, file, size, **extra):
        parts = [int(p) for p in version.split(".")]
        return Package(
            nuget_id=nuget_id,
            version=version,
            version0=parts[0],
            version1=parts[1],
            version2=parts[2],
            title=nuget_id,
            file=file,
            size=size,
            project_url="https://example.com/bench",
            uploader=uploader,
            **extra,
        )

    rows = [row(READ_ID, READ_VERSION, read_file, (folder / "media" / read_file).stat().st_size)]
    rows += [
        row(
            MANY_ID,
            many_version(n),
            many_file,
            (folder / "media" / many_file).stat().st_size,
            description=MANY_DESCRIPTION,
            summary="A package with many versions.",
            is_latest_version=n == MANY_VERSIONS - 1,
            is_absolute_latest_version=n == MANY_VERSIONS - 1,
        )
        for n in range(MANY_VERSIONS)
    ]
    Package.objects.bulk_create(rows, batch_size=1_000)
    ids = list(Package.objects.values_list("pk", flat=True))
    Package.authors.through.objects.bulk_create(
        [Package.authors.through(package_id=pk, author_id=author.pk) for pk in ids],
        batch_size=1_000,
    )
    Package.tags.through.objects.bulk_create(
        [Package.tags.through(package_id=pk, tag_id=tag.pk) for pk in ids for tag in tags],
        batch_size=1_000,
    )
    print(json.dumps({"packages": len(ids)}))


@contextmanager
def minchoc_database(folder: Path):
    """The URL of a fresh database for minchoc, of the vendor this run measures."""
    from django.db import connection

    if connection.vendor == "sqlite":
        yield f"sqlite:///{(folder / 'db.sqlite3').resolve()}"
        return
    from tests import servers

    with servers.postgres_database(os.environ["DATABASE_URL"], MINCHOC_DATABASE_PREFIX) as url:
        yield url


def minchoc(scratch: Path, read_nupkg: bytes, many_nupkg: bytes, ours_figures: dict) -> dict:
    import importlib.metadata

    folder = scratch / "minchoc"
    minchoc_project(folder)
    (folder / "media" / "packages" / f"{READ_ID.lower()}.{READ_VERSION}.nupkg").write_bytes(
        read_nupkg
    )
    (folder / "media" / "packages" / f"{MANY_ID.lower()}.{many_version(0)}.nupkg").write_bytes(
        many_nupkg
    )
    figures: dict = {"version": importlib.metadata.version("minchoc")}
    with minchoc_database(folder) as database_url:
        env = {
            **{k: v for k, v in os.environ.items() if k not in ("WEB_CONCURRENCY",)},
            "DJANGO_SETTINGS_MODULE": "minchoc_site.settings",
            "PYTHONPATH": str(folder),
            "DATABASE_URL": database_url,
            "HOME": str(folder),
            "GUNICORN_CMD_ARGS": GUNICORN_ARGS,
        }
        env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        began = time.perf_counter()
        done = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "benchmarks.bench_read", "--minchoc-setup", str(folder)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            raise BenchmarkError(f"minchoc's setup failed:\n{done.stdout}{done.stderr}")
        print(f"  minchoc {figures['version']}: project made and filled "
              f"({time.perf_counter() - began:.0f} s)", flush=True)  # fmt: skip
        log_path = folder / "gunicorn.log"
        download_path = f"/api/v2/package/{READ_ID}/{READ_VERSION}"
        find_path = f"/api/v2/FindPackagesById()?id='{MANY_ID}'"
        # The same gunicorn.conf.py (workers, timeout, access log) but sync workers:
        # minchoc's views are async, and under the gevent worker every one of them
        # fails with SynchronousOnlyOperation (gevent runs asgiref's executor threads
        # as greenlets on the thread whose event loop is running, where Django refuses
        # database calls). Under sync workers Django runs each view in an event loop of
        # its own, which is how a WSGI deployment of minchoc works.
        # And gunicorn's own logger: the portal's (portal.logging) is not importable
        # from minchoc's project folder.
        command = [
            "-c", str(ROOT / "gunicorn.conf.py"), "--worker-class", MINCHOC_WORKER,
            "--logger-class", "gunicorn.glogging.Logger", "minchoc.wsgi:application",
        ]  # fmt: skip
        figures["worker_class"] = MINCHOC_WORKER
        with minchoc_serving(env, log_path, command) as port:
            client = Client(port)
            try:
                checked_get(client, download_path, read_nupkg)
            except BenchmarkError as error:
                tail = log_path.read_text(errors="replace")[-3000:]
                raise BenchmarkError(f"{error}; its log ends:\n{tail}") from None
            rows = downloads(port, [("download", download_path)], folder)
            print_downloads("minchoc package download", rows["download"], len(read_nupkg))
            figures["downloads"] = rows["download"]
            # At least one call, and more while another fits in the budget.
            client.close()
            # One call may take minutes: the client waits FIND_BUDGET_SECONDS at most.
            client = Client(port, timeout=FIND_BUDGET_SECONDS)
            finds: list[int] = []
            failure = None
            while len(finds) < FIND_CALLS and sum(finds) + max(finds, default=0) <= (
                FIND_BUDGET_SECONDS * 1e9
            ):
                try:
                    status, body, elapsed = client.get(find_path, "find")
                except TimeoutError:
                    failure = "timed out"
                    break
                entries = body.count(b"<entry>")
                if status != 200 or entries != MANY_VERSIONS:
                    failure = (
                        f"FindPackagesById() answered {status} with {entries:,} entries "
                        f"after {elapsed / 1e9:,.1f} s"
                    )
                    break
                finds.append(elapsed)
            client.close()
        log = log_path.read_text(errors="replace")
        figures["server_errors"] = log.count("Traceback")
        if failure == "timed out":
            figures["find"] = {
                "path": find_path,
                "error": f"FindPackagesById() did not answer within the {FIND_BUDGET_SECONDS} s "
                "the benchmark waits",
                "at_least_ms": FIND_BUDGET_SECONDS * 1000,
            }
            print(f"  minchoc {figures['find']['error']}", flush=True)
        elif failure is None:
            figures["find"] = {
                "path": find_path,
                "bytes": len(body),
                "entries": entries,
                **latency_figures(finds, server_side(log).get("find", [])),
                "median_ms": sorted(finds)[len(finds) // 2] / 1e6,
            }
        elif "WORKER TIMEOUT" in log:
            # gunicorn.conf.py's timeout, the same for ours: a deployment would see this.
            timeout = os.environ.get("GUNICORN_TIMEOUT", "120")
            figures["find"] = {
                "path": find_path,
                "error": f"{failure}: it did not finish within gunicorn's timeout "
                f"(GUNICORN_TIMEOUT {timeout} s, as for ours), and gunicorn killed the worker",
                "at_least_ms": elapsed / 1e6,
            }
            print(f"  minchoc {figures['find']['error']}", flush=True)
        else:
            # Why, from the server's log: the last traceback's last line, if any.
            errors = [line for line in log.splitlines() if EXCEPTION_LINE.match(line)]
            failure += f": {errors[-1]}" if errors else ""
            figures["find"] = {"path": find_path, "error": failure}
            print(f"  minchoc {figures['find']['error']}; its log ends:\n{log[-3000:]}", flush=True)
    figures["vs_ours"] = {
        "downloads": ours_figures["downloads"]["download"]["rps"] / figures["downloads"]["rps"]
    }
    find = figures["find"]
    # A FindPackagesById() that timed out took at least that long: lower bounds.
    slowest = find.get("median_ms", find.get("at_least_ms"))
    if slowest is not None:
        figures["vs_ours"].update(
            walk=slowest / ours_figures["walk"]["median_ms"],
            flat_index=slowest / ours_figures["latency"]["flat_index"]["client_p50_ms"],
        )
    if "error" not in find:
        print(
            f"  minchoc FindPackagesById() for {MANY_VERSIONS:,} versions "
            f"({common.kib(find['bytes'])}): median {find['median_ms']:,.0f} ms of "
            f"{find['calls']}, server p50 {find.get('server_p50_ms', 0):,.0f} ms",
            flush=True,
        )
    told = {
        "downloads": "downloads",
        "walk": "every version's metadata (our registration walk against FindPackagesById())",
        "flat_index": "the version list (our index.json p50 against FindPackagesById())",
    }
    print(
        "  ours against minchoc: "
        + "; ".join(f"{told[key]} {common.ratio(v)}" for key, v in figures["vs_ours"].items())
        + (" (at least: it timed out)" if "at_least_ms" in find else "")
        + f" (target >= {TARGET_VS_MINCHOC}x)",
        flush=True,
    )
    return figures


@contextmanager
def minchoc_serving(env: dict[str, str], log_path: Path, arguments: list[str]):
    from benchmarks.bench_push import free_port

    port = free_port()
    with log_path.open("a") as log:
        process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "gunicorn", *arguments],
            cwd=log_path.parent,
            env={**env, "HOST": "127.0.0.1", "PORT": str(port)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/api/v2/")
                if connection.getresponse().status == 200:
                    connection.close()
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise BenchmarkError("minchoc's gunicorn did not start:\n" + log_path.read_text())
            time.sleep(0.1)
        yield port
    finally:
        import signal

        if process.poll() is None:
            # Quick shutdown: a worker may still be busy with a request the client gave up on.
            os.killpg(process.pid, signal.SIGQUIT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


# --- The run ----------------------------------------------------------------------------


def measure(scratch: Path, *, with_minchoc: bool = True, with_restore: bool = True) -> dict:
    import gunicorn

    figures = {
        "cores": os.cpu_count(),
        "gunicorn": gunicorn.__version__,
        "wrk": "-t2 -c8 -d5s",
        "download_rounds": DOWNLOAD_ROUNDS,
        "latency_calls": LATENCY_CALLS,
        "targets": {
            "download_vs_ceiling": TARGET_DOWNLOAD_VS_CEILING,
            "server_p99_ms": TARGET_SERVER_P99_MS,
            "vs_minchoc": TARGET_VS_MINCHOC,
        },
    }
    figures["ours"], read_nupkg, many_nupkg = ours(scratch / "ours", with_restore=with_restore)
    if not with_minchoc:
        figures["minchoc"] = {"skipped": "--skip-minchoc"}
        figures["load_average_end"] = load()
        return figures
    try:
        figures["minchoc"] = minchoc(scratch, read_nupkg, many_nupkg, figures["ours"])
    except (BenchmarkError, OSError, subprocess.SubprocessError) as error:
        reason = str(error).strip()
        print(f"  minchoc not measured: {reason}", flush=True)
        figures["minchoc"] = {"error": reason[-2000:]}
    figures["load_average_end"] = load()
    return figures


def main() -> None:
    arguments = common.parser(__doc__.splitlines()[0])
    arguments.add_argument("--minchoc-setup", type=Path, help=argparse.SUPPRESS)
    # Quick runs while working on one figure; `make bench` measures everything.
    arguments.add_argument("--skip-minchoc", action="store_true", help="leave minchoc out")
    arguments.add_argument("--skip-restore", action="store_true", help="leave nuget.exe out")
    options = arguments.parse_args()
    if options.minchoc_setup:
        minchoc_setup(options.minchoc_setup)
        return
    common.setup_django()
    from django.conf import settings
    from django.db import connection

    print(f"Reads on {common.VENDOR_NAMES[connection.vendor]} (load average {load()}):", flush=True)
    if shutil.which("wrk") is None:
        common.database_unavailable("read", RuntimeError("wrk is not installed"), options.json)
        return
    scratch = Path(tempfile.mkdtemp(prefix="read-", dir=settings.VAR_DIR))
    (scratch / "ours").mkdir()
    began = time.perf_counter()
    try:
        figures = common.measure_on_throwaway_database(
            "read",
            lambda: measure(
                scratch,
                with_minchoc=not options.skip_minchoc,
                with_restore=not options.skip_restore,
            ),
            options.json,
            postgres_name=POSTGRES_DATABASE,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if figures is None:
        return
    print(
        f"  ({time.perf_counter() - began:.0f} s; load average at the end "
        f"{figures['load_average_end']})",
        flush=True,
    )
    common.write_json(options.json, figures)


if __name__ == "__main__":
    main()
