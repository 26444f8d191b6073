"""The events admin at a million events, on the database DATABASE_URL selects.

Loads 1,000,000 events (``--events`` changes it) into a throwaway database, then times
the events changelist through ``django.test.Client`` with a signed-in superuser: the
first page, a deep page, kind filters, searches and date-hierarchy levels, each with
its query count and whether any query counted rows. Then the CSV export of every
event: rows per second and the process's peak RSS before and after, which stays
flat when the export streams. For comparison, it also times the whole-table queries
the stock changelist would run (COUNT(*), the date hierarchy's DISTINCT, and an
``icontains`` search).

"SQL" is the time spent inside ``cursor.execute`` for one request. SQLite does most
of a query's work later, while rows are fetched, so there it reads low; the median
is the figure to compare.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal \\
        .venv/bin/python -m benchmarks.bench_events_admin
    DATABASE_URL= .venv/bin/python -m benchmarks.bench_events_admin --events 200000

PostgreSQL gets a database named ``portal_bench_events`` on the server DATABASE_URL
names (the database in the URL is not touched), SQLite a file under VAR_DIR; either
is dropped afterwards. ``--suggested-indexes`` adds the indexes the searches could
use (ip, package ID, key hint, actor username) to show what they would change.
``--json`` writes the figures; this benchmark is not part of ``make bench`` and its
report.
"""

import json
import random
import re
import resource
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

if not __package__:  # run as a file: python benchmarks/bench_events_admin.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import common

POSTGRES_DATABASE = "portal_bench_events"
EVENTS = 1_000_000
USERS = 1_000
IPS = 5_000
PACKAGES = 2_000
KEYS = 3_000
SPAN = timedelta(days=730)
END = datetime(2025, 6, 30, tzinfo=UTC)
BATCH = 10_000
REQUESTS = 10
WARMUP = 2
URL = "/admin/audit/event/"
EXPORT_URL = "/admin/audit/event/export.csv"
# (kind, weight): mostly pushes, sign-ins and refused keys, a few of everything else.
KINDS = [
    ("package:pushed", 30), ("user:signed_in", 25), ("api_key:auth_failed", 20),
    ("package:refused", 5), ("user:sign_in_failed", 5), ("user:signed_out", 5),
    ("api_key:created", 3), ("package:unlisted", 2), ("api_key:revoked", 2),
    ("api_key:expiry_notice", 2), ("user:mfa_activated", 1),
]  # fmt: skip
COLUMNS = ["kind", "occurred_at", "actor_id", "actor_username", "subject_user_id",
           "api_key_id", "api_key_hint", "package_id", "package_version", "ip", "user_agent",
           "details"]  # fmt: skip
_CHANGE_LINK = re.compile(rb"/admin/audit/event/\d+/change/")


class BenchmarkError(RuntimeError):
    """A page did not show what it was meant to: the figure would be a lie."""


# --- The database -------------------------------------------------------------------


def make_users():
    from django.contrib.auth import get_user_model

    User = get_user_model()
    users = [User(username=f"user{i:04d}", email=f"user{i:04d}@example.com") for i in range(USERS)]
    for user in users:
        user.set_unusable_password()
    User.objects.bulk_create(users, batch_size=BATCH)
    root = User(username="root", email="root@example.com", is_staff=True, is_superuser=True)
    root.set_unusable_password()
    root.save()
    return root, dict(
        User.objects.filter(username__startswith="user").values_list("pk", "username")
    )


def event_rows(count: int, users: dict[int, str]):
    """``count`` events, oldest first, spread evenly over SPAN; the same on every run."""
    from django.db import connection

    rng = random.Random(20250630)  # noqa: S311 -- test data, the same on every run
    ops = connection.ops
    ips = [f"10.0.{n // 250}.{n % 250 + 1}" for n in range(IPS)]
    user_ids = sorted(users)
    kinds = [kind for kind, _ in KINDS]
    weights = [weight for _, weight in KINDS]
    start = END - SPAN
    step = SPAN / count
    for i in range(count):
        kind = rng.choices(kinds, weights)[0]
        user_id = rng.choice(user_ids)
        anonymous = kind in ("api_key:auth_failed", "user:sign_in_failed")
        package = kind.startswith("package:")
        keyed = package or kind.startswith("api_key:")
        agent = "NuGet Command Line/6.9.1 (Linux)" if keyed else "Mozilla/5.0 (X11; Linux)"
        yield (
            kind,
            ops.adapt_datetimefield_value(start + step * i),
            None if anonymous else user_id,
            "" if anonymous else users[user_id],
            user_id,
            rng.randrange(1, KEYS) if keyed else None,
            f"ngk_…{rng.randrange(KEYS):04d}" if keyed else "",
            f"Contoso.Lib{rng.randrange(PACKAGES):04d}" if package else "",
            f"1.{rng.randrange(20)}.0" if package else "",
            ops.adapt_ipaddressfield_value(rng.choice(ips)),
            # One in a thousand user agents is a formula, for the export to defuse.
            "=cmd|' /C calc'!A0" if i % 1000 == 999 else agent,
            json.dumps({"reason": "bad key"} if anonymous else {}),
        )  # fmt: skip


def load_events(count: int, users: dict[int, str]) -> float:
    """Insert the events in batches (COPY on PostgreSQL); returns seconds taken."""
    from django.db import connection, transaction

    began = time.perf_counter()
    rows = event_rows(count, users)
    columns = ", ".join(f'"{c}"' for c in COLUMNS)
    if connection.vendor == "postgresql":
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY audit_event ({columns}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
    else:
        placeholders = ", ".join(["%s"] * len(COLUMNS))
        # Our own constant column names; the values go as parameters.
        sql = f"INSERT INTO audit_event ({columns}) VALUES ({placeholders})"  # noqa: S608
        batch = []
        with transaction.atomic(), connection.cursor() as cursor:
            for row in rows:
                batch.append(row)
                if len(batch) == BATCH:
                    cursor.executemany(sql, batch)
                    batch = []
            if batch:
                cursor.executemany(sql, batch)
    return time.perf_counter() - began


def add_suggested_indexes() -> None:
    """The indexes the search could use, as the audit model might declare them."""
    from django.db import connection

    statements = [
        'CREATE INDEX audit_event_ip_idx ON audit_event ("ip", "occurred_at" DESC)',
        "CREATE INDEX audit_event_package_idx "
        'ON audit_event (LOWER("package_id"), "occurred_at" DESC)',
        'CREATE INDEX audit_event_key_hint_idx ON audit_event ("api_key_hint")',
        'CREATE INDEX audit_event_actor_name_idx ON audit_event ("actor_username")',
    ]
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def freshen_statistics() -> None:
    """Planner statistics (and, on PostgreSQL, the visibility map) as autovacuum keeps them."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE audit_event")
            cursor.execute("ANALYZE")
    else:
        common.analyze()


# --- Measuring ----------------------------------------------------------------------


def scenarios(count: int, users: dict[int, str]) -> list[tuple[str, dict]]:
    from audit.models import Event

    # An address from the middle of the log (ids count up from 1 in the fresh table),
    # and a package that occurs in it.
    pushes = Event.objects.filter(pk__gte=count // 2, kind="package:pushed")
    ip = pushes.values_list("ip", flat=True).first() or "10.0.0.1"
    package = Event.objects.exclude(package_id="").values_list("package_id", flat=True).first()
    month = (END - SPAN / 2).astimezone(UTC)
    username = users[sorted(users)[42]]
    return [
        ("first page", {}),
        ("page 50", {"p": 50}),
        ("kind: package:pushed (30%)", {"kind__exact": "package:pushed"}),
        ("kind: user:mfa_activated (1%)", {"kind__exact": "user:mfa_activated"}),
        ("date hierarchy: one year", {"occurred_at__year": month.year}),
        ("date hierarchy: one month",
         {"occurred_at__year": month.year, "occurred_at__month": month.month}),
        ("date hierarchy: one day",
         {"occurred_at__year": month.year, "occurred_at__month": month.month,
          "occurred_at__day": month.day}),
        ("search: IP present", {"q": ip}),
        ("search: IP absent", {"q": "192.0.2.1"}),
        ("search: user name", {"q": username}),
        ("search: package ID", {"q": (package or "Contoso.Lib0001").lower()}),
        ("kind + search: IP", {"kind__exact": "package:pushed", "q": ip}),
    ]  # fmt: skip


def measure_pages(client, cases: list[tuple[str, dict]]) -> list[dict]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def getter(params):
        def get(_):
            response = client.get(URL, params)
            if response.status_code != 200:
                raise BenchmarkError(f"GET {URL} {params} answered {response.status_code}")
            return response

        return get

    gets = [getter(params) for _, params in cases]
    for get in gets:
        common.warm_up(get, [None], WARMUP)
    samples = [[] for _ in cases]
    # The rows take turns, request by request, so that other load weighs on all alike.
    for _ in range(REQUESTS):
        for index, get in enumerate(gets):
            samples[index] += common.sample(get, [None], calls=1)
    rows = []
    for (label, params), get, taken in zip(cases, gets, samples, strict=True):
        timing = common.summarize(taken)
        timer = common.QueryTimer()
        with connection.execute_wrapper(timer), CaptureQueriesContext(connection) as captured:
            response = get(None)
        sql = [query["sql"] for query in captured]
        shown = len(set(_CHANGE_LINK.findall(response.content)))
        row = {
            "label": label,
            "params": params,
            "median_ms": timing.median_us / 1000,
            "max_ms": timing.max_us / 1000,
            "requests": timing.calls,
            "queries": len(sql),
            "event_queries": sum('"audit_event"' in s for s in sql),
            "counts": sum("COUNT(" in s.upper() for s in sql),
            "sql_ms": timer.ns / 1e6,
            "shown": shown,
        }
        rows.append(row)
        print(
            f"  {label:<32} median {common.ms(row['median_ms']):>7} ms  "
            f"max {common.ms(row['max_ms']):>7} ms  SQL {common.ms(row['sql_ms']):>7} ms  "
            f"{row['queries']:>2} queries ({row['event_queries']} on events, "
            f"{row['counts']} COUNT)  {shown} rows shown",
            flush=True,
        )
    return rows


def measure_stock_queries() -> dict:
    """What the stock changelist would add per page load: the whole-table reads."""
    from audit.models import Event

    def best_of(fn, runs=3):
        times = []
        for _ in range(runs):
            began = time.perf_counter()
            fn()
            times.append((time.perf_counter() - began) * 1000)
        return statistics.median(times)

    figures = {
        "count_ms": best_of(lambda: Event.objects.count()),
        "distinct_years_ms": best_of(lambda: list(Event.objects.datetimes("occurred_at", "year"))),
        "search_icontains_ms": best_of(
            lambda: list(
                Event.objects.filter(ip__icontains="192.0.2.1")
                .order_by("-occurred_at", "-id")
                .values_list("id")[:101]
            )
        ),
    }
    print(
        f"  stock, for comparison: COUNT(*) {common.ms(figures['count_ms'])} ms, "
        f"DISTINCT years {common.ms(figures['distinct_years_ms'])} ms, "
        f"icontains search (absent IP) {common.ms(figures['search_icontains_ms'])} ms",
        flush=True,
    )
    return figures


def peak_rss_kib() -> int:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def measure_export(client, params: dict, label: str) -> dict:
    before = peak_rss_kib()
    began = time.perf_counter()
    response = client.get(EXPORT_URL, params)
    if response.status_code != 200 or not response.streaming:
        raise BenchmarkError(f"GET {EXPORT_URL} answered {response.status_code}")
    first_byte = None
    size = lines = formulas = 0
    for chunk in response.streaming_content:
        if first_byte is None:
            first_byte = time.perf_counter() - began
        size += len(chunk)
        lines += chunk.count(b"\r\n")
        formulas += chunk.count(b",'=cmd")
    response.close()
    seconds = time.perf_counter() - began
    rows = lines - 1
    figures = {
        "label": label,
        "rows": rows,
        "seconds": seconds,
        "first_byte_ms": (first_byte or 0) * 1000,
        "rows_per_s": rows / seconds if seconds else 0,
        "mib": size / 2**20,
        "peak_rss_before_mib": before / 1024,
        "peak_rss_after_mib": peak_rss_kib() / 1024,
        "formulas_defused": formulas,
    }
    print(
        f"  export {label:<18} {rows:>9,} rows in {seconds:6.1f} s = "
        f"{figures['rows_per_s']:>9,.0f} rows/s, {figures['mib']:,.0f} MiB, first byte "
        f"{common.ms(figures['first_byte_ms'])} ms; peak RSS "
        f"{figures['peak_rss_before_mib']:,.0f} -> {figures['peak_rss_after_mib']:,.0f} MiB",
        flush=True,
    )
    return figures


def measure(count: int, suggested_indexes: bool) -> dict:
    from django.test import Client

    root, users = make_users()
    print(f"  loading {count:,} events ...", flush=True)
    load_seconds = load_events(count, users)
    if suggested_indexes:
        add_suggested_indexes()
    freshen_statistics()
    print(
        f"  loaded in {load_seconds:.1f} s ({count / load_seconds:,.0f} events/s); "
        f"peak RSS {peak_rss_kib() / 1024:,.0f} MiB",
        flush=True,
    )
    client = Client()
    client.force_login(root)
    pages = measure_pages(client, scenarios(count, users))
    stock = measure_stock_queries()
    exports = [
        measure_export(client, {}, "(everything)"),
        measure_export(client, {"kind__exact": "user:mfa_activated"}, "(1% by kind)"),
    ]
    return {
        "events": count,
        "load_seconds": load_seconds,
        "suggested_indexes": suggested_indexes,
        "requests": REQUESTS,
        "warmup": WARMUP,
        "pages": pages,
        "stock": stock,
        "exports": exports,
    }


def main() -> None:
    options = common.parser(__doc__.splitlines()[0])
    options.add_argument("--events", type=int, default=EVENTS, help="how many events to load")
    options.add_argument(
        "--suggested-indexes",
        action="store_true",
        help="add the indexes the searches could use, to see what they change",
    )
    options = options.parse_args()
    common.setup_django()
    from django.db import connection

    print(f"Events admin on {common.VENDOR_NAMES[connection.vendor]}:", flush=True)
    figures = common.measure_on_throwaway_database(
        "events_admin",
        lambda: measure(options.events, options.suggested_indexes),
        options.json,
        postgres_name=POSTGRES_DATABASE,
        sqlite_prefix="bench-events",
    )
    if figures is not None:
        common.write_json(options.json, figures)


if __name__ == "__main__":
    main()
