"""What checking a presented API key costs per call, on the database DATABASE_URL selects.

Ours (``authenticate`` plus ``Grant.allows``) against the floor (one indexed lookup
through a raw cursor), the same lookup through the ORM, and the lookup plus a
password-hasher verify, which is what galleries that store keys like passwords pay
on every push. Also: a malformed key and an unknown one.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal \\
        python -m benchmarks.bench_keycheck --json var/bench/keycheck-postgresql.json

``make bench`` runs it on SQLite and PostgreSQL and merges the figures.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from benchmarks import common

STORED_KEYS = 10_000
# Timed calls cycle through this many distinct keys, so that they do not all hit
# one row the database has just cached.
POOL = 1_000
STRIDE = STORED_KEYS // POOL
CALLS = 5_000
ROUNDS = 30
WARMUP = 1_000
FIRST_USE_CALLS = 500
SLOW_HASH_CALLS = 50
PACKAGE_ID = "Contoso.Core"
# Named parameters, as authenticate() sends them: on SQLite, Django maps them
# with one string format, where "%s" costs a regex pass per call.
FLOOR_SQL = "SELECT id FROM apikeys_apikey WHERE digest = %(d0)s"
# Ours should stay within this many times the floor (median against median). The
# check is a few per cent of a push: the figure is printed, not chased further.
FLOOR_TARGET = 4


@dataclass
class Series:
    id: str
    label: str
    fn: Callable
    inputs: list
    calls: int = CALLS
    warmup: int = WARMUP
    # False: timed by itself rather than taking turns with the others (see run()).
    interleaved: bool = True
    # True: on PostgreSQL with prepared statements (see _prepare_statements()).
    prepared: bool = False
    # What to count queries on, when it must differ from what was timed.
    counted: list | None = None


class BenchmarkError(RuntimeError):
    """A measured call did not do what it was meant to: the figure would be a lie."""


def populate() -> list[str]:
    """Store STORED_KEYS push keys; return their values, the service-made one first."""
    from allauth.account.models import EmailAddress
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from apikeys import keys
    from apikeys.models import ApiKey
    from apikeys.scopes import Action
    from apikeys.services import api_key_create
    from packages.models import Package

    owner = get_user_model().objects.create_user(username="bench", email="bench@example.com")
    EmailAddress.objects.create(user=owner, email=owner.email, primary=True, verified=True)
    Package.objects.create(name=PACKAGE_ID).owners.add(owner)
    # One key through the real service, so the measured path meets a key made the real way...
    _, plaintext = api_key_create(
        owner=owner,
        name="CI",
        actions=[Action.PUSH.value],
        package_ids=[PACKAGE_ID],
        globs=[],
        expiration_days=365,
        actor=owner,
    )
    # ...and the rest in bulk: the service takes milliseconds a key.
    now = timezone.now()
    values = [keys.generate() for _ in range(STORED_KEYS - 1)]
    ApiKey.objects.bulk_create(
        (
            ApiKey(
                owner=owner,
                name=f"bench {i}",
                digest=keys.digests(value)[0],
                hint=keys.hint(value),
                actions=[Action.PUSH.value],
                # Half cover the ID by name, half by glob, so that Grant.allows takes
                # both paths. Alternated in runs of STRIDE: the timed pool takes every
                # STRIDE-th value (this is value i + 1), and so alternates too.
                package_ids=[PACKAGE_ID] if (i + 1) // STRIDE % 2 else [],
                globs=[] if (i + 1) // STRIDE % 2 else ["Contoso.*"],
                created_at=now,
                expires_at=now + timedelta(days=365),
                expiration_days=365,
            )
            for i, value in enumerate(values)
        ),
        batch_size=1_000,
    )
    common.analyze()
    return [plaintext, *values]


def ours_check() -> Callable[[str], None]:
    """Ours, the timed call: ``authenticate`` a stored push key, then ``Grant.allows``."""
    from apikeys.authentication import authenticate
    from apikeys.scopes import Action

    def ours(value):
        key = authenticate(value)
        if key is None or not key.grant.allows(
            Action.PUSH, PACKAGE_ID, package_exists=True, owner_owns_package=True
        ):
            raise BenchmarkError("a stored key was refused")

    return ours


def measure() -> dict:
    from django.contrib.auth.hashers import Argon2PasswordHasher, PBKDF2PasswordHasher
    from django.db import connection

    from apikeys import keys
    from apikeys.authentication import authenticate
    from apikeys.models import ApiKey

    values = populate()
    pool = values[::STRIDE][:POOL]
    # Disjoint from the pool: keys nobody has used yet.
    fresh = values[1::20][:FIRST_USE_CALLS]
    digests = [keys.digests(value)[0] for value in pool]

    def floor(digest):
        with connection.cursor() as cursor:
            cursor.execute(FLOOR_SQL, {"d0": digest})
            if cursor.fetchone() is None:
                raise BenchmarkError("the floor lookup found no key")

    # The statement authenticate() itself sends (wider, and joined to the owner),
    # caught on its way to the database: the gap between this row and (c) is ours
    # in Python.
    own_sql = statement_of_check(values[-1])

    def own_select(digest):
        with connection.cursor() as cursor:
            cursor.execute(own_sql, {"d0": digest})
            if cursor.fetchone() is None:
                raise BenchmarkError("authenticate's lookup found no key")

    def orm(digest):
        ApiKey.objects.get(digest=digest)

    ours = ours_check()

    def refused(value):
        if authenticate(value) is not None:
            raise BenchmarkError("a bad key was accepted")

    argon2, pbkdf2 = Argon2PasswordHasher(), PBKDF2PasswordHasher()
    slow = [(digests[0], pool[0])]
    argon2_hash = argon2.encode(pool[0], argon2.salt())
    pbkdf2_hash = pbkdf2.encode(pool[0], pbkdf2.salt())

    def with_hasher(hasher, encoded):
        def check(item):
            digest, value = item
            floor(digest)
            if not hasher.verify(value, encoded):
                raise BenchmarkError("the hasher refused the right value")

        return check

    last = pool[0][-1]
    malformed = [pool[0][:-1] + ("A" if last != "A" else "B")]
    if keys.parse(malformed[0]) is not None:
        raise BenchmarkError("the malformed key parses")
    unknown = [keys.generate() for _ in range(POOL)]

    # Ours warms up on every pool key, so its timed calls see the steady state:
    # last_used_at already fresh, no writes. Its first-use row times keys nobody has
    # used, and counts queries on others nobody has used either.
    unused = values[3::20][:50]
    series = [
        Series("floor", "(a) floor: raw-cursor lookup by digest", floor, digests),
        Series("own_select", "(a') authenticate's own SELECT, raw cursor", own_select, digests),
        Series("orm", "(b) ORM lookup by digest", orm, digests),
        Series("ours", "(c) ours: authenticate + Grant.allows", ours, pool),
        Series(
            "ours_first_use",
            "(c') ours, first use in 5 min",
            ours,
            fresh,
            calls=FIRST_USE_CALLS,
            warmup=0,
            interleaved=False,
            counted=unused,
        ),
        Series(
            "argon2",
            "(d) lookup + Argon2 verify",
            with_hasher(argon2, argon2_hash),
            slow,
            calls=SLOW_HASH_CALLS,
            warmup=2,
            interleaved=False,
            counted=slow,
        ),
        Series(
            "pbkdf2",
            "(e) lookup + PBKDF2 verify",
            with_hasher(pbkdf2, pbkdf2_hash),
            slow,
            calls=SLOW_HASH_CALLS,
            warmup=2,
            interleaved=False,
            counted=slow,
        ),
        Series("malformed", "malformed key (bad checksum)", refused, malformed),
        Series("unknown", "unknown key (well-formed)", refused, unknown),
    ]
    if connection.vendor == "postgresql":
        # Django binds parameters client-side and never prepares, so PostgreSQL plans
        # every lookup afresh. These rows show what prepared statements would change.
        series += [
            Series(
                "floor_prepared", "(a) floor, prepared statements", floor, digests, prepared=True
            ),
            Series(
                "own_select_prepared",
                "(a') its SELECT, prepared",
                own_select,
                digests,
                prepared=True,
            ),
            Series("ours_prepared", "(c) ours, prepared statements", ours, pool, prepared=True),
        ]
    rows = run(series)
    for row in rows:
        # Prepared rows compare with the prepared floor.
        base = "floor_prepared" if row["id"].endswith("_prepared") else "floor"
        row["vs_floor"] = row["median_us"] / next(r["median_us"] for r in rows if r["id"] == base)
    by_id = {row["id"]: row["median_us"] for row in rows}
    verdicts = {"target": _verdict(by_id["ours"], by_id["floor"])}
    if "ours_prepared" in by_id:
        verdicts["target_prepared"] = _verdict(by_id["ours_prepared"], by_id["floor_prepared"])
    return {
        "stored_keys": STORED_KEYS,
        "floor_sql": FLOOR_SQL,
        "pool": POOL,
        "rounds": ROUNDS,
        "rows": rows,
        **verdicts,
        "hashers": {
            "argon2": {
                "time_cost": argon2.time_cost,
                "memory_cost": argon2.memory_cost,
                "parallelism": argon2.parallelism,
            },
            "pbkdf2": {"iterations": pbkdf2.iterations},
        },
    }


def statement_of_check(value: str) -> str:
    """The SELECT ``authenticate(value)`` sends, as Django's execute wrappers see it."""
    from django.db import connection

    from apikeys.authentication import authenticate

    sent = []

    def catch(execute, sql, params, many, context):
        sent.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(catch):
        authenticate(value)
    sql, params = sent[0]
    if not sql.lstrip().upper().startswith("SELECT") or set(params) != {"d0"}:
        raise BenchmarkError("the key check sent something else first")
    return sql


def _verdict(ours_us: float, floor_us: float) -> dict:
    return {
        "ours_us": ours_us,
        "floor_us": floor_us,
        "ratio": ours_us / floor_us,
        "wanted": FLOOR_TARGET,
        "met": ours_us <= FLOOR_TARGET * floor_us,
    }


def run(series: list[Series]) -> list[dict]:
    """Time each series and count its queries; one row of figures per series."""
    try:
        # The interleaved series take turns, round by round, so that other work on the
        # machine weighs on all of them alike and their ratios stay fair.
        fast = [one for one in series if one.interleaved]
        for one in fast:
            _prepare_statements(one.prepared)
            common.warm_up(one.fn, one.inputs, one.warmup)
        samples = {one.id: [] for one in fast}
        for round_number in range(ROUNDS):
            for prepared in (False, True):
                group = [one for one in fast if one.prepared == prepared]
                if group and _prepare_statements(prepared):
                    # A fresh connection: reconnect and re-prepare before timing.
                    for one in group:
                        common.warm_up(one.fn, one.inputs, 10)
                for one in common.in_turn(group, round_number):
                    per_round = one.calls // ROUNDS
                    samples[one.id] += common.sample(
                        one.fn, one.inputs, calls=per_round, start=round_number * per_round
                    )
        rows = []
        for one in series:
            _prepare_statements(one.prepared)
            if one.id in samples:
                timing = common.summarize(samples[one.id])
            else:
                timing = common.time_each(one.fn, one.inputs, calls=one.calls, warmup=one.warmup)
            if one.counted is None:
                queries = common.count_queries(one.fn, one.inputs, calls=min(one.calls, 500))
            else:
                queries = common.count_queries(one.fn, one.counted, calls=len(one.counted))
            rows.append({"id": one.id, "label": one.label, **vars(timing), **queries})
            print(
                f"  {one.label:<44} median {common.us(timing.median_us):>9} µs  "
                f"p99 {common.us(timing.p99_us):>9} µs  "
                f"{queries['queries_per_call']:g} queries, "
                f"{queries['writes_per_call']:g} writes",
                flush=True,
            )
        return rows
    finally:
        _prepare_statements(False)


_PREPARED = {"server_side_binding": True, "prepare_threshold": 5}


def _prepare_statements(on: bool) -> bool:
    """Switch PostgreSQL to server-side binding that prepares a statement after its 5th
    use, or to preparing nothing at all (Django's default, and the portal's with
    DATABASE_PREPARED_STATEMENTS=false), so that every row of a kind is measured
    alike; True when that took a new connection."""
    from django.db import connection

    options = connection.settings_dict.setdefault("OPTIONS", {})
    wanted = dict(_PREPARED) if on else {}
    if {name: options[name] for name in _PREPARED if name in options} == wanted:
        return False
    connection.close()
    for name in _PREPARED:
        options.pop(name, None)
    options.update(wanted)
    return True


def main() -> None:
    options = common.parser(__doc__.splitlines()[0]).parse_args()
    common.setup_django()
    from django.db import connection

    print(f"Key check on {common.VENDOR_NAMES[connection.vendor]}:", flush=True)
    figures = common.measure_on_throwaway_database("keycheck", measure, options.json)
    if figures is None:
        return
    for key, what in (("target", ""), ("target_prepared", " (prepared statements)")):
        if key in figures:
            target = figures[key]
            print(
                f"  target: ours within {target['wanted']}x of the floor{what}: "
                f"{common.ratio(target['ratio'])}, " + ("met" if target["met"] else "NOT met")
            )
    common.write_json(options.json, figures)


if __name__ == "__main__":
    main()
