"""Our key check against other ways of checking an API key, on one database.

1. With 10,000 stored keys of each kind, in the same run and database: ours
   (``authenticate`` + ``Grant.allows``), djangorestframework-api-key 3.x
   (``APIKey.objects.is_valid``), django-rest-knox
   (``TokenAuthentication.authenticate_credentials``, also for a user with 100
   tokens), a nuget.org-V4-style check (lookup by the key's ID part, then
   PBKDF2-HMAC-SHA256 with 10,000 iterations) and the floor: one primary-key
   lookup through a raw cursor.
2. Scaling: ours and the floor with 1,000, 100,000 and 1,000,000 stored keys.

The peers come from the ``bench`` extra (``pip install -e '.[bench]'``); the
settings are ``benchmarks.peers_settings``, the portal's plus the peers' apps.

    DATABASE_URL= python -m benchmarks.bench_peers --json var/bench/peers-sqlite.json

``make bench`` runs it on SQLite and PostgreSQL and merges the figures.
"""

import hashlib
import hmac
import os
import secrets
import time

from benchmarks import common

# The same stored keys, pool and rounds as bench_keycheck: compare() stores ours with
# its populate() and steps through every kind of key alike.
from benchmarks.bench_keycheck import (
    FLOOR_TARGET,
    POOL,
    ROUNDS,
    STORED_KEYS,
    BenchmarkError,
    Series,
    ours_check,
)

# nuget.org's V4 keys: PBKDF2-HMAC-SHA256 with 10,000 iterations per check.
V4_ITERATIONS = 10_000
V4_CALLS = 100
# Only the keys a V4 check is timed on need their real (slow) hash; the other
# rows get random bytes of the same shape, which the lookup treats alike.
V4_REAL = 20
KNOX_MANY = 100
SCALE_STEPS = (1_000, 100_000, 1_000_000)
SCALE_REAL = 1_000
SCALE_CALLS = 3_000
SCALE_BATCH = 50_000
POSTGRES_DATABASE = "portal_bench_peers"
POSTGRES_SCALE_DATABASE = "portal_bench_scale"
# Named parameters, as authenticate() sends them: on SQLite, Django maps them
# with one string format, where "%s" costs a regex pass per call.
FLOOR_SQL = "SELECT id FROM apikeys_apikey WHERE id = %(id)s"
V4_TABLE = "bench_v4key"
V4_SQL = f"SELECT salt, hash FROM {V4_TABLE} WHERE id = %(id)s"  # noqa: S608
TARGETS = {
    # Peer id: how many times slower than ours it should be, at least.
    "drf_api_key": 5,
    "knox": 10,
    "v4_pbkdf2": 60,
}


# --- The stored keys --------------------------------------------------------------


def _populate_drf_api_key() -> list[str]:
    from rest_framework_api_key.crypto import KeyGenerator, concatenate
    from rest_framework_api_key.models import APIKey

    generator = KeyGenerator()
    rows, values = [], []
    for i in range(STORED_KEYS):
        value, prefix, hashed = generator.generate()
        values.append(value)
        # The id APIKeyManager.assign_key would give it: prefix.hashed_key.
        rows.append(
            APIKey(id=concatenate(prefix, hashed), prefix=prefix, hashed_key=hashed, name=f"k{i}")
        )
    APIKey.objects.bulk_create(rows, batch_size=1_000)
    return values


def _knox_token(user, now):
    from knox.crypto import create_token_string, hash_token
    from knox.models import AuthToken
    from knox.settings import CONSTANTS, knox_settings

    token = create_token_string()
    row = AuthToken(
        digest=hash_token(token),
        token_key=token[: CONSTANTS.TOKEN_KEY_LENGTH],
        user=user,
        expiry=now + knox_settings.TOKEN_TTL,
    )
    return row, token


def _populate_knox() -> tuple[list[str], list[str]]:
    """STORED_KEYS tokens: one user with KNOX_MANY, the rest one per user; returns
    (tokens of one-token users, tokens of the many-token user)."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone
    from knox.models import AuthToken

    user_model = get_user_model()
    now = timezone.now()
    singles = STORED_KEYS - KNOX_MANY
    users = user_model.objects.bulk_create(
        (user_model(username=f"knox{i}", email=f"knox{i}@example.com") for i in range(singles)),
        batch_size=1_000,
    )
    if users[0].pk is None:  # backends that do not return primary keys from bulk_create
        users = list(user_model.objects.filter(username__startswith="knox").order_by("pk"))
    many = user_model.objects.create_user(username="knoxmany", email="knoxmany@example.com")
    single_rows = [_knox_token(user, now) for user in users]
    many_rows = [_knox_token(many, now) for _ in range(KNOX_MANY)]
    AuthToken.objects.bulk_create([row for row, _ in single_rows + many_rows], batch_size=1_000)
    return [token for _, token in single_rows], [token for _, token in many_rows]


def _populate_v4() -> list[str]:
    """A table as nuget.org's V4 keys are kept: an ID part, a salt and a PBKDF2 hash."""
    from django.db import connection

    blob = "BYTEA" if connection.vendor == "postgresql" else "BLOB"
    values, rows = [], []
    for key_id in range(1, STORED_KEYS + 1):
        secret = secrets.token_urlsafe(24)
        salt = secrets.token_bytes(16)
        if key_id <= V4_REAL:
            digest = hashlib.pbkdf2_hmac("sha256", secret.encode(), salt, V4_ITERATIONS)
            values.append(f"{key_id}.{secret}")
        else:
            digest = secrets.token_bytes(32)
        rows.append((key_id, salt, digest))
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {V4_TABLE} (id BIGINT PRIMARY KEY, salt {blob} NOT NULL, "
            f"hash {blob} NOT NULL)"
        )
        cursor.executemany(f"INSERT INTO {V4_TABLE} VALUES (%s, %s, %s)", rows)  # noqa: S608
    return values


# --- 1. Ours against the peers ------------------------------------------------------


def _floor_check():
    """The floor, the timed call: one primary-key lookup through a raw cursor."""
    from django.db import connection

    def floor(key_id):
        with connection.cursor() as cursor:
            cursor.execute(FLOOR_SQL, {"id": key_id})
            if cursor.fetchone() is None:
                raise BenchmarkError("the floor lookup found no key")

    return floor


def compare() -> dict:
    from django.db import connection
    from knox.auth import TokenAuthentication
    from rest_framework_api_key.models import APIKey

    from apikeys.models import ApiKey
    from benchmarks.bench_keycheck import populate

    began = time.perf_counter()
    ours_values = populate()
    drf_values = _populate_drf_api_key()
    knox_single, knox_many = _populate_knox()
    v4_values = _populate_v4()
    common.analyze()
    print(f"  stored 4 x {STORED_KEYS:,} keys ({time.perf_counter() - began:.0f} s)", flush=True)

    step = STORED_KEYS // POOL
    ours_pool = ours_values[::step][:POOL]
    ids = list(ApiKey.objects.order_by("?").values_list("id", flat=True)[:POOL])

    floor, ours = _floor_check(), ours_check()

    def drf_api_key(value):
        if not APIKey.objects.is_valid(value):
            raise BenchmarkError("drf-api-key refused a stored key")

    knox_auth = TokenAuthentication()

    def knox(token):
        # It takes the header's bytes, as DRF hands them over.
        user, _token = knox_auth.authenticate_credentials(token)
        if user is None:
            raise BenchmarkError("knox refused a stored token")

    def v4_pbkdf2(value):
        # nuget.org V4: the ID part finds the row, the secret is hashed with its salt.
        key_id, _, secret = value.partition(".")
        with connection.cursor() as cursor:
            cursor.execute(V4_SQL, {"id": int(key_id)})
            row = cursor.fetchone()
        if row is None:
            raise BenchmarkError("the V4 lookup found no key")
        salt, stored = bytes(row[0]), bytes(row[1])
        computed = hashlib.pbkdf2_hmac("sha256", secret.encode(), salt, V4_ITERATIONS)
        if not hmac.compare_digest(computed, stored):
            raise BenchmarkError("the V4 check refused a stored key")

    knox_inputs = [token.encode() for token in knox_single[::step][:POOL]]
    knox_many_inputs = [token.encode() for token in knox_many]
    series = [
        Series("floor", "(a) floor: raw-cursor primary-key lookup", floor, ids),
        Series("ours", "(b) ours: authenticate + Grant.allows", ours, ours_pool),
        Series(
            "drf_api_key",
            "(c) djangorestframework-api-key: APIKey.objects.is_valid",
            drf_api_key,
            drf_values[::step][:POOL],
        ),
        Series(
            "knox",
            "(d) django-rest-knox: authenticate_credentials, 1 token per user",
            knox,
            knox_inputs,
        ),
        Series(
            "knox_many",
            f"(d') django-rest-knox, a user with {KNOX_MANY} tokens",
            knox,
            knox_many_inputs,
        ),
        Series(
            "v4_pbkdf2",
            f"(e) nuget.org V4 style: lookup by ID + PBKDF2-SHA256 x {V4_ITERATIONS:,}",
            v4_pbkdf2,
            v4_values,
            calls=V4_CALLS,
            warmup=5,
            interleaved=False,
            counted=v4_values,
        ),
    ]
    rows = _run(series)
    by_id = {row["id"]: row["median_us"] for row in rows}
    for row in rows:
        row["vs_floor"] = row["median_us"] / by_id["floor"]
        row["vs_ours"] = row["median_us"] / by_id["ours"]
    targets = {
        "floor": {
            "ratio": by_id["ours"] / by_id["floor"],
            "wanted": FLOOR_TARGET,
            "met": by_id["ours"] <= FLOOR_TARGET * by_id["floor"],
        },
        **{
            peer: {
                "ratio": by_id[peer] / by_id["ours"],
                "wanted": wanted,
                "met": by_id[peer] >= wanted * by_id["ours"],
            }
            for peer, wanted in TARGETS.items()
        },
    }
    from importlib.metadata import version

    return {
        "stored_keys": STORED_KEYS,
        "pool": POOL,
        "rounds": ROUNDS,
        "floor_sql": FLOOR_SQL,
        "v4_sql": V4_SQL,
        "v4_iterations": V4_ITERATIONS,
        "knox_many": KNOX_MANY,
        "versions": {
            name: version(name)
            for name in ("djangorestframework", "djangorestframework-api-key", "django-rest-knox")
        },
        "rows": rows,
        "targets": targets,
    }


def _run(series: list[Series]) -> list[dict]:
    """Time each series (the fast ones taking turns, round by round) and count queries."""
    fast = [one for one in series if one.interleaved]
    for one in fast:
        common.warm_up(one.fn, one.inputs, one.warmup)
    samples = {one.id: [] for one in fast}
    for round_number in range(ROUNDS):
        for one in common.in_turn(fast, round_number):
            per_round = one.calls // ROUNDS
            samples[one.id] += common.sample(
                one.fn, one.inputs, calls=per_round, start=round_number * per_round
            )
    rows = []
    for one in series:
        if one.id in samples:
            timing = common.summarize(samples[one.id])
        else:
            timing = common.time_each(one.fn, one.inputs, calls=one.calls, warmup=one.warmup)
        counted = one.counted if one.counted is not None else one.inputs
        queries = common.count_queries(one.fn, counted, calls=min(one.calls, 200))
        rows.append({"id": one.id, "label": one.label, **vars(timing), **queries})
        print(
            f"  {one.label:<66} median {common.us(timing.median_us):>9} µs  "
            f"p99 {common.us(timing.p99_us):>9} µs  {queries['queries_per_call']:g} queries",
            flush=True,
        )
    return rows


# --- 2. Scaling -----------------------------------------------------------------------


def _template_row() -> tuple[list[str], list]:
    """One stored key's columns and values (as text on PostgreSQL, for COPY)."""
    from django.db import connection

    from apikeys.models import ApiKey

    columns = [
        field.column for field in ApiKey._meta.concrete_fields if field.column not in ("id",)
    ]
    quote = connection.ops.quote_name
    cast = "::text" if connection.vendor == "postgresql" else ""
    select = ", ".join(f"{quote(column)}{cast}" for column in columns)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {select} FROM apikeys_apikey LIMIT 1")  # noqa: S608
        return columns, list(cursor.fetchone())


def _insert_keys(columns: list[str], template: list, digests: list[str]) -> None:
    """Bulk insert of copies of ``template`` with the given digests: COPY on
    PostgreSQL, one transaction of executemany on SQLite."""
    from django.db import connection, transaction

    at = columns.index("digest")
    hint_at = columns.index("hint")

    def rows():
        for digest in digests:
            row = list(template)
            row[at] = digest
            row[hint_at] = digest[:8]
            yield row

    names = ", ".join(connection.ops.quote_name(column) for column in columns)
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY apikeys_apikey ({names}) FROM STDIN") as copy:
                for row in rows():
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(columns))
            sql = f"INSERT INTO apikeys_apikey ({names}) VALUES ({marks})"  # noqa: S608
            batch = []
            for row in rows():
                batch.append(row)
                if len(batch) == SCALE_BATCH:
                    cursor.executemany(sql, batch)
                    batch = []
            if batch:
                cursor.executemany(sql, batch)


def scaling() -> dict:
    from apikeys import keys
    from apikeys.models import ApiKey
    from benchmarks import bench_keycheck as keycheck

    # bench_keycheck's population, shrunk to its one key made by the service.
    stored_before, keycheck.STORED_KEYS = keycheck.STORED_KEYS, 1
    try:
        real = keycheck.populate()
    finally:
        keycheck.STORED_KEYS = stored_before
    columns, template = _template_row()

    ours, floor = ours_check(), _floor_check()

    rows = []
    stored = len(real)
    for target in SCALE_STEPS:
        began = time.perf_counter()
        # Each step adds SCALE_REAL keys that can be presented, the rest random
        # digests of the same shape: the index does not know the difference.
        fresh = [keys.generate() for _ in range(min(SCALE_REAL, target - stored))]
        filler = [secrets.token_hex(32) for _ in range(target - stored - len(fresh))]
        _insert_keys(columns, template, [keys.digests(v)[0] for v in fresh] + filler)
        real += fresh
        stored = target
        common.analyze()
        inserted_s = time.perf_counter() - began
        pool = real[:: max(1, len(real) // POOL)][:POOL]
        ids = list(ApiKey.objects.order_by("?").values_list("id", flat=True)[:POOL])
        # One pass over the pool first: first use writes last_used_at.
        common.warm_up(ours, pool, len(pool))
        common.warm_up(floor, ids, len(ids))
        samples = {"ours": [], "floor": []}
        for round_number in range(ROUNDS):
            per_round = SCALE_CALLS // ROUNDS
            turns = [("ours", ours, pool), ("floor", floor, ids)]
            for name, fn, inputs in common.in_turn(turns, round_number):
                samples[name] += common.sample(
                    fn, inputs, calls=per_round, start=round_number * per_round
                )
        ours_t, floor_t = common.summarize(samples["ours"]), common.summarize(samples["floor"])
        row = {
            "stored": target,
            "insert_s": inserted_s,
            "ours_median_us": ours_t.median_us,
            "ours_p99_us": ours_t.p99_us,
            "floor_median_us": floor_t.median_us,
            "calls": ours_t.calls,
        }
        rows.append(row)
        print(
            f"  {target:>9,} keys (stored in {inserted_s:.1f} s): ours "
            f"{common.us(ours_t.median_us)} µs, floor {common.us(floor_t.median_us)} µs",
            flush=True,
        )
    return {"rows": rows, "method": _insert_method()}


def _insert_method() -> str:
    from django.db import connection

    if connection.vendor == "postgresql":
        return "COPY FROM STDIN (psycopg)"
    return "executemany in one transaction"


def main() -> None:
    # The peers' apps must be installed before Django sets up.
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.peers_settings"
    options = common.parser(__doc__.splitlines()[0]).parse_args()
    common.setup_django()
    from django.db import connection

    print(f"Key check against peers on {common.VENDOR_NAMES[connection.vendor]}:", flush=True)
    try:
        with common.throwaway_database(postgres_name=POSTGRES_DATABASE):
            facts = common.run_facts()
            figures = compare()
        with common.throwaway_database(postgres_name=POSTGRES_SCALE_DATABASE):
            figures["scaling"] = scaling()
    except common.DatabaseUnavailable as error:
        common.database_unavailable("peers", error, options.json)
        return
    for peer, target in figures["targets"].items():
        what = (
            f"ours within {target['wanted']}x of the floor"
            if peer == "floor"
            else f"{peer} >= {target['wanted']}x ours"
        )
        print(
            f"  target: {what}: {common.ratio(target['ratio'])}, "
            + ("met" if target["met"] else "NOT met")
        )
    common.write_json(
        options.json,
        {"benchmark": "peers", "vendor": facts["database"]["vendor"], **facts, **figures},
    )


if __name__ == "__main__":
    main()
