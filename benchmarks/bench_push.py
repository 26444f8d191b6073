"""What a push costs, on the database DATABASE_URL selects.

1. Pushes per second of a ~10 KiB and a ~1 MiB package through gunicorn on loopback,
   started as a deployment starts it (``gunicorn.conf.py``: 2 x cores + 1 workers of
   the class it names), driven by one client thread per worker; every push is a new
   version, so every answer should be a 201.
2. The peak memory of a gunicorn worker (the only one: WEB_CONCURRENCY=1) while it
   receives a 100 MiB package, once with a Content-Length and once chunked.
3. What the key check is of a push, in process: pushes through ``django.test.Client``
   and, taking turns with them on the same database and key, the public functions
   the push's key check calls (``check``, ``package_owned_by``, ``Grant.allows``).

    DATABASE_URL= python -m benchmarks.bench_push --json var/bench/push-sqlite.json
    DATABASE_URL=postgres://... python -m benchmarks.bench_push --postgres-name portal_bench_x

``make bench`` runs it on SQLite and PostgreSQL and merges the figures.
"""

import http.client
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from benchmarks import common
from tests.nupkgs import make_nupkg

ROOT = Path(__file__).resolve().parent.parent
# Other people's packages, as on a small gallery: a push looks its ID up among them.
STORED_PACKAGES = 10_000
POSTGRES_DATABASE = "portal_bench_push"
PUSH_PATH = "/api/v2/package/"
KiB, MiB = 1024, 1024 * 1024
# The package's size comes from one incompressible file, so the .nupkg weighs what
# its payload does: random bytes do not deflate.
THROUGHPUT = [
    # (id, package ID, payload bytes, timed pushes)
    ("small", "Bench.Small", 10 * KiB, 600),
    ("large", "Bench.Large", 1 * MiB, 150),
]
# Pushes in flight at once: one per worker keeps every worker busy without a queue
# in the listen backlog, so latency is the server's and not the client's queueing.
CONCURRENCY_PER_WORKER = 1
WARMUP_PER_WORKER = 4
HUGE_ID = "Bench.Huge"
HUGE_PAYLOAD = 100 * MiB
SEND_CHUNK = 64 * KiB
MEMORY_MODES = ("length", "chunked")
RSS_SAMPLE_SECONDS = 0.005
# In process: tiny packages (no payload), the two ways taking turns.
AUTH_ID = "Bench.Tiny"
AUTH_PUSHES = 400
AUTH_WARMUP = 20
AUTH_COUNTED = 20
SERVER_START_SECONDS = 60
CLIENT_TIMEOUT = 300


class BenchmarkError(RuntimeError):
    """The setup did not do what it was meant to: the figures would be a lie."""


# --- Packages and bodies ------------------------------------------------------------


def payload(size: int, seed: int) -> bytes:
    # Not for security: reproducible incompressible bytes.
    return random.Random(seed).randbytes(size)  # noqa: S311


def nupkgs(package_id: str, versions: list[str], payload_size: int) -> list[bytes]:
    """One .nupkg per version; built on threads, since zlib lets go of the GIL."""
    extra = {"lib/netstandard2.0/payload.bin": payload(payload_size, 1)} if payload_size else {}

    def build(version):
        return make_nupkg(package_id, version, extra_files=extra)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return list(pool.map(build, versions))


def multipart(nupkg: bytes) -> tuple[bytes, bytes, str]:
    """The body as NuGet clients send it, as (head, tail, content type) around the file."""
    boundary = uuid.uuid4().hex
    head = (
        f"--{boundary}\r\nContent-Type: application/octet-stream\r\n"
        'Content-Disposition: form-data; name="package"; filename="package.nupkg"\r\n\r\n'
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return head, tail, f"multipart/form-data; boundary={boundary}"


def whole_body(nupkg: bytes) -> tuple[bytes, str]:
    head, tail, content_type = multipart(nupkg)
    return head + nupkg + tail, content_type


# --- The server ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_database_url() -> str:
    """The URL of the throwaway database this process made, for the server to use."""
    from django.db import connection

    name = connection.settings_dict["NAME"]
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(name).resolve()}"
    return urllib.parse.urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{name}").geturl()


class Server:
    """gunicorn serving the portal from the repository, as `make run` starts it."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.port = free_port()
        self.env = {**env, "HOST": "127.0.0.1", "PORT": str(self.port)}
        self.log_path = log_path
        self.process = None

    def start(self) -> None:
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "portal.wsgi:application"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            try:
                connection.request("GET", "/v3/index.json")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                pass
            finally:
                connection.close()
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise BenchmarkError("gunicorn did not start:\n" + self.log())
            time.sleep(0.1)

    def workers(self) -> list[int]:
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return [int(child) for child in children]

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def serving(env: dict[str, str], log_path: Path):
    server = Server(env, log_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def server_env(home: Path, packages_dir: Path) -> dict[str, str]:
    """This process's environment, pointed at its throwaway database and folders."""
    from django.conf import settings

    env = dict(os.environ)
    # Whoever set it for this shell, a server keeps Django's async-safety checks.
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    # gunicorn.conf.py's default (2 x cores + 1) is what a deployment gets.
    env.pop("WEB_CONCURRENCY", None)
    env.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        DATABASE_URL=server_database_url(),
        # The same VAR_DIR, hence the same generated SECRET_KEY: key digests must agree.
        VAR_DIR=str(settings.VAR_DIR),
        PACKAGES_DIR=str(packages_dir),
        EMAIL_BACKEND="dummy",
        DEBUG="false",
        # gunicorn 27 keeps a control socket under ~/.gunicorn.
        HOME=str(home),
    )
    return env


# --- The client ---------------------------------------------------------------------


def put(port: int, body, headers: dict[str, str], *, chunked: bool = False) -> int | str:
    """One push on a fresh connection, as a client making one push opens it."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT)
    try:
        connection.request("PUT", PUSH_PATH, body=body, headers=headers, encode_chunked=chunked)
        response = connection.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException) as error:
        return type(error).__name__
    finally:
        connection.close()


def push_headers(key: str, content_type: str) -> dict[str, str]:
    return {
        "Content-Type": content_type,
        "X-NuGet-ApiKey": key,
        "User-Agent": "bench_push",
    }


def drive(port: int, bodies: list[tuple[bytes, str]], key: str, concurrency: int) -> dict:
    """Push every body, ``concurrency`` at a time; latencies and statuses as answered."""
    pending = iter(bodies)
    lock = threading.Lock()
    latencies, statuses = [], {}

    def client():
        while True:
            with lock:
                item = next(pending, None)
            if item is None:
                return
            body, content_type = item
            begin = time.perf_counter_ns()
            status = put(port, body, push_headers(key, content_type))
            elapsed = time.perf_counter_ns() - begin
            with lock:
                latencies.append(elapsed)
                statuses[str(status)] = statuses.get(str(status), 0) + 1

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    begin = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - begin
    return {"seconds": seconds, "latencies": sorted(latencies), "statuses": statuses}


# --- 1. Throughput --------------------------------------------------------------------


def throughput(env: dict[str, str], log_path: Path, key: str) -> tuple[list[dict], int]:
    rows = []
    built = {}
    for row_id, package_id, size, pushes in THROUGHPUT:
        versions = [f"1.0.{i}" for i in range(pushes + 64)]
        built[row_id] = [whole_body(nupkg) for nupkg in nupkgs(package_id, versions, size)]
    with serving(env, log_path) as server:
        workers = len(server.workers())
        concurrency = workers * CONCURRENCY_PER_WORKER
        for row_id, package_id, _size, pushes in THROUGHPUT:
            bodies = built.pop(row_id)
            warmup = min(WARMUP_PER_WORKER * workers, len(bodies) - pushes)
            # The first push creates the package; the warm-up lets every worker load
            # the push path and open its database connection.
            drive(server.port, bodies[:1], key, 1)
            drive(server.port, bodies[1:warmup], key, concurrency)
            run = drive(server.port, bodies[warmup : warmup + pushes], key, concurrency)
            latencies = run["latencies"]
            created = run["statuses"].get("201", 0)
            row = {
                "id": row_id,
                "package_id": package_id,
                "nupkg_bytes": len(bodies[0][0]),
                "pushes": len(latencies),
                "concurrency": concurrency,
                "warmup": warmup,
                "seconds": run["seconds"],
                "rps": len(latencies) / run["seconds"],
                "mib_per_s": sum(len(b) for b, _ in bodies[warmup : warmup + pushes])
                / MiB
                / run["seconds"],
                "p50_ms": common.percentile(latencies, 0.50) / 1e6,
                "p99_ms": common.percentile(latencies, 0.99) / 1e6,
                "max_ms": latencies[-1] / 1e6,
                "non_201": len(latencies) - created,
                "statuses": run["statuses"],
            }
            rows.append(row)
            print(
                f"  {package_id} ({common.kib(row['nupkg_bytes'])}): {row['pushes']} pushes, "
                f"{concurrency} at a time: {row['rps']:.1f}/s ({row['mib_per_s']:.1f} MiB/s), "
                f"p50 {common.ms(row['p50_ms'])} ms, p99 {common.ms(row['p99_ms'])} ms, "
                f"non-201: {row['non_201']} {run['statuses']}",
                flush=True,
            )
    return rows, workers


# --- 2. Memory ----------------------------------------------------------------------


def _status(pid: int) -> dict[str, int]:
    """The worker's VmRSS and VmHWM (peak RSS), in bytes."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) * 1024
    return fields


def _reset_peak(pid: int) -> bool:
    """Set VmHWM back to the current RSS (Linux 4.0+), so the peak is this push's."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class RssSampler(threading.Thread):
    """VmRSS every few milliseconds: the peak where VmHWM cannot be reset."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.done = pid, 0, threading.Event()

    def run(self):
        while not self.done.is_set():
            self.peak = max(self.peak, _status(self.pid)["VmRSS"])
            time.sleep(RSS_SAMPLE_SECONDS)

    def stop(self) -> int:
        self.done.set()
        self.join()
        return self.peak


def _slices(*parts: bytes):
    for part in parts:
        view = memoryview(part)
        for start in range(0, len(view), SEND_CHUNK):
            yield view[start : start + SEND_CHUNK]


def memory(env: dict[str, str], log_path: Path, key: str) -> dict:
    huge = nupkgs(HUGE_ID, ["1.0.0", "2.0.0"], HUGE_PAYLOAD)
    warm = nupkgs("Bench.Warm", ["1.0.0"], 0)[0]
    rows = []
    with serving({**env, "WEB_CONCURRENCY": "1"}, log_path) as server:
        (worker,) = server.workers()
        # One small push first: the worker has loaded the push path and connected.
        body, content_type = whole_body(warm)
        put(server.port, body, push_headers(key, content_type))
        for mode, nupkg in zip(MEMORY_MODES, huge, strict=True):
            head, tail, content_type = multipart(nupkg)
            headers = push_headers(key, content_type)
            if mode == "length":
                headers["Content-Length"] = str(len(head) + len(nupkg) + len(tail))
            reset = _reset_peak(worker)
            baseline = _status(worker)["VmRSS"]
            sampler = RssSampler(worker)
            sampler.start()
            begin = time.perf_counter()
            status = put(
                server.port, _slices(head, nupkg, tail), headers, chunked=mode == "chunked"
            )
            seconds = time.perf_counter() - begin
            sampled = sampler.stop()
            after = _status(worker)
            peak = after["VmHWM"] if reset else sampled
            row = {
                "mode": mode,
                "nupkg_bytes": len(nupkg),
                "status": status,
                "seconds": seconds,
                "baseline_bytes": baseline,
                "peak_bytes": peak,
                "growth_bytes": peak - baseline,
                "sampled_peak_bytes": sampled,
                "after_bytes": after["VmRSS"],
                "peak_from": "VmHWM" if reset else "sampled VmRSS",
            }
            rows.append(row)
            print(
                f"  {HUGE_ID} ({len(nupkg) / MiB:.1f} MiB), "
                f"{'Content-Length' if mode == 'length' else 'chunked'}: {status} in "
                f"{seconds:.2f} s; worker RSS {baseline / MiB:.1f} MiB before, peak "
                f"{peak / MiB:.1f} MiB ({row['peak_from']}): +{row['growth_bytes'] / MiB:.1f} MiB",
                flush=True,
            )
    return {"payload_bytes": HUGE_PAYLOAD, "rows": rows}


# --- 3. The key check, in process -----------------------------------------------------


def key_check_steps(raw_key: str, package_id: str) -> dict[str, int]:
    """The public functions a push's key check calls, in its order, each timed (ns).

    ``feed.services.key_check`` asks ``check()`` for the key; ``_authorize`` asks
    ``package_owned_by`` and then the key's grant. ``package_find`` is not part of the
    check (every push looks its package up, whoever sends it): it is timed for scale.
    """
    from apikeys.authentication import check
    from apikeys.scopes import Action
    from packages.services import package_find, package_owned_by

    clock = time.perf_counter_ns
    begin = clock()
    outcome = check(raw_key)
    checked = clock()
    package = package_find(package_id)
    found = clock()
    owned = package_owned_by(package, outcome.key.owner_id)
    owned_at = clock()
    decision = outcome.key.grant.allows(
        Action.PUSH, package_id, package_exists=True, owner_owns_package=owned
    )
    decided = clock()
    if not (owned and decision):
        raise BenchmarkError(f"the benchmark's key may not push {package_id}: {decision}")
    return {
        "key": checked - begin,
        "package_lookup": found - checked,
        "ownership": owned_at - found,
        "grant": decided - owned_at,
    }


def auth_cost(key: str) -> dict:
    """A push end to end, and beside it, in the same process on the same database and
    key, the key check's own public functions; the two take turns, push by push."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from apikeys import authentication
    from apikeys.scopes import Action
    from packages.services import package_find, package_owned_by

    client = Client()
    statuses: dict[str, int] = {}

    def push(item):
        body, content_type = item
        response = client.generic(
            "PUT", PUSH_PATH, body, content_type, headers={"X-NuGet-ApiKey": key}
        )
        statuses[str(response.status_code)] = statuses.get(str(response.status_code), 0) + 1

    def check(_item=None):
        return key_check_steps(key, AUTH_ID)

    versions = [f"1.0.{i}" for i in range(AUTH_WARMUP + AUTH_PUSHES + AUTH_COUNTED + 2)]
    bodies = [whole_body(nupkg) for nupkg in nupkgs(AUTH_ID, versions, 0)]
    push(bodies.pop())  # creates the package: every timed push is a new version
    inputs = iter(bodies)
    common.warm_up(push, [next(inputs) for _ in range(AUTH_WARMUP)], AUTH_WARMUP)
    common.warm_up(check, [None], AUTH_WARMUP)
    # The two take turns, the first of each pair alternating, so that other load on
    # the machine weighs on both alike.
    push_samples, step_samples = [], []
    for number in range(AUTH_PUSHES):
        item = next(inputs)
        for turn in ("push", "check") if number % 2 == 0 else ("check", "push"):
            if turn == "push":
                begin = time.perf_counter_ns()
                push(item)
                push_samples.append(time.perf_counter_ns() - begin)
            else:
                step_samples.append(check())
    push_queries = common.count_queries(
        push, [next(inputs) for _ in range(AUTH_COUNTED)], calls=AUTH_COUNTED
    )
    with CaptureQueriesContext(connection) as captured:
        push(next(inputs))
    query_kinds = ", ".join(describe(query["sql"]) for query in captured)
    # The check's own queries, without the package lookup that key_check_steps also times.
    package = package_find(AUTH_ID)
    with CaptureQueriesContext(connection) as captured:
        outcome = authentication.check(key)
        package_owned_by(package, outcome.key.owner_id)
        outcome.key.grant.allows(Action.PUSH, AUTH_ID, package_exists=True, owner_owns_package=True)
    check_queries = {"queries_per_call": len(captured)}
    check_query_kinds = ", ".join(describe(query["sql"]) for query in captured)

    timing = common.summarize(push_samples)

    def median_us(*steps):
        return statistics.median(sum(s[step] for step in steps) for s in step_samples) / 1000

    steps = {
        "key_us": median_us("key"),
        "ownership_us": median_us("ownership"),
        "grant_us": median_us("grant"),
        "total_us": median_us("key", "ownership", "grant"),
        "package_lookup_us": median_us("package_lookup"),
    }
    figures = {
        "pushes_per_series": timing.calls,
        "warmup": AUTH_WARMUP,
        "nupkg_bytes": len(bodies[0][0]),
        "push": {**vars(timing), **push_queries},
        "check": {
            **steps,
            "percent": steps["total_us"] / timing.median_us * 100,
            **check_queries,
            "query_kinds": check_query_kinds,
        },
        "statuses": statuses,
        "non_201": sum(n for status, n in statuses.items() if status != "201"),
        "query_kinds": query_kinds,
    }
    print(
        f"  in process, {AUTH_ID} ({common.kib(figures['nupkg_bytes'])}): push "
        f"{common.us(timing.median_us)} µs (median of {timing.calls}); beside it, the key "
        f"check {common.us(steps['total_us'])} µs ({common.us(steps['key_us'])} key + "
        f"{common.us(steps['ownership_us'])} ownership + {common.us(steps['grant_us'])} "
        f"grant) = {figures['check']['percent']:.1f}% of a push; for scale, the package "
        f"lookup {common.us(steps['package_lookup_us'])} µs; queries "
        f"{push_queries['queries_per_call']:g} per push, "
        f"{check_queries['queries_per_call']:g} per check; non-201: {figures['non_201']}",
        flush=True,
    )
    return figures


_TABLE = re.compile(r'\b(?:FROM|UPDATE|INTO)\s+"?(\w+)"?', re.IGNORECASE)


def describe(sql: str) -> str:
    """``SELECT apikeys_apikey``: a query's verb and first table."""
    verb = sql.lstrip().split(None, 1)[0].upper()
    table = _TABLE.search(sql)
    return f"{verb} {table.group(1)}" if table else verb


# --- The run ----------------------------------------------------------------------------


def populate() -> str:
    """A registry of STORED_PACKAGES, and a confirmed user with a push key for the
    benchmark's IDs, made the real way; returns the key."""
    from allauth.account.models import EmailAddress
    from django.contrib.auth import get_user_model

    from apikeys.scopes import Action
    from apikeys.services import api_key_create
    from packages.models import Package

    others = get_user_model().objects.create_user(username="others", email="others@example.com")
    Package.objects.bulk_create(
        (Package(name=f"Contoso.Lib{i:05d}") for i in range(STORED_PACKAGES)), batch_size=1_000
    )
    Package.owners.through.objects.bulk_create(
        (
            Package.owners.through(package_id=package_id, user_id=others.pk)
            for package_id in Package.objects.values_list("id", flat=True)
        ),
        batch_size=1_000,
    )
    common.analyze()
    owner = get_user_model().objects.create_user(username="bench", email="bench@example.com")
    EmailAddress.objects.create(user=owner, email=owner.email, primary=True, verified=True)
    _, plaintext = api_key_create(
        owner=owner,
        name="bench",
        actions=[Action.PUSH.value],
        package_ids=[],
        globs=["Bench.*"],
        expiration_days=365,
        actor=owner,
    )
    return plaintext


def measure(scratch: Path) -> dict:
    import gunicorn
    from django.conf import settings
    from django.test.utils import override_settings

    packages_dir = scratch / "packages"
    home = scratch / "home"
    home.mkdir()
    key = populate()
    env = server_env(home, packages_dir)
    log_path = scratch / "gunicorn.log"
    began = time.perf_counter()
    rows, workers = throughput(env, log_path, key)
    figures = {
        "stored_packages": STORED_PACKAGES,
        "cores": os.cpu_count(),
        "workers": workers,
        "gunicorn": gunicorn.__version__,
        "throughput": rows,
    }
    print(f"  ({time.perf_counter() - began:.0f} s)", flush=True)
    began = time.perf_counter()
    figures["memory"] = memory(env, log_path, key)
    print(f"  ({time.perf_counter() - began:.0f} s)", flush=True)
    began = time.perf_counter()
    storages = {
        **settings.STORAGES,
        "packages": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(packages_dir)},
        },
    }
    with override_settings(STORAGES=storages):
        figures["auth"] = auth_cost(key)
    print(f"  ({time.perf_counter() - began:.0f} s)", flush=True)
    log = log_path.read_text(errors="replace")
    figures["server_errors"] = log.count("Traceback")
    if figures["server_errors"]:
        print(f"  the server logged {figures['server_errors']} tracebacks:\n{log}", flush=True)
    return figures


def main() -> None:
    arguments = common.parser(__doc__.splitlines()[0])
    arguments.add_argument(
        "--postgres-name",
        default=POSTGRES_DATABASE,
        help=f"the throwaway PostgreSQL database (default {POSTGRES_DATABASE}); it is "
        "dropped and made again, so two runs at once need two names",
    )
    options = arguments.parse_args()
    common.setup_django()
    from django.conf import settings
    from django.db import connection

    print(f"Push on {common.VENDOR_NAMES[connection.vendor]}:", flush=True)
    scratch = Path(tempfile.mkdtemp(prefix="push-", dir=settings.VAR_DIR))
    try:
        figures = common.measure_on_throwaway_database(
            "push", lambda: measure(scratch), options.json, postgres_name=options.postgres_name
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if figures is not None:
        common.write_json(options.json, figures)


if __name__ == "__main__":
    main()
