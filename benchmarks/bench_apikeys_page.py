"""What the API Keys page costs to render, on the database DATABASE_URL selects.

``GET /account/apikeys`` for a signed-in, confirmed user with 10, 100 and 1,000 keys
and 2,000 owned packages (every package is a checkbox of the Create form), and
without packages, which tells the two costs apart.

    DATABASE_URL= python -m benchmarks.bench_apikeys_page --json var/bench/page-sqlite.json

``make bench`` runs it on SQLite and PostgreSQL and merges the figures.
"""

import gzip
import re
from datetime import timedelta

from benchmarks import common

PACKAGES = 2_000
# (keys, packages) per row. The rows without packages tell the two costs apart.
SCENARIOS = [(10, 0), (10, PACKAGES), (100, PACKAGES), (1_000, PACKAGES), (1_000, 0)]
REQUESTS = 20
WARMUP = 2
URL = "/account/apikeys"
_TABLE = re.compile(r'\b(?:FROM|UPDATE|INTO)\s+"?(\w+)"?', re.IGNORECASE)


class BenchmarkError(RuntimeError):
    """The page did not show what it was meant to: the figure would be a lie."""


def populate() -> list[tuple[object, int, int]]:
    """One user per scenario, with their keys and packages; returns (user, keys, packages)."""
    from allauth.account.models import EmailAddress
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from apikeys import keys
    from apikeys.models import ApiKey, RevocationSource
    from apikeys.scopes import Action
    from packages.models import Package

    Package.objects.bulk_create(
        Package(name=f"Contoso.{area}.Lib{i:04d}")
        for i, area in zip(
            range(PACKAGES), ["Core", "Web", "Data", "Tools"] * PACKAGES, strict=False
        )
    )
    packages = list(Package.objects.order_by("id").values_list("id", "name"))
    names = [name for _, name in packages]
    scopes = [[Action.PUSH.value], [Action.PUSH_VERSION.value, Action.UNLIST.value]]
    now = timezone.now()
    users = []
    for number, (key_count, package_count) in enumerate(SCENARIOS):
        user = get_user_model().objects.create_user(
            username=f"owner{number}", email=f"owner{number}@example.com"
        )
        EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
        Package.owners.through.objects.bulk_create(
            (
                Package.owners.through(package_id=package_id, user_id=user.pk)
                for package_id, _ in packages[:package_count]
            ),
            batch_size=1_000,
        )
        owned = names[:package_count]
        rows = []
        for i in range(key_count):
            value = keys.generate()
            # A realistic mix: most keys list a few packages, some use a glob, one in
            # ten has expired, one in twenty is revoked, half have been used.
            picked = [owned[(i * 7 + j) % len(owned)] for j in range(5)] if owned else []
            created = now - timedelta(hours=i)
            expired = i % 10 == 9
            revoked = i % 20 == 3
            rows.append(
                ApiKey(
                    owner=user,
                    name=f"CI key {i}",
                    digest=keys.digests(value)[0],
                    hint=keys.hint(value),
                    actions=scopes[i % 2],
                    package_ids=picked if i % 3 else [],
                    globs=[] if picked and i % 3 else ["Contoso.Core.*"],
                    created_at=created,
                    expires_at=now - timedelta(days=1) if expired else now + timedelta(days=90),
                    expiration_days=90,
                    last_used_at=created + timedelta(minutes=5) if i % 2 else None,
                    revoked_at=now if revoked else None,
                    revoked_by=user if revoked else None,
                    revocation_source=RevocationSource.USER if revoked else "",
                )
            )
        ApiKey.objects.bulk_create(rows, batch_size=1_000)
        users.append((user, key_count, package_count))
    common.analyze()
    return users


def measure() -> dict:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    pages = []
    for user, key_count, package_count in populate():
        client = Client()
        client.force_login(user)
        pages.append((_getter(client), key_count, package_count))
    # The rows take turns, request by request, so that other work on the machine
    # weighs on all of them alike.
    for get, _, _ in pages:
        common.warm_up(get, [None], WARMUP)
    samples = [[] for _ in pages]
    for _ in range(REQUESTS):
        for index, (get, _, _) in enumerate(pages):
            samples[index] += common.sample(get, [None], calls=1)

    rows = []
    query_kinds = ""
    for (get, key_count, package_count), taken in zip(pages, samples, strict=True):
        timing = common.summarize(taken)
        timer = common.QueryTimer()
        with connection.execute_wrapper(timer), CaptureQueriesContext(connection) as captured:
            html = get(None).content
        shown_keys = html.count(b'<li class="key')
        shown_packages = html.count(b"data-package-choice")
        if (shown_keys, shown_packages) != (key_count, package_count):
            raise BenchmarkError(
                f"the page shows {shown_keys} keys and {shown_packages} packages, "
                f"not {key_count} and {package_count}"
            )
        row = {
            "keys": key_count,
            "packages": package_count,
            "median_ms": timing.median_us / 1000,
            "max_ms": timing.max_us / 1000,
            "requests": timing.calls,
            "queries": len(captured),
            "sql_ms": timer.ns / 1e6,
            "bytes": len(html),
            "gzip_bytes": len(gzip.compress(html)),
        }
        rows.append(row)
        query_kinds = ", ".join(_describe(query["sql"]) for query in captured)
        print(
            f"  {key_count:>5,} keys, {package_count:>5,} packages: "
            f"median {common.ms(row['median_ms']):>7} ms  max {common.ms(row['max_ms']):>7} ms  "
            f"SQL {common.ms(row['sql_ms'])} ms in {row['queries']} queries  "
            f"{common.kib(row['bytes'])} ({common.kib(row['gzip_bytes'])} gzipped)",
            flush=True,
        )
    return {"requests": REQUESTS, "warmup": WARMUP, "rows": rows, "query_kinds": query_kinds}


def _getter(client):
    def get(_):
        response = client.get(URL)
        if response.status_code != 200:
            raise BenchmarkError(f"GET {URL} answered {response.status_code}")
        return response

    return get


def _describe(sql: str) -> str:
    verb = sql.lstrip().split(None, 1)[0].upper()
    table = _TABLE.search(sql)
    return f"{verb} {table.group(1)}" if table else verb


def main() -> None:
    options = common.parser(__doc__.splitlines()[0]).parse_args()
    common.setup_django()
    from django.db import connection

    print(f"API Keys page on {common.VENDOR_NAMES[connection.vendor]}:", flush=True)
    figures = common.measure_on_throwaway_database("apikeys_page", measure, options.json)
    if figures is not None:
        common.write_json(options.json, figures)


if __name__ == "__main__":
    main()
