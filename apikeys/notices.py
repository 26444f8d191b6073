"""Expiry notices: "about to expire" ``EXPIRY_WARNING`` ahead, then "has expired", once each.

``send_expiry_notices()`` is run from cron (``manage.py send_key_expiry_notices``).
It sends one email per user, listing every key of theirs that is due, and marks
each key's notice as sent for the expiry date it announced.

Exactly once, however it is run. Each user is one transaction:

1. claim the user: on PostgreSQL a transaction-scoped advisory lock on the
   user's id, taken without waiting (a user another run holds is skipped);
   then lock that user's due keys (``SELECT ... FOR UPDATE SKIP LOCKED``, which
   leaves out a key a regeneration holds at that moment);
2. render the email;
3. mark the keys notified and write one audit event per key;
4. send the email;
5. commit.

- If sending fails (step 4), the transaction rolls back: the keys stay due and
  the next run tries again. Nothing is skipped.
- Two runs at once: on PostgreSQL the second run skips a user the first holds,
  and once the first commits that user's keys are no longer due. Row locks alone
  would not do: two ``SKIP LOCKED`` reads of the same user's keys can each lock
  part of them and email the user twice, once per half. On SQLite
  every transaction here starts with ``BEGIN IMMEDIATE`` (``transaction_mode`` in
  settings), so the second waits for the first and then finds nothing due.
  ``select_for_update`` is a no-op there. Either way, no duplicate.
- The window that remains: the SMTP server accepts the message (step 4) and then
  the process dies, or the database fails, before the commit (step 5). The keys
  stay due and the next run sends that user's email a second time. Marking
  first (step 3) keeps a failing write from causing it; nothing can close it
  without a mail server that deduplicates, and a repeated reminder is the
  better failure than a missing one.

The email goes out while the keys' rows are locked (on SQLite, while the
database's write lock is held): a regeneration of one of those keys waits for
it, at most about ``EMAIL_TIMEOUT``.

Which keys are due:

- "about to expire": not revoked, expiring within ``EXPIRY_WARNING`` from now,
  and ``expiring_notice_for`` is not this expiry date;
- "has expired": not revoked, expired, and ``expired_notice_for`` is not this
  expiry date. A key already expired when first seen gets only this one.
- Keys that expired long before notices existed (the first run after an
  upgrade) are notified once too, with their expiry date: there is no cut-off
  age, so that a cron job that stopped for a while never skips a key when it
  comes back. A user gets one email listing all of them, never one per key.
- Revoked keys get nothing: their owner (or an administrator) stopped them on
  purpose, and was emailed then. A revoked key that is regenerated is live
  again, with a new expiry, and is notified afresh, as is any regenerated key.
- Owners without an email address are left out; their keys stay due.
"""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone, translation

from accounts.emails import recipient_language
from apikeys.models import EXPIRY_WARNING, ApiKey
from audit.events import record
from audit.models import EventKind

logger = logging.getLogger(__name__)

EXPIRING = "expiring"
EXPIRED = "expired"

# The advisory-lock namespace of this module (PostgreSQL's two-key form), so its
# locks never collide with another use of advisory locks on the same database.
_LOCK_NAMESPACE = "apikeys.expiry_notices"


@dataclass
class NoticeSummary:
    users_emailed: int = 0
    keys_notified: int = 0
    users_failed: int = 0


def _not_notified(field: str) -> Q:
    # Spelled out, not left to how NOT handles NULL: never notified, or notified
    # for an earlier expiry date (the key was regenerated since).
    return Q(**{f"{field}__isnull": True}) | ~Q(**{field: F("expires_at")})


def _due(now):
    expiring = Q(expires_at__gt=now, expires_at__lte=now + EXPIRY_WARNING) & _not_notified(
        "expiring_notice_for"
    )
    expired = Q(expires_at__lte=now) & _not_notified("expired_notice_for")
    return (
        # Short-lived keys from trusted publishing expire by design: no notices.
        ApiKey.objects.filter(revoked_at__isnull=True, policy__isnull=True)
        .filter(expiring | expired)
        .exclude(owner__email="")
    )


def send_expiry_notices(now=None) -> NoticeSummary:
    """Email every user whose keys are due; returns what was done."""
    now = now or timezone.now()
    summary = NoticeSummary()
    # Read without locks: a user listed here may be done by a concurrent run by
    # the time we reach them, which the locked re-read below finds out.
    owner_ids = list(_due(now).order_by("owner_id").values_list("owner_id", flat=True).distinct())
    for owner_id in owner_ids:
        try:
            notified = _notify_owner(owner_id, now)
        except Exception:
            # One user's failure (mail server refused, database busy) must not
            # stop the others; their keys stay due for the next run.
            logger.exception("Expiry notice for user %s failed; it is retried next run", owner_id)
            summary.users_failed += 1
            continue
        if notified:
            summary.users_emailed += 1
            summary.keys_notified += notified
    return summary


def _notify_owner(owner_id, now) -> int:
    """Email one user about their due keys; returns how many keys it covered."""
    with transaction.atomic():
        if not _claim(owner_id):
            return 0
        keys = list(
            _due(now)
            .filter(owner_id=owner_id)
            .select_related("owner")
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("expires_at", "pk")
        )
        if not keys:
            return 0
        owner = keys[0].owner
        expiring = [key for key in keys if key.expires_at > now]
        expired = [key for key in keys if key.expires_at <= now]
        subject, body = _render(owner, expiring, expired, now)

        for key in expiring:
            key.expiring_notice_for = key.expires_at
        for key in expired:
            key.expired_notice_for = key.expires_at
        ApiKey.objects.bulk_update(keys, ["expiring_notice_for", "expired_notice_for"])
        for key in keys:
            record(
                EventKind.API_KEY_EXPIRY_NOTICE,
                subject_user=owner,
                api_key=key,
                details={
                    "notice": EXPIRING if key in expiring else EXPIRED,
                    "name": key.name,
                    "expires_at": key.expires_at.isoformat(),
                },
            )

        # Last inside the transaction: if it raises, everything above rolls back.
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [owner.email])
    return len(keys)


def _claim(owner_id) -> bool:
    """Hold this user for the rest of the transaction; False if another run does."""
    if connection.vendor != "postgresql":
        # SQLite: the transaction began with BEGIN IMMEDIATE, so this run is the
        # only writer until it commits.
        return True
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_try_advisory_xact_lock(hashtext(%s), %s)", [_LOCK_NAMESPACE, owner_id]
        )
        return cursor.fetchone()[0]


def _render(owner, expiring, expired, now) -> tuple[str, str]:
    context = {
        "owner": owner,
        "expiring": [
            {
                "name": key.name,
                "hint": key.hint,
                "expires_at": key.expires_at,
                "days": key.days_left(now),
            }
            for key in expiring
        ],
        "expired": [
            {"name": key.name, "hint": key.hint, "expires_at": key.expires_at} for key in expired
        ],
        "site_name": settings.SITE_NAME,
        "keys_url": f"{settings.SITE_URL}/account/apikeys" if settings.SITE_URL else "",
    }
    with translation.override(recipient_language(owner)):
        subject = render_to_string("apikeys/email/expiry_notice_subject.txt", context)
        body = render_to_string("apikeys/email/expiry_notice_message.txt", context)
    return f"[{settings.SITE_NAME}] {' '.join(subject.split())}", body
