"""What the benchmark scripts share: Django on a throwaway database, timing, the report.

Each script measures one database per process (the one ``DATABASE_URL`` selects) and
writes its figures as JSON. Run as a module, this file merges those JSON files into
one side-by-side report:

    python -m benchmarks.common --command "make bench" var/bench benchmarks/RESULTS.md

``make bench`` runs the whole sequence; see the Makefile.
"""

import argparse
import json
import os
import platform
import random
import shlex
import sqlite3
import sys
import time
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

VENDORS = ("sqlite", "postgresql")
VENDOR_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
POSTGRES_DATABASE = "portal_bench"


# --- Django ---------------------------------------------------------------------


def setup_django() -> None:
    """The portal's own settings, with what an in-process run needs instead of a server."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django
    from django.test.utils import override_settings

    # WhiteNoise warns that STATIC_ROOT is empty: nothing here serves static files.
    warnings.filterwarnings("ignore", message="No directory at")
    django.setup()
    override_settings(
        # DEBUG would log every query and slow every call down.
        DEBUG=False,
        # django.test.Client's host.
        ALLOWED_HOSTS=["testserver"],
        # Pages render {% static %} without a collectstatic manifest, as in tests/settings.py.
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        },
        # Creating a key sends an email; the console backend would print it.
        EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend",
    ).enable()


class DatabaseUnavailable(Exception):
    """The run's database server could not be reached."""


@contextmanager
def throwaway_database(*, postgres_name: str = POSTGRES_DATABASE, sqlite_prefix: str = "bench"):
    """A fresh, migrated database for the run, dropped afterwards.

    Django's test-database machinery does the work: PostgreSQL gets a database named
    ``postgres_name`` (whatever DATABASE_URL names is left alone), SQLite a file
    ``<sqlite_prefix>-<pid>.sqlite3`` under VAR_DIR, so that it sits on the same disk a
    real deployment's database would.
    """
    from django.conf import settings
    from django.db import OperationalError, connection

    test = connection.settings_dict.setdefault("TEST", {})
    if connection.vendor == "sqlite":
        test["NAME"] = str(Path(settings.VAR_DIR) / f"{sqlite_prefix}-{os.getpid()}.sqlite3")
    else:
        test["NAME"] = postgres_name
    try:
        original = connection.creation.create_test_db(
            verbosity=0, autoclobber=True, serialize=False
        )
    except OperationalError as error:
        raise DatabaseUnavailable(str(error).strip()) from error
    try:
        yield
    finally:
        connection.creation.destroy_test_db(original, verbosity=0)


def database_facts() -> dict:
    from django.db import connection

    if connection.vendor == "sqlite":
        version = sqlite3.sqlite_version
    else:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0]
    return {"vendor": connection.vendor, "version": version}


def analyze() -> None:
    """What autovacuum gives a live site after a bulk load: fresh planner statistics
    and, on PostgreSQL, the visibility map that lets a count read an index alone."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")


# --- Timing -----------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    median_us: float
    p99_us: float
    max_us: float
    calls: int


def percentile(ordered: list[int], fraction: float) -> int:
    """Nearest-rank percentile of an already sorted list."""
    rank = max(1, -(-len(ordered) * fraction // 1))
    return ordered[int(rank) - 1]


def warm_up(fn, inputs: list, calls: int) -> None:
    for i in range(calls):
        fn(inputs[i % len(inputs)])


def sample(fn, inputs: list, *, calls: int, start: int = 0) -> list[int]:
    """Nanoseconds per call of ``fn(item)``, one call at a time, cycling through ``inputs``."""
    count = len(inputs)
    clock = time.perf_counter_ns
    samples = []
    for i in range(start, start + calls):
        item = inputs[i % count]
        begin = clock()
        fn(item)
        samples.append(clock() - begin)
    return samples


def in_turn(series: list, round_number: int) -> list:
    """The order in which ``series`` take turns in round ``round_number``.

    Shuffled afresh each round, seeded by the round so that reruns repeat it:
    what one series leaves behind (in the CPU caches, the allocator, the
    database's page cache) weighs on the next, and a fixed order would make
    the same series always pay for the same neighbour.
    """
    return random.Random(round_number).sample(series, len(series))  # noqa: S311 (not a secret)


def summarize(samples: list[int]) -> Timing:
    ordered = sorted(samples)
    middle = len(ordered) // 2
    median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return Timing(median / 1000, percentile(ordered, 0.99) / 1000, ordered[-1] / 1000, len(ordered))


def time_each(fn, inputs: list, *, calls: int, warmup: int = 0) -> Timing:
    warm_up(fn, inputs, warmup)
    return summarize(sample(fn, inputs, calls=calls))


class QueryTimer:
    """An execute wrapper that adds up the time spent inside ``cursor.execute``."""

    def __init__(self):
        self.ns = 0

    def __call__(self, execute, sql, params, many, context):
        begin = time.perf_counter_ns()
        try:
            return execute(sql, params, many, context)
        finally:
            self.ns += time.perf_counter_ns() - begin


def count_queries(fn, inputs: list, *, calls: int) -> dict:
    """Queries, and how many of them write, per call of ``fn``, over ``calls`` calls."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    verbs = []

    def note_verb(execute, sql, params, many, context):
        # From the statement itself: with server-side binding, the captured "sql" is None.
        verbs.append(sql.lstrip().split(None, 1)[0].upper())
        return execute(sql, params, many, context)

    count = len(inputs)
    with CaptureQueriesContext(connection) as captured, connection.execute_wrapper(note_verb):
        for i in range(calls):
            fn(inputs[i % count])
    writes = sum(1 for verb in verbs if verb in ("INSERT", "UPDATE", "DELETE"))
    return {"queries_per_call": len(captured) / calls, "writes_per_call": writes / calls}


# --- Facts about the run ------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# The environment that decides what a run measures.
_ENV = ("DATABASE_URL", "VAR_DIR")


def _masked(value: str) -> str:
    """``value`` with any password in it replaced: RESULTS.md is committed."""
    parts = urlsplit(value)
    if parts.password is None:
        return value
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def run_facts() -> dict:
    """What a reader needs to judge one run's figures; written into its JSON."""
    load = os.getloadavg()
    return {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(
            [
                *(
                    f"{name}={shlex.quote(_masked(os.environ[name]))}"
                    for name in _ENV
                    if name in os.environ
                ),
                shlex.join(["python", *sys.orig_argv[1:]]),
            ]
        ),
        "load_average": [round(x, 2) for x in load],
        "database": database_facts(),
    }


def write_json(path: str | None, data: dict) -> None:
    if path:
        Path(path).write_text(json.dumps(data, indent=2, default=_jsonable) + "\n")


def _jsonable(value):
    if isinstance(value, Timing):
        return asdict(value)
    raise TypeError(f"not JSON serializable: {value!r}")


def parser(description: str) -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(description=description)
    result.add_argument("--json", help="write the figures to this file")
    return result


def database_unavailable(benchmark: str, error: Exception, path: str | None) -> None:
    """Record that this run's database could not be reached, so the report says so."""
    vendor = "postgresql" if "postgres" in os.environ.get("DATABASE_URL", "") else "sqlite"
    print(f"{benchmark}: {VENDOR_NAMES[vendor]} not measured: {error}", file=sys.stderr)
    write_json(path, {"benchmark": benchmark, "vendor": vendor, "error": str(error).strip()})


def measure_on_throwaway_database(benchmark: str, measure, json_path: str | None, **database):
    """``measure()`` on a fresh database (``database`` as for ``throwaway_database``):
    the run's facts and figures, ready for ``write_json``; None, with the failure
    recorded, when the database could not be reached."""
    try:
        with throwaway_database(**database):
            facts = run_facts()
            figures = measure()
    except DatabaseUnavailable as error:
        database_unavailable(benchmark, error, json_path)
        return None
    return {"benchmark": benchmark, "vendor": facts["database"]["vendor"], **facts, **figures}


# --- Formatting ---------------------------------------------------------------------


def us(value: float) -> str:
    if value < 10:
        return f"{value:.2f}"
    if value < 1000:
        return f"{value:.1f}"
    return f"{value:,.0f}"


def ms(value: float) -> str:
    return f"{value:.1f}" if value < 1000 else f"{value:,.0f}"


def ratio(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}x" if value < 10 else f"{value:,.0f}x"


def kib(size: int) -> str:
    return f"{size / 1024:,.1f} KiB"


def per_call(value: float) -> str:
    return f"{value:g}"


def table(header: list[str], rows: list[list[str]], align: str = "") -> list[str]:
    """A Markdown table; ``align`` holds one of "l"/"r" per column (default right)."""
    align = align.ljust(len(header), "r")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def line(cells):
        padded = [
            str(cell).ljust(width) if a == "l" else str(cell).rjust(width)
            for cell, width, a in zip(cells, widths, align, strict=True)
        ]
        return "| " + " | ".join(padded) + " |"

    rule = [
        ("-" * (w - 1) + ":") if a == "r" else "-" * w for w, a in zip(widths, align, strict=True)
    ]
    return [line(header), "| " + " | ".join(rule) + " |", *(line(row) for row in rows)]


# --- The report -----------------------------------------------------------------------


def _load(directory: Path) -> dict[tuple[str, str], dict]:
    runs = {}
    for path in sorted(directory.glob("*.json")):
        data = json.loads(path.read_text())
        runs[(data["benchmark"], data["vendor"])] = data
    return runs


def _measured(runs: dict, benchmark: str) -> list[tuple[str, dict]]:
    return [
        (vendor, runs[(benchmark, vendor)])
        for vendor in VENDORS
        if (benchmark, vendor) in runs and "error" not in runs[(benchmark, vendor)]
    ]


def _missing(runs: dict, benchmark: str) -> list[str]:
    notes = []
    for vendor in VENDORS:
        run = runs.get((benchmark, vendor))
        if run is None:
            notes.append(f"{VENDOR_NAMES[vendor]}: not run.")
        elif "error" in run:
            notes.append(f"{VENDOR_NAMES[vendor]}: not measured ({run['error'].splitlines()[0]}).")
    return notes


def _ordered(runs: dict) -> list[dict]:
    """The runs in reading order: benchmark, then SQLite before PostgreSQL; JSON from
    benchmarks the report does not know comes last rather than breaking it."""
    benchmarks = (
        "keycheck",
        "peers",
        "apikeys_page",
        "push",
        "http",
        "read",
        "search",
        "gallery",
        "s3",
    )

    def position(key):
        name, vendor = key
        known = benchmarks.index(name) if name in benchmarks else len(benchmarks)
        return (known, name, VENDORS.index(vendor) if vendor in VENDORS else len(VENDORS))

    return [runs[key] for key in sorted(runs, key=position)]


def _verdict(name: str, verdict: dict) -> str:
    return (
        f"- {name}: ours {us(verdict['ours_us'])} µs against the floor's "
        f"{us(verdict['floor_us'])} µs = {ratio(verdict['ratio'])}: "
        + ("**met**." if verdict["met"] else "**not met**.")
    )


def _keycheck_section(runs: dict) -> list[str]:
    measured = _measured(runs, "keycheck")
    lines = ["## 1. Key check, in process", ""]
    if not measured:
        return [*lines, *(f"- {note}" for note in _missing(runs, "keycheck")), ""]
    first = measured[0][1]
    lines += [
        f"{first['stored_keys']:,} stored keys. Timed calls cycle through "
        f"{first['pool']:,} of them; medians and p99s are per call, timed one call at a "
        "time with `time.perf_counter_ns` after a warm-up, the fast rows taking turns in "
        f"{first['rounds']} rounds, in an order shuffled each round, so that other load, "
        "and what each row leaves behind for the next, weighs on them alike. Queries and "
        "writes (INSERT/UPDATE/DELETE) per call come from a separate batch under "
        "`CaptureQueriesContext`. “x floor” divides a row's median by the floor's "
        "(the prepared rows by the prepared floor's).",
        "",
    ]
    header = ["Path"]
    for vendor, _run in measured:
        header += [f"{VENDOR_NAMES[vendor]} median µs", "p99 µs", "queries", "writes", "x floor"]
    labels: dict[str, tuple[str, int]] = {}
    for _vendor, run in measured:
        for row in run["rows"]:
            labels.setdefault(row["id"], (row["label"], row["calls"]))
    rows = []
    for row_id, (label, calls) in labels.items():
        cells = [f"{label} (n={calls:,})"]
        for _vendor, run in measured:
            row = next((r for r in run["rows"] if r["id"] == row_id), None)
            if row is None:
                cells += ["n/a"] * 5
                continue
            cells += [
                us(row["median_us"]),
                us(row["p99_us"]),
                per_call(row["queries_per_call"]),
                per_call(row["writes_per_call"]),
                ratio(row["vs_floor"]),
            ]
        rows.append(cells)
    lines += table(header, rows, "l")
    wanted = first["target"].get("wanted", 2)
    lines += [
        "",
        f"**Target: ours (c) within {wanted}x of the floor (a), median against median.**",
        "",
    ]
    for vendor, run in measured:
        lines.append(_verdict(VENDOR_NAMES[vendor], run["target"]))
        if "target_prepared" in run:
            lines.append(
                _verdict(f"{VENDOR_NAMES[vendor]} with prepared statements", run["target_prepared"])
            )
    lines.append("")
    for vendor, run in measured:
        medians = {row["id"]: row["median_us"] for row in run["rows"]}
        if "own_select" in medians:
            lines.append(
                f"- {VENDOR_NAMES[vendor]}: the work around the lookup, (c) minus (a'), "
                f"{us(medians['ours'] - medians['own_select'])} µs; the wider SELECT, "
                f"(a') minus (a), {us(medians['own_select'] - medians['floor'])} µs."
            )
    hashers = first["hashers"]
    lines += [
        "",
        f"Rows: (a) `{first['floor_sql']}` through a raw cursor, digest precomputed, "
        "with a named parameter as `authenticate` binds them; "
        "(a') the statement `authenticate` sends (more columns, and a join to the owner), "
        "caught on its way to the database with an execute wrapper and replayed with the "
        "digest precomputed, so that (c) minus (a') is the work around the lookup; "
        "(b) the floor's lookup as `ApiKey.objects.get(digest=...)`; "
        "(c) `authenticate(value)` then `grant.allows(Action.PUSH, ...)`: parse, checksum, "
        "HMAC, lookup, expiry and revocation checks, grant; (c') the same on a key's first "
        "use in the last-used interval, which adds the coalesced `last_used_at` UPDATE; "
        "(d) and (e) the floor's lookup plus a password-hasher verify, as galleries that "
        "store keys like passwords do (Argon2: time_cost "
        f"{hashers['argon2']['time_cost']}, memory_cost "
        f"{hashers['argon2']['memory_cost']:,} KiB, parallelism "
        f"{hashers['argon2']['parallelism']}; PBKDF2-SHA256: "
        f"{hashers['pbkdf2']['iterations']:,} iterations, Django's default); then "
        "`authenticate` on a key with a wrong checksum and on a well-formed key that is not "
        "stored. The prepared rows (PostgreSQL only) repeat (a), (a') and (c) with "
        "`OPTIONS = {'server_side_binding': True, 'prepare_threshold': 5}`; the other "
        "rows prepare nothing (Django's default binds parameters client-side and never "
        "prepares; the portal's own default prepares `authenticate`'s lookup, which "
        "`DATABASE_PREPARED_STATEMENTS=false` turns off, as here).",
        "",
    ]
    return [*lines, *(f"- {note}" for note in _missing(runs, "keycheck"))]


def _marginal(run: dict) -> str:
    """Cost of one more key row and one more package checkbox, from the rows that differ."""
    by_size = {(row["keys"], row["packages"]): row["median_ms"] for row in run["rows"]}
    keys = sorted({k for k, _ in by_size})
    packages = sorted({p for _, p in by_size})
    parts = []
    few, many = keys[0], keys[-1]
    if (few, 0) in by_size and (many, 0) in by_size and many > few:
        per_key = (by_size[(many, 0)] - by_size[(few, 0)]) / (many - few) * 1000
        parts.append(f"{us(per_key)} µs per key row")
    if (few, 0) in by_size and (few, packages[-1]) in by_size and packages[-1] > 0:
        per_package = (by_size[(few, packages[-1])] - by_size[(few, 0)]) / packages[-1] * 1000
        parts.append(f"{us(per_package)} µs per package checkbox")
    return ", ".join(parts) or "n/a"


def _page_section(runs: dict) -> list[str]:
    measured = _measured(runs, "apikeys_page")
    lines = ["## 2. API Keys page, `GET /account/apikeys`", ""]
    if not measured:
        return [*lines, *(f"- {note}" for note in _missing(runs, "apikeys_page")), ""]
    first = measured[0][1]
    lines += [
        f"A signed-in, confirmed user per row; {first['requests']} timed requests per row "
        f"after {first['warmup']} warm-up requests, the rows taking turns, through "
        "`django.test.Client` in process: every middleware, the view and the template, "
        "no network and no gunicorn. “SQL ms” is the time inside `cursor.execute` during "
        "one request; HTML is the response body, gzipped what it would weigh compressed.",
        "",
    ]
    header = ["Keys", "Packages"]
    for vendor, _run in measured:
        header += [f"{VENDOR_NAMES[vendor]} median ms", "max ms", "SQL ms", "queries"]
    header += ["HTML", "gzipped"]
    rows = []
    for index, scenario in enumerate(first["rows"]):
        cells = [f"{scenario['keys']:,}", f"{scenario['packages']:,}"]
        for _vendor, run in measured:
            row = run["rows"][index]
            cells += [ms(row["median_ms"]), ms(row["max_ms"]), ms(row["sql_ms"]), row["queries"]]
        cells += [kib(scenario["bytes"]), kib(scenario["gzip_bytes"])]
        rows.append(cells)
    lines += table(header, rows)
    lines.append("")
    for vendor, run in measured:
        lines.append(f"- {VENDOR_NAMES[vendor]}, from the medians: {_marginal(run)}.")
    for vendor, run in measured:
        lines.append(f"- {VENDOR_NAMES[vendor]}, the queries of one request: {run['query_kinds']}.")
    lines.append("")
    return [*lines, *(f"- {note}" for note in _missing(runs, "apikeys_page"))]


def mib(size: float) -> str:
    return f"{size / 1024**2:,.1f}"


def _push_throughput(measured: list[tuple[str, dict]]) -> list[str]:
    first = measured[0][1]
    lines = [
        "### Pushes per second, through gunicorn",
        "",
        f"gunicorn {first['gunicorn']} started as a deployment starts it "
        "(`python -m gunicorn portal.wsgi:application`, reading `gunicorn.conf.py`): "
        f"{first['workers']} workers of the class it names on {first['cores']} cores, the "
        "default 2 x cores + 1, on a loopback port. The client is on the same machine: "
        "threads with `http.client`, one new connection per push, "
        f"{first['throughput'][0]['concurrency']} pushes in flight, one per worker. Every "
        "push is a new version of one package ID with a Content-Length, so every answer "
        "should be a 201; the package's size is one file of random bytes, which do not "
        f"deflate. {first['throughput'][0]['warmup']} warm-up pushes come first. Latency "
        "runs from connect to the last byte of the answer; MiB/s counts request bodies.",
        "",
    ]
    header = ["Package"]
    for vendor, _run in measured:
        header += [f"{VENDOR_NAMES[vendor]} pushes/s", "MiB/s", "p50 ms", "p99 ms", "non-201"]
    rows = []
    for index, scenario in enumerate(first["throughput"]):
        cells = [
            f"{scenario['package_id']}, {kib(scenario['nupkg_bytes'])} (n={scenario['pushes']})"
        ]
        for _vendor, run in measured:
            row = run["throughput"][index]
            cells += [
                f"{row['rps']:.1f}",
                f"{row['mib_per_s']:.1f}",
                ms(row["p50_ms"]),
                ms(row["p99_ms"]),
                str(row["non_201"]),
            ]
        rows.append(cells)
    lines += table(header, rows, "l")
    for vendor, run in measured:
        others = {
            status: n
            for row in run["throughput"]
            for status, n in row["statuses"].items()
            if status != "201"
        }
        if others or run.get("server_errors"):
            lines.append(
                f"- {VENDOR_NAMES[vendor]}: answers other than 201: {others or 'none'}; "
                f"tracebacks in the server's log: {run.get('server_errors', 0)}."
            )
    return [*lines, ""]


def _push_memory(measured: list[tuple[str, dict]]) -> list[str]:
    first = measured[0][1]
    size = first["memory"]["rows"][0]["nupkg_bytes"]
    lines = [
        f"### Server memory for a {mib(size)} MiB package",
        "",
        "gunicorn with one worker (`WEB_CONCURRENCY=1`), warmed up by a small push. Just "
        "before each big push the worker's peak RSS is reset to its current RSS (`5` "
        "into `/proc/<pid>/clear_refs`); the peak is its `VmHWM` afterwards. The client "
        "sends the body in 64 KiB pieces, once with a Content-Length and once with "
        "`Transfer-Encoding: chunked` (`http.client`, `encode_chunked=True`), each a new "
        "version; `PACKAGES_MAX_SIZE` is the default 250 MB.",
        "",
    ]
    header = ["Body"]
    for vendor, _run in measured:
        header += [
            f"{VENDOR_NAMES[vendor]} answer",
            "seconds",
            "RSS before MiB",
            "peak MiB",
            "growth MiB",
        ]
    labels = {"length": "Content-Length", "chunked": "chunked"}
    rows = []
    for index, scenario in enumerate(first["memory"]["rows"]):
        cells = [labels.get(scenario["mode"], scenario["mode"])]
        for _vendor, run in measured:
            row = run["memory"]["rows"][index]
            cells += [
                str(row["status"]),
                f"{row['seconds']:.2f}",
                mib(row["baseline_bytes"]),
                mib(row["peak_bytes"]),
                f"+{mib(row['growth_bytes'])}",
            ]
        rows.append(cells)
    lines += table(header, rows, "l")
    growth = max(row["growth_bytes"] for _v, run in measured for row in run["memory"]["rows"])
    lines += [
        "",
        f"- The worker grows by at most {mib(growth)} MiB while receiving {mib(size)} MiB: "
        "the body is streamed to a temporary file, never held in memory. With a "
        "Content-Length, gunicorn 27 reads the body ahead in `recv()` calls of up to 1 MiB "
        "(`SocketUnreader.max_body_chunk`) and buffers the surplus, which is most likely "
        "where that row's few MiB go; the chunked body arrives in smaller pieces.",
    ]
    return [*lines, ""]


def _push_auth(measured: list[tuple[str, dict]]) -> list[str]:
    first = measured[0][1]["auth"]
    lines = [
        "### What the key check is of a push, in process",
        "",
        f"(a) is a push of a {kib(first['nupkg_bytes'])} package (no payload) through "
        "`django.test.Client`: every middleware, the view, the key check, the service, the "
        "row, the file and the audit event, no network; each push a new version. Taking "
        "turns with it, push by push, in the same process on the same database and key, "
        "the public functions that push's key check calls are timed one by one: "
        "`apikeys.authentication.check(raw_key)` (parse, HMAC, the one lookup, expiry: "
        "what `feed.services.key_check` does for a valid key), then "
        "`packages.services.package_owned_by(package, owner_id)` and the key's "
        "`Grant.allows(PUSH, id, package_exists=True, owner_owns_package=True)` (what "
        "`feed.services._authorize` does). `packages.services.package_find(id)` is not "
        "part of the check (every push looks its package up, whoever sends it); it is "
        f"there for scale. {first['pushes_per_series']} of each after {first['warmup']} "
        "warm-up pushes, the first of each pair alternating. Medians, each taken on its "
        "own, so the steps need not add up to the whole; “% of (a)” divides by (a)'s "
        "median. Nothing is patched: the check is timed beside the push, not inside it.",
        "",
    ]
    header = ["Row"]
    for vendor, _run in measured:
        header += [f"{VENDOR_NAMES[vendor]} median µs", "% of (a)", "queries"]

    def cells_for(pick):
        cells = []
        for _vendor, run in measured:
            auth = run["auth"]
            value, queries = pick(auth)
            cells += [us(value), f"{value / auth['push']['median_us'] * 100:.1f}%", queries]
        return cells

    specs = [
        (
            f"(a) push, key check included (n={first['pushes_per_series']})",
            lambda a: (a["push"]["median_us"], per_call(a["push"]["queries_per_call"])),
        ),
        ("beside (a): the key, `check`", lambda a: (a["check"]["key_us"], "")),
        ("beside (a): ownership, `package_owned_by`", lambda a: (a["check"]["ownership_us"], "")),
        ("beside (a): the grant, `Grant.allows`", lambda a: (a["check"]["grant_us"], "")),
        (
            "beside (a): the key check, all three",
            lambda a: (a["check"]["total_us"], per_call(a["check"]["queries_per_call"])),
        ),
        (
            "beside (a), for scale: the package lookup, `package_find`",
            lambda a: (a["check"]["package_lookup_us"], ""),
        ),
    ]
    rows = [[label, *cells_for(pick)] for label, pick in specs]
    lines += table(header, rows, "l")
    lines.append("")
    for vendor, run in measured:
        lines.append(
            f"- {VENDOR_NAMES[vendor]}, the queries of one push (a): {run['auth']['query_kinds']};"
            f" of the key check: {run['auth']['check']['query_kinds']}."
        )
    for vendor, run in measured:
        if run["auth"]["non_201"]:
            lines.append(
                f"- {VENDOR_NAMES[vendor]}: {run['auth']['non_201']} in-process pushes were not "
                f"201: {run['auth']['statuses']}."
            )
    return [*lines, ""]


def _push_section(runs: dict) -> list[str]:
    measured = _measured(runs, "push")
    lines = ["## 3. Push, `PUT /api/v2/package/`", ""]
    if not measured:
        return [*lines, *(f"- {note}" for note in _missing(runs, "push")), ""]
    first = measured[0][1]
    lines += [
        f"One confirmed user with a push key for `Bench.*`, made by `api_key_create`, and "
        f"{first['stored_packages']:,} other packages stored, as on a small gallery.",
        "",
        *_push_throughput(measured),
        *_push_memory(measured),
        *_push_auth(measured),
    ]
    return [*lines, *(f"- {note}" for note in _missing(runs, "push"))]


def _peers_section(runs: dict) -> list[str]:
    measured = _measured(runs, "peers")
    lines = ["## 4. Key check against other designs, in process", ""]
    if not measured:
        return [*lines, *(f"- {note}" for note in _missing(runs, "peers")), ""]
    first = measured[0][1]
    versions = ", ".join(f"{name} {version}" for name, version in first["versions"].items())
    lines += [
        f"`bench_peers.py`, settings `benchmarks.peers_settings` (the portal's plus the "
        f"peers' apps, from the `bench` extra: {versions}). {first['stored_keys']:,} stored "
        "keys of each kind in one database; each row's timed calls cycle through up to "
        f"{first['pool']:,} of its keys, the fast rows taking turns in {first['rounds']} "
        "rounds (in an order shuffled each round) after a warm-up; medians per call; "
        "queries per call counted separately. Each runs as shipped: on PostgreSQL ours "
        "prepares its lookup (`DATABASE_PREPARED_STATEMENTS`), the floor and the peers "
        "prepare nothing. “x ours” divides a row's median by ours.",
        "",
    ]
    header = ["Check"]
    for vendor, _run in measured:
        header += [f"{VENDOR_NAMES[vendor]} median µs", "p99 µs", "queries", "x ours"]
    rows = []
    for index, row in enumerate(first["rows"]):
        cells = [f"{row['label']} (n={row['calls']:,})"]
        for _vendor, run in measured:
            mine = run["rows"][index]
            cells += [
                us(mine["median_us"]),
                us(mine["p99_us"]),
                per_call(mine["queries_per_call"]),
                ratio(mine["vs_ours"]),
            ]
        rows.append(cells)
    lines += table(header, rows, "l")
    names = {
        "floor": f"ours within {first['targets']['floor']['wanted']}x of the floor (a)",
        "drf_api_key": "ours at least 5x faster than djangorestframework-api-key (c)",
        "knox": "ours at least 10x faster than django-rest-knox (d)",
        "v4_pbkdf2": "ours at least 60x faster than the PBKDF2-10k check (e)",
    }
    lines += ["", "**Targets**, median against median:", ""]
    for target_id, name in names.items():
        parts = []
        for vendor, run in measured:
            target = run["targets"][target_id]
            parts.append(
                f"{VENDOR_NAMES[vendor]} {ratio(target['ratio'])} "
                + ("**met**" if target["met"] else "**not met**")
            )
        lines.append(f"- {name}: " + "; ".join(parts) + ".")
    lines += [
        "",
        f"Rows: (a) `{first['floor_sql']}` through a raw cursor, IDs precomputed: one "
        "primary-key probe and nothing else. (b) `authenticate(value)` then "
        "`grant.allows(...)`, as in section 1. (c) `APIKey.objects.is_valid(key)`: an ORM "
        "`get(prefix=...)` on its unique prefix, then `KeyGenerator.verify`; in 3.x new "
        "keys are hashed with its `Sha512ApiKeyHasher` (one SHA-512, through Django's "
        "`make_password` format), not a password hasher: only keys made by 2.x still go "
        "through `check_password`, and are rehashed on first use. (d) "
        "`TokenAuthentication().authenticate_credentials(token)`: an ORM filter on the "
        "15-character `token_key` with `select_related('user')`, then, per match, "
        "`_cleanup_token`, which loads every token of that user to delete expired ones, "
        "then one SHA-512 and `compare_digest`; (d') the same for a user holding "
        f"{first['knox_many']} tokens, where that second query returns "
        f"{first['knox_many']} rows. (e) what nuget.org's V4 keys cost: the ID part "
        f"finds the row (`{first['v4_sql']}`, raw cursor, the same query form as ours), "
        f"then `hashlib.pbkdf2_hmac('sha256', secret, salt, {first['v4_iterations']:,})` "
        "and `hmac.compare_digest`; only the keys it is timed on carry a real hash, the "
        "other rows random bytes of the same size. Like with like: (a), (b) and (e) go "
        "through a raw cursor and bind named parameters, as `authenticate` does (on "
        "SQLite, Django maps `%s` placeholders with a regex pass per call, named ones "
        "with one string format); (c) and (d) go through the ORM, as their libraries "
        "ship.",
        "",
        "### Scaling: ours at 1,000 to 1,000,000 stored keys",
        "",
        "A second throwaway database; each step bulk-inserts up to the count (copies of "
        "one service-made key's row with new digests; 1,000 presentable keys a step, the "
        "rest random digests, which the unique index treats alike), then `ANALYZE`, then "
        "ours and the floor take turns over the presentable keys after one warm-up pass "
        "(first use writes `last_used_at`). The API Keys page at 10, 100 and 1,000 keys "
        "is section 2.",
        "",
    ]
    header = ["Stored keys"]
    for vendor, _run in measured:
        header += [f"{VENDOR_NAMES[vendor]} ours µs", "floor µs", "ours p99 µs", "insert s"]
    rows = []
    for index, step in enumerate(first["scaling"]["rows"]):
        cells = [f"{step['stored']:,}"]
        for _vendor, run in measured:
            mine = run["scaling"]["rows"][index]
            cells += [
                us(mine["ours_median_us"]),
                us(mine["floor_median_us"]),
                us(mine["ours_p99_us"]),
                f"{mine['insert_s']:.1f}",
            ]
        rows.append(cells)
    lines += table(header, rows)
    lines.append("")
    for vendor, run in measured:
        steps = run["scaling"]["rows"]
        lines.append(
            f"- {VENDOR_NAMES[vendor]} ({run['scaling']['method']}): ours from "
            f"{us(steps[0]['ours_median_us'])} µs at {steps[0]['stored']:,} keys to "
            f"{us(steps[-1]['ours_median_us'])} µs at {steps[-1]['stored']:,}, "
            f"{ratio(steps[-1]['ours_median_us'] / steps[0]['ours_median_us'])}."
        )
    lines.append("")
    return [*lines, *(f"- {note}" for note in _missing(runs, "peers"))]


def _http_section(runs: dict) -> list[str]:
    measured = _measured(runs, "http")
    lines = ["## 5. Over HTTP: gunicorn on loopback, driven by wrk", ""]
    if not measured:
        return [*lines, *(f"- {note}" for note in _missing(runs, "http")), ""]
    first = measured[0][1]
    lines += [
        f"`bench_http.py`: gunicorn {first['gunicorn']} from `gunicorn.conf.py`, "
        f"{first['workers']} gevent workers on {first['cores']} cores (the default "
        "2 x cores + 1), `DJANGO_SETTINGS_MODULE=benchmarks.bench_settings`: the "
        "portal's settings with `benchmarks.urls_ceiling`, which adds the empty view "
        "`bench/empty` in front of the product's URLs, and the plain static-files storage "
        f"(no collectstatic manifest). {first['wrk']}, "
        f"`-t{first['threads']} -c{first['connections']} -d{first['seconds']}s` per row, "
        "on the same machine, so wrk and the server share the cores; gevent workers keep "
        "connections alive, as a proxy in front would. Before the rows, one probe of "
        "each checks its answer (200, 403, 201, 200). (b) sends the same small package "
        "with a key scoped to unlist only. (c) sends a "
        f"{kib(first['nupkg_bytes'])} package, every request a new version from "
        f"{first['push_bodies']:,} bodies built beforehand and loaded by the wrk Lua "
        "script, each thread its share. (d) carries the session cookie of a signed-in "
        f"user with {first['page_keys']} keys, the session made by "
        "`Client.force_login` in the server's database. “x ceiling” divides a row's "
        "requests/s by the empty view's.",
        "",
    ]
    header = ["Request"]
    for vendor, _run in measured:
        header += [f"{VENDOR_NAMES[vendor]} req/s", "p50 ms", "p99 ms", "non-2xx/3xx", "x ceiling"]
    rows = []
    for index, row in enumerate(first["rows"]):
        cells = [row["label"]]
        for _vendor, run in measured:
            mine = run["rows"][index]
            cells += [
                f"{mine['rps']:,.1f}",
                ms(mine["p50_us"] / 1000),
                ms(mine["p99_us"] / 1000),
                f"{mine['non_2xx_3xx']:,} of {mine['requests']:,}",
                ratio(mine["vs_ceiling"]),
            ]
        rows.append(cells)
    lines += table(header, rows, "l")
    lines.append("")
    for vendor, run in measured:
        lines.append(
            f"- {VENDOR_NAMES[vendor]}: (b)'s non-2xx answers are its 403s, by design; "
            f"files written for the refused package: {run['refused_files']}; versions "
            f"stored by (c) and its probe: {run['pushed_versions']:,}; tracebacks in the "
            f"server's log: {run['server_errors']}."
        )
    lines.append("")
    return [*lines, *(f"- {note}" for note in _missing(runs, "http"))]


def _read_section(runs: dict) -> list[str]:
    measured = _measured(runs, "read")
    lines = ["## Reads: downloads, version lists, registrations, minchoc side by side", ""]
    if not measured:
        return [*lines, *(f"- {note}" for note in _missing(runs, "read")), ""]
    first = measured[0][1]
    ours, targets = first["ours"], first["targets"]
    lines += [
        f"`bench_read.py`: gunicorn {first['gunicorn']} from `gunicorn.conf.py`, "
        f"{ours['workers']} gevent workers on {first['cores']} cores, the portal's own "
        "settings with `STATIC_ROOT` pointing at a folder that holds the same "
        f"{kib(ours['nupkg_bytes'])} `.nupkg` the feed serves, so whitenoise serves the "
        "ceiling from the same server. Downloads: wrk "
        f"`{first['wrk']}` per round, {first['download_rounds']} rounds taking turns "
        "(A B B A); the 304 row is one round with `If-None-Match`: the same lookup, no "
        "file sent, nothing counted. On PostgreSQL a worker answers that lookup from "
        "its memory once it has made it (`packages/stored_file_cache.py`, forgotten "
        "when the rows change); on SQLite every download makes it, in process. "
        "Latencies: a package of "
        f"{ours['versions']:,} versions, {first['latency_calls']} sequential requests "
        "per endpoint on one keep-alive connection after a warm-up, the endpoints "
        "taking turns; “client” is the loopback round trip (an upper bound), “server” "
        "gunicorn's access-log `%(D)s` for the same requests. The walk is the "
        "registration index and every page it links to: every version's metadata, "
        "what minchoc's `FindPackagesById()` answers in one response. minchoc runs in a "
        "Django project the script makes under `VAR_DIR` (startproject's apps and "
        "middleware plus minchoc), same gunicorn.conf.py but sync workers (its async "
        "views fail under gevent), same database vendor, the same package bytes and "
        "versions.",
        "",
    ]
    header = ["Downloads (wrk)"]
    for vendor, _run in measured:
        header += [f"{VENDOR_NAMES[vendor]} /s", "p50 ms", "p99 ms", "x ceiling"]
    labels = [
        ("ceiling", "whitenoise static file, the ceiling"),
        ("download", "ours: flat container `.nupkg`"),
        ("not_modified", "ours: the same, 304 (not counted)"),
        ("minchoc", "minchoc: `package/{id}/{version}`"),
    ]
    rows = []
    for row_id, label in labels:
        cells = [label]
        for _vendor, run in measured:
            if row_id == "minchoc":
                row = run["minchoc"].get("downloads")
            else:
                row = run["ours"]["downloads"].get(row_id)
            if row is None:
                cells += ["n/a"] * 4
                continue
            ceiling = run["ours"]["downloads"]["ceiling"]["rps"]
            cells += [
                f"{row['rps']:,.1f}",
                ms(row["p50_ms"]),
                ms(row["p99_ms"]),
                ratio(row["rps"] / ceiling),
            ]
        rows.append(cells)
    lines += [*table(header, rows, "l"), ""]
    header = [f"{ours['versions']:,} versions"]
    for vendor, _run in measured:
        header += [f"{VENDOR_NAMES[vendor]} client p50 ms", "p99", "server p50 ms", "p99"]
    rows = []
    for row_id, row in ours["latency"].items():
        cells = [f"`{row['path']}` ({kib(row['bytes'])})"]
        for _vendor, run in measured:
            mine = run["ours"]["latency"][row_id]
            cells += [
                ms(mine["client_p50_ms"]),
                ms(mine["client_p99_ms"]),
                ms(mine.get("server_p50_ms", float("nan"))),
                ms(mine.get("server_p99_ms", float("nan"))),
            ]
        rows.append(cells)
    walk = ours["walk"]
    cells = [f"ours: the walk, {walk['requests']} requests ({kib(walk['bytes'])}), median"]
    for _vendor, run in measured:
        mine = run["ours"]["walk"]
        cells += [ms(mine["median_ms"]), "-", ms(mine["server_ms_per_walk"]), "-"]
    rows.append(cells)
    cells = ["minchoc: `FindPackagesById()`, median"]
    for _vendor, run in measured:
        find = run["minchoc"].get("find")
        if find is not None and "at_least_ms" in find:
            cells += [f"> {ms(find['at_least_ms'])}", "-", "timed out", "-"]
            continue
        if find is None or "error" in find:
            cells += ["n/a"] * 4
            continue
        cells += [
            ms(find["median_ms"]),
            "-",
            ms(find.get("server_p50_ms", float("nan"))),
            f"n={find['calls']}",
        ]
    rows.append(cells)
    lines += [*table(header, rows, "l"), ""]
    lines.append("Targets (the machine's load average weighs on every figure; see below):")
    lines.append("")
    for vendor, run in measured:
        mine, name = run["ours"], VENDOR_NAMES[vendor]
        reached = mine["downloads"]["vs_ceiling"] >= targets["download_vs_ceiling"]
        met = "**met**" if reached else "**not met**"
        lines.append(
            f"- {name}: downloads at {ratio(mine['downloads']['vs_ceiling'])} of the ceiling "
            f"(target {targets['download_vs_ceiling']}x): {met}."
        )
        for row in mine["latency"].values():
            lines.append(
                f"- {name}: `{row['path']}` server p99 {ms(row.get('server_p99_ms', 0))} ms "
                f"(target {targets['server_p99_ms']} ms): "
                + ("**met**." if row["met"] else "**not met**.")
            )
        peer = run["minchoc"]
        if "error" in peer:
            lines.append(f"- {name}: minchoc not measured: {peer['error'].splitlines()[0]}")
        else:
            wanted = targets["vs_minchoc"]
            if "at_least_ms" in peer["find"]:
                lines.append(f"- {name}: minchoc's {peer['find']['error']}.")
            for key, what in (
                ("downloads", "downloads per second"),
                ("walk", "every version's metadata (our walk against FindPackagesById())"),
                ("flat_index", "the version list (our index.json p50 against it)"),
            ):
                value = peer["vs_ours"].get(key)
                bound = key != "downloads" and "at_least_ms" in peer["find"]
                if value is None:
                    lines.append(
                        f"- {name}: {what}: not measured: {peer['find']['error'].splitlines()[0]}"
                    )
                    continue
                lines.append(
                    f"- {name}: ours against minchoc {peer['version']}, {what}: "
                    + ("at least " if bound else "")
                    + f"{ratio(value)} (target {wanted}x): "
                    + ("**met**." if value >= wanted else "**not met**.")
                )
    lines.append("")
    for vendor, run in measured:
        mine, name = run["ours"], VENDOR_NAMES[vendor]
        restore = mine["restore"]
        if "skipped" in restore:
            told = f"nuget.exe install {restore['skipped']}"
        else:
            told = (
                f"`nuget.exe install Demo.App` (5.8 on Mono, empty cache) took "
                f"{restore['seconds']:.1f} s, exit code {restore['exit_code']}, installed "
                f"{', '.join(restore['installed']) or 'nothing'}"
            )
        peer = run["minchoc"]
        worker = ""
        if "worker_class" in peer:
            worker = f"; minchoc ran under {peer['worker_class']} workers"
        lines.append(
            f"- {name}: {told}; downloads counted {mine['downloads']['counted']:,} for "
            f"{mine['downloads'].get('served', 0):,} that wrk and the probe saw completed; "
            f"tracebacks in our log {mine['server_errors']}, in minchoc's "
            f"{peer.get('server_errors', 'n/a')}{worker}; load average "
            f"{run['load_average'][0]} at the start, {run['load_average_end'][0]} at the end."
        )
    lines.append("")
    return [*lines, *(f"- {note}" for note in _missing(runs, "read"))]


def _search_section(runs: dict) -> list[str]:
    lines = [
        "## Search at 100,000 packages",
        "",
        "`bench_search.py`: gunicorn as `gunicorn.conf.py` starts it, the search API "
        "through HTTP, each kind from a pool of different inputs; p50 and p99 per kind. "
        "Each request on a connection of its own, so on a new database connection too: "
        "the target's figures. Taking turns with them, the same requests on one kept "
        "connection, as NuGet's and Visual Studio's HttpClient and the README's nginx "
        "send them: “kept”.",
        "",
    ]
    for vendor, run in _measured(runs, "search"):
        rows = [
            [row["kind"], f"`{row['example']}`", f"{row['example_total_hits']:,}",
             ms(row["p50_ms"]), ms(row["p99_ms"]), "met" if row["met"] else "**not met**",
             ms(row["kept_p50_ms"]), ms(row["kept_p99_ms"])]
            for row in run["rows"]
        ]  # fmt: skip
        header = ["Kind", "Example", "hits", "p50 ms", "p99 ms", "target"]
        lines += [
            f"{VENDOR_NAMES[vendor]}, {run['packages']:,} packages, target p99 at most "
            f"{run['target_p99_ms']} ms:",
            "",
            *table([*header, "kept p50 ms", "p99 ms"], rows, "llr"),
            "",
        ]
    return [*lines, *(f"- {note}" for note in _missing(runs, "search"))]


def _gallery_section(runs: dict) -> list[str]:
    lines = [
        "## Gallery pages at 100,000 packages",
        "",
        "`bench_gallery.py`: server time (gunicorn's access log) of `/packages?q=` and of "
        "a package page with 1,000 versions and a 100 KB readme (rendered once, then "
        "from the cache).",
        "",
    ]
    for vendor, run in _measured(runs, "gallery"):
        rows = [
            [row["kind"], ms(row["server_p50_ms"]), ms(row["server_p99_ms"]),
             str(row["queries"]), "met" if row["met"] else "**not met**"]
            for row in run["rows"]
        ]  # fmt: skip
        lines += [
            f"{VENDOR_NAMES[vendor]}, target p99 at most {run['target_p99_ms']} ms; the "
            f"first view of the big package (its readme rendered): "
            f"{ms(run['first_view_server_ms'])} ms:",
            "",
            *table(["Page", "server p50 ms", "p99 ms", "queries", "target"], rows, "l"),
            "",
        ]
    return [*lines, *(f"- {note}" for note in _missing(runs, "gallery"))]


def _s3_section(runs: dict) -> list[str]:
    lines = ["## Package files in S3 (moto's server)", ""]

    def rates(figures: dict) -> str:
        return ", ".join(
            f"{name.replace('_', ' ')} {value:,.0f}/s" for name, value in figures.items()
        )

    for vendor, run in _measured(runs, "s3"):
        downloads, pushes = rates(run["downloads_per_second"]), rates(run["pushes_per_second"])
        lines += [f"- {VENDOR_NAMES[vendor]}: downloads {downloads}; pushes {pushes}."]
    if not _measured(runs, "s3"):
        lines += ["- not run."]
    return lines


def _cpu_reference(runs: dict) -> list[str]:
    """How fast this machine's CPU is, from a row that is a loop in C: the PBKDF2
    verify of section 1 on SQLite. Figures in milliseconds move with it, ratios
    much less; compare it before comparing two runs' absolute figures."""
    run = runs.get(("keycheck", "sqlite"))
    if not run or "error" in run:
        return []
    rows = {row["id"]: row for row in run["rows"]}
    if "pbkdf2" not in rows:
        return []
    iterations = run["hashers"]["pbkdf2"]["iterations"]
    return [
        f"- CPU reference: one PBKDF2-SHA256 verify of {iterations:,} iterations (section 1, "
        f"row (e), SQLite) took {rows['pbkdf2']['median_us'] / 1000:,.0f} ms; absolute "
        "figures of runs on other machines compare through it, ratios hardly move"
    ]


def _machine_section(runs: dict, command: str) -> list[str]:
    import django

    ordered = _ordered(runs)
    versions = {vendor: None for vendor in VENDORS}
    for run in ordered:
        if "error" not in run and "database" in run:
            versions[run["vendor"]] = run["database"]["version"]
    try:
        import psycopg

        psycopg_version = psycopg.__version__
    except ImportError:
        psycopg_version = "not installed"
    loads = ", ".join(
        f"{run['benchmark']} on {VENDOR_NAMES[run['vendor']]} {run['load_average'][0]}"
        for run in ordered
        if "error" not in run and "load_average" in run
    )
    return [
        "## Machine",
        "",
        f"- CPU: {cpu_model()}, {os.cpu_count()} cores",
        f"- OS: {platform.platform()}",
        f"- Python {platform.python_version()}, Django {django.__version__}, "
        f"psycopg {psycopg_version}",
        f"- SQLite {versions['sqlite'] or sqlite3.sqlite_version}, "
        f"PostgreSQL {versions['postgresql'] or 'not measured'}",
        *_cpu_reference(runs),
        f"- Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Command: `{command}`",
        f"- One-minute load average as each run started: {loads}. Other work on the "
        "machine shows up as noise, mostly in the p99 and max columns.",
        "",
        "The runs, one process per benchmark and database, each on a fresh migrated database:",
        "",
        *(f"    {run['command']}" for run in ordered if "command" in run),
        "",
    ]


def report(directory: Path, command: str) -> str:
    runs = _load(directory)
    lines = [
        "# Benchmarks",
        "",
        f"Written by `{command}`; every figure below comes from that run.",
        "",
        *_keycheck_section(runs),
        "",
        *_page_section(runs),
        "",
        *_push_section(runs),
        "",
        *_peers_section(runs),
        "",
        *_http_section(runs),
        "",
        *_read_section(runs),
        "",
        *_search_section(runs),
        "",
        *_gallery_section(runs),
        "",
        *_s3_section(runs),
        "",
        *_machine_section(runs, command),
    ]
    return "\n".join(lines).rstrip() + "\n"


def main() -> None:
    arguments = argparse.ArgumentParser(description="Merge benchmark JSON into one report.")
    arguments.add_argument("directory", type=Path, help="where the scripts wrote their JSON")
    arguments.add_argument("output", type=Path, help="the Markdown file to write")
    arguments.add_argument("--command", default="make bench", help="how the run was started")
    options = arguments.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    text = report(options.directory, options.command)
    options.output.write_text(text)
    print(text)
    print(f"Written to {options.output}")


if __name__ == "__main__":
    main()
