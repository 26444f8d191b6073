"""Expiry notices: one email per user, each key once per state, however it is run."""

import threading
import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections
from django.utils import timezone

from apikeys.models import ApiKey
from apikeys.notices import send_expiry_notices
from apikeys.services import api_key_regenerate, api_key_revoke
from audit.models import Event, EventKind

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def expiring_in(make_key, owner, days, **fields):
    """A key that expires ``days`` from now (a fraction of a day short, so days rounds up)."""
    api_key, _ = make_key(owner, expiration_days=days, **fields)
    return api_key


def expired_since(make_key, owner, ago, **fields):
    api_key, _ = make_key(owner, **fields)
    ApiKey.objects.filter(pk=api_key.pk).update(expires_at=timezone.now() - ago)
    api_key.refresh_from_db()
    return api_key


def notices_for(api_key):
    return Event.objects.filter(kind=EventKind.API_KEY_EXPIRY_NOTICE, api_key_id=api_key.pk)


def test_a_key_about_to_expire_is_notified_once(make_key, user, mailoutbox, settings):
    settings.SITE_URL = "https://nuget.example.com"
    api_key = expiring_in(make_key, user, 5, name="Release")

    summary = send_expiry_notices()

    assert (summary.users_emailed, summary.keys_notified, summary.users_failed) == (1, 1, 0)
    (message,) = mailoutbox
    assert message.to == ["alice@example.com"]
    assert message.from_email == settings.DEFAULT_FROM_EMAIL
    assert message.subject == "[NuGet Portal] Your API key is about to expire"
    assert f'"Release" ({api_key.hint}) is about to expire in 5 days' in message.body
    assert "https://nuget.example.com/account/apikeys" in message.body
    assert "has expired" not in message.body
    api_key.refresh_from_db()
    assert api_key.expiring_notice_for == api_key.expires_at
    assert api_key.expired_notice_for is None
    (event,) = notices_for(api_key)
    assert event.subject_user == user
    assert event.actor is None
    assert event.details["notice"] == "expiring"

    # Run it again, and again: nothing more.
    assert send_expiry_notices().users_emailed == 0
    assert send_expiry_notices(now=timezone.now() + 2 * DAY).users_emailed == 0
    assert len(mailoutbox) == 1
    assert notices_for(api_key).count() == 1


def test_keys_further_out_than_ten_days_wait(make_key, user, mailoutbox):
    api_key = expiring_in(make_key, user, 30)

    assert send_expiry_notices().users_emailed == 0
    # Twenty-one days on, it is nine days from expiry.
    assert send_expiry_notices(now=timezone.now() + 21 * DAY).keys_notified == 1
    assert "in 9 days" in mailoutbox[0].body
    assert notices_for(api_key).count() == 1


def test_an_expired_key_is_notified_once(make_key, user, mailoutbox):
    api_key = expiring_in(make_key, user, 5, name="Nightly")
    send_expiry_notices()

    later = timezone.now() + 6 * DAY
    summary = send_expiry_notices(now=later)

    assert summary.keys_notified == 1
    assert len(mailoutbox) == 2
    message = mailoutbox[1]
    assert message.subject == "[NuGet Portal] Your API key has expired"
    assert f'"Nightly" ({api_key.hint}) has expired' in message.body
    assert "about to expire" not in message.body
    api_key.refresh_from_db()
    assert api_key.expired_notice_for == api_key.expires_at
    assert [e.details["notice"] for e in notices_for(api_key).order_by("id")] == [
        "expiring",
        "expired",
    ]

    assert send_expiry_notices(now=later).users_emailed == 0
    assert send_expiry_notices(now=later + 30 * DAY).users_emailed == 0
    assert len(mailoutbox) == 2


def test_a_key_first_seen_expired_gets_only_the_expired_notice(make_key, user, mailoutbox):
    api_key = expired_since(make_key, user, DAY)

    send_expiry_notices()

    assert [e.details["notice"] for e in notices_for(api_key)] == ["expired"]
    assert "about to expire" not in mailoutbox[0].body
    api_key.refresh_from_db()
    assert api_key.expiring_notice_for is None


def test_a_key_that_expired_long_ago_is_notified_once_with_its_date(make_key, user, mailoutbox):
    # Keys that expired before notices existed: one late notice, dated, then never again.
    api_key = expired_since(make_key, user, 400 * DAY)

    send_expiry_notices()
    send_expiry_notices()

    (message,) = mailoutbox
    assert f"stopped working on {api_key.expires_at:%Y-%m-%d}" in message.body


def test_both_states_in_one_email_per_user(make_key, user, make_user, mailoutbox):
    soon = expiring_in(make_key, user, 3, name="Soon")
    other_soon = expiring_in(make_key, user, 8, name="Later")
    gone = expired_since(make_key, user, 2 * DAY, name="Gone")
    fine = expiring_in(make_key, user, 60, name="Fine")
    bob = make_user("bob")
    bobs = expired_since(make_key, bob, DAY, name="Bob's")

    summary = send_expiry_notices()

    assert (summary.users_emailed, summary.keys_notified) == (2, 4)
    by_recipient = {message.to[0]: message for message in mailoutbox}
    assert len(mailoutbox) == 2
    alices = by_recipient["alice@example.com"]
    assert alices.subject == "[NuGet Portal] Your API keys are about to expire or have expired"
    assert f'"Soon" ({soon.hint}) is about to expire in 3 days' in alices.body
    assert f'"Later" ({other_soon.hint}) is about to expire in 8 days' in alices.body
    assert f'"Gone" ({gone.hint}) has expired' in alices.body
    assert "Fine" not in alices.body
    assert "Bob" not in alices.body
    assert bobs.hint in by_recipient["bob@example.com"].body
    assert notices_for(fine).count() == 0


def test_one_day_left_is_singular(make_key, user, mailoutbox):
    api_key = expiring_in(make_key, user, 1)

    send_expiry_notices()

    assert f"({api_key.hint}) is about to expire in 1 day," in mailoutbox[0].body


def test_a_regenerated_key_is_notified_again(make_key, user, mailoutbox):
    api_key = expiring_in(make_key, user, 5)
    send_expiry_notices()
    send_expiry_notices(now=timezone.now() + 6 * DAY)
    assert len(mailoutbox) == 2

    # Regenerated, it has a new expiry date, five days out again.
    api_key, _ = api_key_regenerate(api_key=api_key, actor=user)
    send_expiry_notices()

    assert len(mailoutbox) == 3
    assert f"({api_key.hint}) is about to expire in 5 days" in mailoutbox[2].body
    send_expiry_notices()
    assert len(mailoutbox) == 3


def test_a_revoked_key_is_never_notified(make_key, user, mailoutbox):
    expiring = expiring_in(make_key, user, 5)
    expired = expired_since(make_key, user, DAY)
    api_key_revoke(api_key=expiring, actor=user)
    api_key_revoke(api_key=expired, actor=user)

    assert send_expiry_notices().users_emailed == 0
    assert send_expiry_notices(now=timezone.now() + 10 * DAY).users_emailed == 0
    assert mailoutbox == []


def test_an_owner_without_an_email_address_is_left_for_later(make_key, user, mailoutbox):
    api_key = expiring_in(make_key, user, 5)
    type(user).objects.filter(pk=user.pk).update(email="")

    assert send_expiry_notices().users_emailed == 0

    type(user).objects.filter(pk=user.pk).update(email="alice@example.com")
    assert send_expiry_notices().keys_notified == 1
    assert notices_for(api_key).count() == 1


def test_a_failed_send_is_retried_next_run_and_others_are_not_repeated(
    make_key, user, make_user, mailoutbox, monkeypatch
):
    bob = make_user("bob")
    carol = make_user("carol")
    for owner in (user, bob, carol):
        expiring_in(make_key, owner, 5)
    bobs_expired = expired_since(make_key, bob, DAY)
    real_send = EmailBackend.send_messages

    def refuse_bob(backend, messages):
        if any("bob@example.com" in message.to for message in messages):
            raise ConnectionRefusedError("the mail server is down")
        return real_send(backend, messages)

    monkeypatch.setattr(EmailBackend, "send_messages", refuse_bob)
    first = send_expiry_notices()

    assert (first.users_emailed, first.keys_notified, first.users_failed) == (2, 2, 1)
    assert sorted(m.to[0] for m in mailoutbox) == ["alice@example.com", "carol@example.com"]
    # Bob's keys were not marked, and no event claims a notice went out.
    assert ApiKey.objects.filter(owner=bob, expiring_notice_for__isnull=False).count() == 0
    assert notices_for(bobs_expired).count() == 0
    assert not Event.objects.filter(kind=EventKind.API_KEY_EXPIRY_NOTICE, subject_user=bob)

    monkeypatch.setattr(EmailBackend, "send_messages", real_send)
    second = send_expiry_notices()

    assert (second.users_emailed, second.keys_notified, second.users_failed) == (1, 2, 0)
    assert [m.to[0] for m in mailoutbox[2:]] == ["bob@example.com"]
    assert "has expired" in mailoutbox[2].body and "about to expire" in mailoutbox[2].body


def test_the_command_prints_a_summary(make_key, user, make_user, mailoutbox):
    expiring_in(make_key, user, 5)
    expired_since(make_key, user, DAY)
    expiring_in(make_key, make_user("bob"), 2)
    stdout = StringIO()

    call_command("send_key_expiry_notices", stdout=stdout)

    assert stdout.getvalue().strip() == "Users emailed: 2. API keys notified: 3."
    assert len(mailoutbox) == 2


def test_the_command_fails_when_a_user_could_not_be_emailed(make_key, user, monkeypatch):
    expiring_in(make_key, user, 5)

    def refuse(backend, messages):
        raise ConnectionRefusedError("the mail server is down")

    monkeypatch.setattr(EmailBackend, "send_messages", refuse)
    stdout = StringIO()
    with pytest.raises(CommandError, match="Could not email 1 user"):
        call_command("send_key_expiry_notices", stdout=stdout)
    assert "Users emailed: 0. API keys notified: 0." in stdout.getvalue()


# --- Two runs at once ------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_send_one_email_per_user(make_key, make_user, monkeypatch):
    # Several keys per user, so that two runs reading the same user's keys at the
    # same moment could each lock a part of them: the split this must not allow.
    keys_each = 8
    owners = [make_user(f"user{n}") for n in range(4)]
    for owner in owners:
        for n in range(keys_each // 2):
            expiring_in(make_key, owner, 5 + n)
            expired_since(make_key, owner, DAY * (n + 1))
    mail.outbox.clear()  # the "key added" emails, sent on commit here
    real_send = EmailBackend.send_messages

    def slow_send(backend, messages):
        # Hold each user's transaction open long enough for the other run to
        # reach the same user: on PostgreSQL it skips the locked rows, on
        # SQLite it waits for the write lock and then finds nothing due.
        time.sleep(0.2)
        return real_send(backend, messages)

    monkeypatch.setattr(EmailBackend, "send_messages", slow_send)
    start = threading.Barrier(2)
    summaries, errors = [], []

    def run():
        try:
            start.wait()
            summaries.append(send_expiry_notices())
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors
    assert len(summaries) == 2
    assert sum(s.users_failed for s in summaries) == 0
    assert sum(s.users_emailed for s in summaries) == len(owners)
    assert sum(s.keys_notified for s in summaries) == keys_each * len(owners)
    recipients = sorted(message.to[0] for message in mail.outbox)
    assert recipients == sorted(owner.email for owner in owners)
    notices = Event.objects.filter(kind=EventKind.API_KEY_EXPIRY_NOTICE)
    assert notices.count() == keys_each * len(owners)
    # And a third run, afterwards, has nothing left to do.
    assert send_expiry_notices().users_emailed == 0


# --- Keys that act for an organization ----------------------------------------------


@pytest.fixture
def contoso(make_user, make_organization, user):
    # Two administrators (olivia, oscar), one collaborator (alice, the fixture user).
    oscar = make_user("oscar")
    return make_organization("Contoso", make_user("olivia"), {oscar: "admin", user: "collaborator"})


def recipients(mailoutbox):
    return sorted(address for message in mailoutbox for address in message.to)


def test_a_members_organization_key_reaches_its_creator_and_every_administrator_once(
    make_key, user, contoso, mailoutbox, settings
):
    settings.SITE_URL = "https://nuget.example.com"
    api_key = expiring_in(make_key, user, 5, name="Alice CI", package_owner=contoso.account)

    summary = send_expiry_notices()

    assert (summary.users_emailed, summary.keys_notified, summary.users_failed) == (3, 1, 0)
    assert recipients(mailoutbox) == [
        "alice@example.com",
        "olivia@example.com",
        "oscar@example.com",
    ]
    by_recipient = {message.to[0]: message for message in mailoutbox}
    for message in mailoutbox:
        assert (
            message.subject
            == "[NuGet Portal] API keys of Contoso are about to expire or have expired"
        )
        assert f'"Alice CI" ({api_key.hint}) is about to expire in 5 days' in message.body
        assert "act for the organization Contoso" in message.body
        assert "Created by alice." in message.body
    # Administrators are sent to the organization's page, the member to their own.
    assert (
        "https://nuget.example.com/organization/Contoso/apikeys"
        in by_recipient["olivia@example.com"].body
    )
    assert "https://nuget.example.com/account/apikeys" in by_recipient["alice@example.com"].body
    (event,) = notices_for(api_key)
    assert event.details["recipients"] == ["alice", "olivia", "oscar"]

    # Once per state: nothing more until it expires, then once more each.
    assert send_expiry_notices().users_emailed == 0
    assert send_expiry_notices(now=timezone.now() + 6 * DAY).users_emailed == 3
    assert send_expiry_notices(now=timezone.now() + 7 * DAY).users_emailed == 0
    assert len(mailoutbox) == 6
    assert "has expired" in mailoutbox[-1].body


def test_an_organization_key_reaches_the_administrators_and_its_creator_once_each(
    make_key, contoso, mailoutbox
):
    olivia = contoso.memberships.get(user__username="olivia").user
    expired_since(make_key, contoso.account, DAY, name="Org release", actor=olivia)

    summary = send_expiry_notices()

    # Olivia made it and administers it: one email, not two. The collaborator
    # hears nothing of keys that are not theirs.
    assert (summary.users_emailed, summary.keys_notified) == (2, 1)
    assert recipients(mailoutbox) == ["olivia@example.com", "oscar@example.com"]
    for message in mailoutbox:
        assert message.body.count('"Org release"') == 1
        assert "Created by olivia." in message.body
    assert send_expiry_notices().users_emailed == 0


def test_a_user_hears_of_their_own_keys_apart_from_the_organizations(
    make_key, user, contoso, mailoutbox
):
    expiring_in(make_key, user, 5, name="Own")
    expiring_in(make_key, user, 5, name="For Contoso", package_owner=contoso.account)

    send_expiry_notices()

    alices = [m for m in mailoutbox if m.to == ["alice@example.com"]]
    assert len(alices) == 2
    own = next(m for m in alices if "Own" in m.body)
    assert "For Contoso" not in own.body
    assert own.subject == "[NuGet Portal] Your API key is about to expire"
    assert send_expiry_notices().users_emailed == 0
