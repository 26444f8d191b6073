"""Authenticating a presented key: parse, one indexed lookup, constant-time compare.

This runs on every push, so it avoids the ORM's per-query overhead: one narrow
SELECT through a raw cursor returns everything a grant needs, and no model
instance is built. Everything else about keys goes through the ORM.
"""

import enum
import hmac
import json
from datetime import datetime, timedelta
from functools import lru_cache
from typing import NamedTuple

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Q
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from apikeys import keys
from apikeys.models import ApiKey
from apikeys.scopes import Grant

# Writing last_used_at on every request would turn each authentication into a
# write; once per key per interval is enough to answer "when was it last used".
LAST_USED_INTERVAL = timedelta(minutes=5)

# The key's plain columns the check reads. Not the hint: it is made from the
# presented value, which is at hand. Not revoked_at either: only whether it is
# set. The grant and the owner come as one column each (see _statement()).
_COLUMNS = ("id", "owner_id", "digest", "expires_at", "last_used_at")


class Failure(enum.StrEnum):
    MALFORMED = "malformed"
    UNKNOWN = "unknown"
    OWNER_INACTIVE = "owner_inactive"
    EXPIRED = "expired"
    REVOKED = "revoked"


# Named tuples rather than dataclasses: as immutable, and built in a fraction of
# the time, which counts on a path every push takes.
class AuthenticatedKey(NamedTuple):
    pk: int
    owner_id: int
    owner_username: str
    hint: str
    expires_at: datetime
    grant: Grant

    @property
    def owner(self):
        """The owner as an unsaved user carrying only its ID and username: enough
        for foreign keys and audit records, without a query."""
        user_model = get_user_model()
        return user_model(pk=self.owner_id, **{user_model.USERNAME_FIELD: self.owner_username})


class Outcome(NamedTuple):
    """What became of a presented key; ``key`` is set only when it may be used.

    For an expired or revoked key, ``key_id`` and ``hint`` say which one it was,
    for the audit log.
    """

    key: AuthenticatedKey | None
    failure: Failure | None = None
    key_id: int | None = None
    hint: str = ""


_MALFORMED = Outcome(None, Failure.MALFORMED)
_UNKNOWN = Outcome(None, Failure.UNKNOWN)


# The grant's three JSON columns, read as one text: each one's JSON text, joined
# by commas, which makes the inside of a JSON array of the three (each is a whole
# JSON value, so no comma inside one can be mistaken for a separator). As text,
# because PostgreSQL would otherwise decode each jsonb column into new lists on
# every check; as one text, because it is then a single key to _grant()'s cache,
# which decodes each distinct grant once per process.
_GRANT_COLUMNS = ("actions", "package_ids", "globs")

# The key's timestamps. SQLite stores them as text, naive UTC ("2026-11-24
# 09:30:00.123456"); read through the cursor, Django's converter would make them
# naive datetimes, one Python callback per value. The lookup reads that text
# as it is instead, and _check() makes aware datetimes of it only once it needs
# them: about 1.5 µs less per check than a converter. PostgreSQL's come aware.
_TIMESTAMP_COLUMNS = ("expires_at", "last_used_at")


def _utc(stored: str) -> datetime:
    """A timestamp as SQLite stores it (naive UTC text), as an aware datetime."""
    return datetime.fromisoformat(stored + "+00:00")


@lru_cache(maxsize=4)
def _statement(digest_count: int) -> tuple[str, tuple[str, ...]]:
    """The lookup for ``digest_count`` candidate digests, and its parameter names.

    Built for the default connection's database, the only one keys live in.
    """
    quote = connection.ops.quote_name
    sqlite = connection.vendor == "sqlite"

    def column(name):
        return f"k.{quote(ApiKey._meta.get_field(name).column)}"

    def select(name):
        if sqlite and name in _TIMESTAMP_COLUMNS:
            # An expression has no declared type, so no converter runs on it.
            return f"CAST({column(name)} AS text) AS {name}"
        return column(name)

    def as_text(name):
        # SQLite keeps JSON as text already; PostgreSQL's jsonb needs the cast.
        if connection.features.has_native_json_field:
            return f"CAST({column(name)} AS text)"
        return column(name)

    columns = ", ".join(select(name) for name in _COLUMNS)
    grant = " || ',' || ".join(as_text(name) for name in _GRANT_COLUMNS)
    user = ApiKey._meta.get_field("owner").related_model._meta
    # Named parameters: Django's SQLite wrapper maps them with one string format,
    # where positional ones cost a regex pass over the whole statement per call.
    names = tuple(f"d{i}" for i in range(digest_count))
    # "=" for the usual single pepper: SQLite runs "IN (one value)" about 1 µs slower.
    if digest_count == 1:
        where = f"= %({names[0]})s"
    else:
        where = "IN ({})".format(", ".join(f"%({name})s" for name in names))
    # The owner's username if the account is active, else NULL: a deactivated
    # account's keys stop at once, in the same single query. A scalar subquery
    # on the owner's primary key rather than a join: PostgreSQL plans it in
    # about half the time, and planning is most of what this statement costs
    # there; on SQLite the two cost the same.
    owner = (
        f"(SELECT CASE WHEN u.{quote(user.get_field('is_active').column)} "  # noqa: S608
        f"THEN u.{quote(user.get_field(user.model.USERNAME_FIELD).column)} END "
        f"FROM {quote(user.db_table)} u WHERE u.{quote(user.pk.column)} = {column('owner')})"
    )
    # Only quoted identifiers from the models' metadata are interpolated; the
    # digests are bound parameters. "revoked_at IS NOT NULL": a flag is all the
    # check needs, and it spares converting a timestamp. Short aliases for the
    # expressions: sqlite3 builds each column's name as a string on every
    # execute, and an expression's name is its whole text.
    sql = (
        f"SELECT {columns}, {grant} AS grant_text, "  # noqa: S608
        f"{column('revoked_at')} IS NOT NULL AS revoked, {owner} AS username "
        f"FROM {quote(ApiKey._meta.db_table)} k "
        f"WHERE {column('digest')} {where}"
    )
    return sql, names


@lru_cache(maxsize=4096)
def _grant(text: str) -> Grant:
    # Grants are immutable and keys are reused: decode each distinct text once.
    actions, package_ids, globs = json.loads(f"[{text}]")
    return Grant.of(actions, package_ids, globs)


# Every name the key value goes by, here and in the keys module's functions
# below this one, and the names the peppers go by in conf.current_peppers() and
# keys._keyed() on their first call: Django hides them in the frames of an
# error report.
_SECRET_NAMES = (
    *("raw_key", "raw", "value", "body", "data"),
    *("current", "found", "secret_key", "pepper", "key"),
)


@sensitive_variables(*_SECRET_NAMES)
def check(raw_key) -> Outcome:
    """Authenticate ``raw_key`` and say why not when it fails."""
    return _check(raw_key)


@sensitive_variables(*_SECRET_NAMES)
def authenticate(raw_key) -> AuthenticatedKey | None:
    """The key ``raw_key`` stands for, or ``None`` if it is malformed, unknown,
    expired or revoked."""
    return _check(raw_key).key


# Called only through check() and authenticate(), whose sensitive_variables
# marks hide this frame's key value from error reports too.
def _check(raw_key) -> Outcome:
    value = keys.well_formed(raw_key)
    if value is None:
        return _MALFORMED
    candidates = keys.digests(value)
    sql, names = _statement(len(candidates))
    with connection.cursor() as cursor:
        cursor.execute(sql, dict(zip(names, candidates, strict=True)))
        row = cursor.fetchone()
    if row is None:
        return _UNKNOWN
    pk, owner_id, stored, expires_at, last_used, grant_text, revoked, owner_username = row
    # The index found the row; compare again in constant time before trusting it.
    for matched in candidates:
        if hmac.compare_digest(matched, stored):
            break
    else:
        return _UNKNOWN
    if revoked:
        return Outcome(None, Failure.REVOKED, pk, keys.hint(value))
    if owner_username is None:  # the owner's account is deactivated
        return Outcome(None, Failure.OWNER_INACTIVE, pk, keys.hint(value))
    if type(expires_at) is str:  # SQLite's text (see _TIMESTAMP_COLUMNS)
        expires_at = _utc(expires_at)
        if last_used is not None:
            last_used = _utc(last_used)
    now = timezone.now()
    if expires_at <= now:
        return Outcome(None, Failure.EXPIRED, pk, keys.hint(value))
    if matched != candidates[0]:
        # Found under a retired pepper: store the digest under the current one.
        ApiKey.objects.filter(pk=pk, digest=stored).update(digest=candidates[0])
    if last_used is None or now - last_used >= LAST_USED_INTERVAL:
        _touch(pk, now)
    grant = _grant(grant_text)
    return Outcome(
        AuthenticatedKey(pk, owner_id, owner_username, keys.hint(value), expires_at, grant)
    )


def _touch(pk: int, now: datetime) -> None:
    # Conditional, so that concurrent requests on several servers write once.
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_INTERVAL)
    ApiKey.objects.filter(stale, pk=pk).update(last_used_at=now)
