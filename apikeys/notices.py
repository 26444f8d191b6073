"""Expiry notices: "about to expire" ``EXPIRY_WARNING`` ahead, then "has expired", once each.

``send_expiry_notices()`` is run from cron (``manage.py send_key_expiry_notices``).
Keys are taken by the account they act for. A user's own keys: one email to the
user, listing every key of theirs that is due. An organization's keys (its own
keys and its members' organization-scoped keys): one email to each of the
organization's administrators, listing them all, and one to each key's creator
(the member, or the administrator who made an organization key) listing theirs;
someone who is both gets one email. Each key's notice is then marked as sent for
the expiry date it announced.

Exactly once, however it is run. Each account is one transaction:

1. claim the account: on PostgreSQL a transaction-scoped advisory lock on the
   account's id, taken without waiting (an account another run holds is
   skipped); then lock its due keys (``SELECT ... FOR UPDATE SKIP LOCKED``,
   which leaves out a key a regeneration holds at that moment);
2. render the emails;
3. mark the keys notified and write one audit event per key;
4. send the emails;
5. commit.

- If sending fails (step 4), the transaction rolls back: the keys stay due and
  the next run tries again. Nothing is skipped. For an organization, the
  recipients emailed before the failure get theirs a second time then.
- Two runs at once: on PostgreSQL the second run skips an account the first
  holds, and once the first commits its keys are no longer due. Row locks alone
  would not do: two ``SKIP LOCKED`` reads of the same account's keys can each
  lock part of them and email the user twice, once per half. On SQLite
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
- Owners without an email address are left out; their keys stay due. So is a
  key acting for an organization when neither its creator nor any
  administrator has an address.
"""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.utils import timezone, translation

from accounts.emails import recipient_language
from accounts.models import Organization
from accounts.services import administrators_of
from apikeys.emails import keys_url
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
    # Emails sent (a user can get one about their own keys and one per organization).
    users_emailed: int = 0
    keys_notified: int = 0
    # Accounts whose emails could not be sent; their keys stay due.
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
    # Someone to tell: a user's own key, its owner's address; a key acting for an
    # organization, its creator's or an administrator's (looked at when sending).
    reachable = (
        ~Q(owner__email="") | Q(package_owner__isnull=False) | Q(owner__organization__isnull=False)
    )
    return (
        # Short-lived keys from trusted publishing expire by design: no notices.
        ApiKey.objects.filter(revoked_at__isnull=True, policy__isnull=True)
        .filter(expiring | expired)
        .filter(reachable)
    )


def send_expiry_notices(now=None) -> NoticeSummary:
    """Email everyone whose keys are due; returns what was done."""
    now = now or timezone.now()
    summary = NoticeSummary()
    # Read without locks: an account listed here may be done by a concurrent run
    # by the time we reach it, which the locked re-read below finds out.
    account_ids = list(
        _due(now)
        .annotate(account=Coalesce("package_owner_id", "owner_id"))
        .order_by("account")
        .values_list("account", flat=True)
        .distinct()
    )
    for account_id in account_ids:
        try:
            emailed, notified = _notify_account(account_id, now)
        except Exception:
            # One account's failure (mail server refused, database busy) must not
            # stop the others; its keys stay due for the next run.
            logger.exception(
                "Expiry notice for account %s failed; it is retried next run", account_id
            )
            summary.users_failed += 1
            continue
        summary.users_emailed += emailed
        summary.keys_notified += notified
    return summary


def _recipients(keys, organization) -> dict:
    """Who hears about which keys: ``{user pk: (user, [keys], is_administrator)}``,
    only users with an address."""
    if organization is None:
        # A user's own keys.
        told = [(key.owner, key, False) for key in keys]
    else:
        administrators = administrators_of(organization)
        told = [(admin, key, True) for key in keys for admin in administrators]
        told += [(key.creator, key, False) for key in keys]
    recipients = {}
    for user, key, is_administrator in told:
        if user is None or not user.email:
            continue
        _user, its_keys, was_administrator = recipients.setdefault(user.pk, (user, [], False))
        if key not in its_keys:
            its_keys.append(key)
        recipients[user.pk] = (user, its_keys, was_administrator or is_administrator)
    return recipients


def _notify_account(account_id, now) -> tuple[int, int]:
    """Email about one account's due keys; returns (emails sent, keys covered)."""
    with transaction.atomic():
        if not _claim(account_id):
            return 0, 0
        keys = list(
            _due(now)
            .filter(
                Q(package_owner_id=account_id) | Q(package_owner__isnull=True, owner_id=account_id)
            )
            .select_related("owner", "package_owner", "created_by")
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("expires_at", "pk")
        )
        if not keys:
            return 0, 0
        organization = (
            Organization.objects.select_related("account").filter(account_id=account_id).first()
        )
        recipients = _recipients(keys, organization)
        told = {key.pk for _user, its_keys, _admin in recipients.values() for key in its_keys}
        # A key nobody can be told about stays due.
        keys = [key for key in keys if key.pk in told]
        if not keys:
            return 0, 0
        messages = [
            _render(user, its_keys, now, organization=organization, administrator=administrator)
            for user, its_keys, administrator in recipients.values()
        ]

        for key in keys:
            if key.expires_at > now:
                key.expiring_notice_for = key.expires_at
            else:
                key.expired_notice_for = key.expires_at
        ApiKey.objects.bulk_update(keys, ["expiring_notice_for", "expired_notice_for"])
        for key in keys:
            details = {
                "notice": EXPIRING if key.expires_at > now else EXPIRED,
                "name": key.name,
                "expires_at": key.expires_at.isoformat(),
            }
            if organization is not None:
                details["organization"] = organization.name
                details["recipients"] = sorted(
                    user.get_username()
                    for user, its_keys, _admin in recipients.values()
                    if key in its_keys
                )
            record(EventKind.API_KEY_EXPIRY_NOTICE, subject_user=key.owner, api_key=key,
                   details=details)  # fmt: skip

        # Last inside the transaction: if one raises, everything above rolls back.
        for subject, body, address in messages:
            send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [address])
    return len(messages), len(keys)


def _claim(account_id) -> bool:
    """Hold this account for the rest of the transaction; False if another run does."""
    if connection.vendor != "postgresql":
        # SQLite: the transaction began with BEGIN IMMEDIATE, so this run is the
        # only writer until it commits.
        return True
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_try_advisory_xact_lock(hashtext(%s), %s)", [_LOCK_NAMESPACE, account_id]
        )
        return cursor.fetchone()[0]


def _render(recipient, keys, now, *, organization, administrator) -> tuple[str, str, str]:
    expiring = [key for key in keys if key.expires_at > now]
    expired = [key for key in keys if key.expires_at <= now]

    def creator(key):
        # Named for an organization's keys: its administrators see everyone's.
        return key.creator.get_username() if organization is not None and key.creator else ""

    context = {
        "owner": recipient,
        "organization": organization.name if organization is not None else "",
        "expiring": [
            {
                "name": key.name,
                "hint": key.hint,
                "expires_at": key.expires_at,
                "days": key.days_left(now),
                "creator": creator(key),
            }
            for key in expiring
        ],
        "expired": [
            {
                "name": key.name,
                "hint": key.hint,
                "expires_at": key.expires_at,
                "creator": creator(key),
            }
            for key in expired
        ],
        "site_name": settings.SITE_NAME,
        # Administrators manage the organization's keys on its page; a member
        # regenerates their own on theirs.
        "keys_url": keys_url(organization.account if administrator else recipient),
    }
    with translation.override(recipient_language(recipient)):
        subject = render_to_string("apikeys/email/expiry_notice_subject.txt", context)
        body = render_to_string("apikeys/email/expiry_notice_message.txt", context)
    return f"[{settings.SITE_NAME}] {' '.join(subject.split())}", body, recipient.email
