"""Authenticating a presented key: parse, one indexed lookup, constant-time compare.

This runs on every push, so it avoids the ORM's per-query overhead: one narrow
SELECT through a raw cursor returns everything a grant needs, and no model
instance is built. Everything else about keys goes through the ORM.
"""

import enum
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

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

_COLUMNS = (
    "id",
    "owner_id",
    "digest",
    "hint",
    "actions",
    "package_ids",
    "globs",
    "expires_at",
    "revoked_at",
    "last_used_at",
)


class Failure(enum.StrEnum):
    MALFORMED = "malformed"
    UNKNOWN = "unknown"
    OWNER_INACTIVE = "owner_inactive"
    EXPIRED = "expired"
    REVOKED = "revoked"


@dataclass(frozen=True)
class AuthenticatedKey:
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


@dataclass(frozen=True)
class Outcome:
    """What became of a presented key; ``key`` is set only when it may be used.

    For an expired or revoked key, ``key_id`` and ``hint`` say which one it was,
    for the audit log.
    """

    key: AuthenticatedKey | None
    failure: Failure | None = None
    key_id: int | None = None
    hint: str = ""


@lru_cache(maxsize=4)
def _lookup_sql(digest_count: int) -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(f"k.{quote(ApiKey._meta.get_field(name).column)}" for name in _COLUMNS)
    user = ApiKey._meta.get_field("owner").related_model._meta
    owner_column = quote(ApiKey._meta.get_field("owner").column)
    # Named parameters: Django's SQLite wrapper maps them with one string format,
    # where positional ones cost a regex pass over the whole statement per call.
    placeholders = ", ".join(f"%(d{i})s" for i in range(digest_count))
    # Only quoted identifiers from the models' metadata are interpolated; the
    # digests are bound parameters. The join on the owner's primary key lets a
    # deactivated account's keys stop at once, in the same single query.
    return (
        f"SELECT {columns}, u.{quote(user.get_field('is_active').column)}, "  # noqa: S608
        f"u.{quote(user.get_field(user.model.USERNAME_FIELD).column)} "
        f"FROM {quote(ApiKey._meta.db_table)} k "
        f"JOIN {quote(user.db_table)} u ON u.{quote(user.pk.column)} = k.{owner_column} "
        f"WHERE k.{quote(ApiKey._meta.get_field('digest').column)} IN ({placeholders})"
    )


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive UTC datetimes through a raw cursor; PostgreSQL aware ones.
    if value is not None and timezone.is_naive(value):
        return value.replace(tzinfo=UTC)
    return value


def _json(value):
    return json.loads(value) if isinstance(value, str | bytes) else value


@lru_cache(maxsize=4096)
def _grant_from_text(actions: str, package_ids: str, globs: str) -> Grant:
    return Grant.of(json.loads(actions), json.loads(package_ids), json.loads(globs))


def _grant(actions, package_ids, globs) -> Grant:
    # Grants are immutable and keys are reused: decode each distinct JSON text once.
    if isinstance(actions, str) and isinstance(package_ids, str) and isinstance(globs, str):
        return _grant_from_text(actions, package_ids, globs)
    return Grant.of(_json(actions), _json(package_ids), _json(globs))


@sensitive_variables("raw_key", "parsed")
def check(raw_key) -> Outcome:
    """Authenticate ``raw_key`` and say why not when it fails."""
    parsed = keys.parse(raw_key)
    if parsed is None:
        return Outcome(None, Failure.MALFORMED)
    candidates = keys.digests(parsed.value)
    with connection.cursor() as cursor:
        cursor.execute(_lookup_sql(len(candidates)), {f"d{i}": d for i, d in enumerate(candidates)})
        row = cursor.fetchone()
    if row is None:
        return Outcome(None, Failure.UNKNOWN)
    (pk, owner_id, stored, hint, actions, package_ids, globs, expires_at, revoked_at, last_used,
     owner_active, owner_username) = row  # fmt: skip
    # The index found the row; compare again in constant time before trusting it.
    matched = next((d for d in candidates if hmac.compare_digest(d, stored)), None)
    if matched is None:
        return Outcome(None, Failure.UNKNOWN)
    if revoked_at is not None:
        return Outcome(None, Failure.REVOKED, pk, hint)
    if not owner_active:
        return Outcome(None, Failure.OWNER_INACTIVE, pk, hint)
    now = timezone.now()
    expires_at = _aware(expires_at)
    if expires_at <= now:
        return Outcome(None, Failure.EXPIRED, pk, hint)
    if matched != candidates[0]:
        # Found under a retired pepper: store the digest under the current one.
        ApiKey.objects.filter(pk=pk, digest=stored).update(digest=candidates[0])
    _touch(pk, _aware(last_used), now)
    grant = _grant(actions, package_ids, globs)
    return Outcome(AuthenticatedKey(pk, owner_id, owner_username, hint, expires_at, grant))


@sensitive_variables("raw_key")
def authenticate(raw_key) -> AuthenticatedKey | None:
    """The key ``raw_key`` stands for, or ``None`` if it is malformed, unknown,
    expired or revoked."""
    return check(raw_key).key


def _touch(pk: int, last_used: datetime | None, now: datetime) -> None:
    if last_used is not None and now - last_used < LAST_USED_INTERVAL:
        return
    # Conditional, so that concurrent requests on several servers write once.
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_INTERVAL)
    ApiKey.objects.filter(stale, pk=pk).update(last_used_at=now)
