"""Authenticating a presented key: parse, one indexed lookup, constant-time compare.

This runs on every push. The lookup is one raw SELECT rather than an ORM query:
the ORM's per-query work costs about 200 µs, most of what the check would then
take. It reads the key's row, its owner's and, for a key that acts for an
organization, the owner's membership in it, in one go, by digest (a unique index),
and builds no model instance. Everything else about keys uses the ORM.
"""

import enum
import functools
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Q
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from accounts.models import Membership
from apikeys import keys
from apikeys.models import ApiKey
from apikeys.scopes import Grant
from audit.database import prepared_cursor

# Writing last_used_at on every request would turn each authentication into a
# write; once per key per interval is enough to answer "when was it last used".
LAST_USED_INTERVAL = timedelta(minutes=5)


class Failure(enum.StrEnum):
    MALFORMED = "malformed"
    UNKNOWN = "unknown"
    OWNER_INACTIVE = "owner_inactive"
    EXPIRED = "expired"
    REVOKED = "revoked"
    # An organization-scoped key whose user is no longer a member: refused, not
    # deleted, so it works again if they are re-added.
    NOT_MEMBER = "not_member"


class AuthenticatedKey(NamedTuple):
    """A key that may be used, with what its grant allows. Holds no secret."""

    pk: int
    owner_id: int
    owner_username: str
    # The account whose packages it acts on: the owner, or the organization it is
    # scoped to (membership checked by this very lookup).
    account_id: int
    hint: str
    expires_at: datetime
    grant: Grant

    @property
    def owner(self):
        """The owner as an unsaved user carrying only its ID and username: enough
        for foreign keys and audit records, without a query."""
        user_model = get_user_model()
        return user_model(pk=self.owner_id, **{user_model.USERNAME_FIELD: self.owner_username})

    @property
    def account(self):
        """The account the key acts for, as an unsaved user carrying only its ID:
        enough to own a new package, without a query."""
        return get_user_model()(pk=self.account_id)


class Outcome(NamedTuple):
    """What became of a presented key; ``key`` is set only when it may be used.

    For a key that was found but refused (revoked, owner deactivated, expired),
    ``key_id`` and ``hint`` say which one it was, for the audit log.
    """

    key: AuthenticatedKey | None
    failure: Failure | None = None
    key_id: int | None = None
    hint: str = ""


class _Row(NamedTuple):
    """What the lookup reads: the key's columns, then its owner's."""

    id: int
    owner_id: int
    digest: str
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    actions: str
    package_ids: str
    globs: str
    package_owner_id: int | None
    owner_is_active: bool
    owner_username: str
    member_role: str | None


# The model fields behind _Row's first ten columns, in order.
_KEY_FIELDS = (
    *("id", "owner", "digest", "expires_at", "last_used_at", "revoked_at"),
    *("actions", "package_ids", "globs", "package_owner"),
)


# Built once per number of digests: the statement depends on nothing else (the
# models' tables and columns, and the default connection, where keys live).
@functools.lru_cache(maxsize=8)
def _lookup_sql(digest_count: int) -> str:
    """The one SELECT of the check, for ``digest_count`` candidate digests.

    Only quoted identifiers from the models' metadata are interpolated; the digests
    are bound as named parameters (%(d0)s, ...), which Django's SQLite wrapper maps
    without a regex pass over the statement.
    """
    quote = connection.ops.quote_name
    key = ApiKey._meta
    user = key.get_field("owner").related_model._meta
    member = Membership._meta

    def k(name):
        return f"k.{quote(key.get_field(name).column)}"

    def u(name):
        return f"u.{quote(user.get_field(name).column)}"

    def m(name):
        return f"m.{quote(member.get_field(name).column)}"

    columns = [k(name) for name in _KEY_FIELDS] + [
        *(u("is_active"), u(user.model.USERNAME_FIELD), m("role")),
    ]
    digests = ", ".join(f"%(d{i})s" for i in range(digest_count))
    # The membership join matches nothing for a key without a Package Owner (NULL).
    return (
        f"SELECT {', '.join(columns)} FROM {quote(key.db_table)} k "  # noqa: S608
        f"JOIN {quote(user.db_table)} u ON {u(user.pk.name)} = {k('owner')} "
        f"LEFT JOIN {quote(member.db_table)} m ON {m('organization')} = {k('package_owner')} "
        f"AND {m('user')} = {k('owner')} "
        f"WHERE {k('digest')} IN ({digests})"
    )


def _lookup(candidates: list[str]) -> _Row | None:
    with prepared_cursor() as cursor:
        cursor.execute(_lookup_sql(len(candidates)), {f"d{i}": d for i, d in enumerate(candidates)})
        row = cursor.fetchone()
    return None if row is None else _Row(*row)


@functools.lru_cache(maxsize=4096)
def _grant(actions: str, package_ids: str, globs: str) -> Grant:
    # The three JSON columns as the database returns them (text). Grants are
    # immutable and a key is used again and again: decode each distinct one once.
    return Grant.of(json.loads(actions), json.loads(package_ids), json.loads(globs))


def _aware(moment: datetime | None) -> datetime | None:
    # A raw cursor gets SQLite's timestamps as naive UTC, PostgreSQL's aware.
    if moment is None or timezone.is_aware(moment):
        return moment
    return moment.replace(tzinfo=UTC)


@sensitive_variables()
def check(raw_key) -> Outcome:
    """Authenticate ``raw_key`` and say why not when it fails."""
    parsed = keys.parse(raw_key)
    if parsed is None:
        return Outcome(None, Failure.MALFORMED)
    # Current pepper first, then fallbacks: during a rotation a key is found under
    # whichever pepper its digest was made with.
    candidates = keys.digests(parsed.value)
    row = _lookup(candidates)
    if row is None:
        return Outcome(None, Failure.UNKNOWN)
    # The index found the row; compare again in constant time before trusting it,
    # as Django's token check does.
    matched = [c for c in candidates if hmac.compare_digest(c, row.digest)]
    if not matched:
        return Outcome(None, Failure.UNKNOWN)
    hint = parsed.hint
    # Revocation first: it is the answer that stays true whatever else changes.
    if row.revoked_at is not None:
        return Outcome(None, Failure.REVOKED, row.id, hint)
    # A deactivated account's keys stop at once, without a write to each key.
    if not row.owner_is_active:
        return Outcome(None, Failure.OWNER_INACTIVE, row.id, hint)
    now = timezone.now()
    expires_at = _aware(row.expires_at)
    if expires_at <= now:
        return Outcome(None, Failure.EXPIRED, row.id, hint)
    # Decided with the membership as it is now, on every use.
    if row.package_owner_id is not None and row.member_role is None:
        return Outcome(None, Failure.NOT_MEMBER, row.id, hint)
    if matched[0] != candidates[0]:
        # Found under a retired pepper: store the digest under the current one, so
        # that the fallback can be dropped once every key in use has moved.
        ApiKey.objects.filter(pk=row.id, digest=row.digest).update(digest=candidates[0])
    last_used = _aware(row.last_used_at)
    if last_used is None or now - last_used >= LAST_USED_INTERVAL:
        _touch(row.id, now)
    grant = _grant(row.actions, row.package_ids, row.globs)
    account_id = row.package_owner_id or row.owner_id
    return Outcome(
        AuthenticatedKey(
            row.id, row.owner_id, row.owner_username, account_id, hint, expires_at, grant
        )
    )


@sensitive_variables()
def authenticate(raw_key) -> AuthenticatedKey | None:
    """The key ``raw_key`` stands for, or ``None`` if it is malformed, unknown,
    expired or revoked, its owner is deactivated, or its owner has left the
    organization it acts for."""
    return check(raw_key).key


def _touch(pk: int, now: datetime) -> None:
    # Conditional, so that concurrent requests on several servers write once.
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_INTERVAL)
    ApiKey.objects.filter(stale, pk=pk).update(last_used_at=now)
