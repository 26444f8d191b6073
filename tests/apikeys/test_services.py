"""The key services on the real database: what each writes, records and sends."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.test import RequestFactory
from django.utils import timezone

from apikeys import conf, keys
from apikeys.authentication import Failure, authenticate, check
from apikeys.models import ApiKey, RevocationSource
from apikeys.scopes import Action
from apikeys.services import (
    api_key_delete,
    api_key_edit,
    api_key_regenerate,
    api_key_revoke,
)
from audit.models import AppendOnlyError, Event, EventKind

PUSH = Action.PUSH.value
PUSH_VERSION = Action.PUSH_VERSION.value
UNLIST = Action.UNLIST.value


@pytest.fixture
def clock(monkeypatch):
    """Pins ``timezone.now()``, the one clock the services read, and lets a test move it."""

    class Clock:
        now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

        def advance(self, **delta):
            self.now += timedelta(**delta)

    pinned = Clock()
    monkeypatch.setattr(timezone, "now", lambda: pinned.now)
    return pinned


def stored_text(model, pk) -> str:
    """Every stored column of one row, as text, to search for secrets in."""
    return json.dumps(model.objects.filter(pk=pk).values().get(), default=str)


def assert_nothing_written():
    assert not ApiKey.objects.exists()
    assert not Event.objects.exists()


# --- create --------------------------------------------------------------------


def test_create_returns_the_key_and_its_only_plaintext(user, make_key):
    api_key, plaintext = make_key(user, expiration_days=30)

    assert keys.parse(plaintext) is not None
    stored = ApiKey.objects.get(pk=api_key.pk)
    assert stored.owner == user
    assert stored.name == "CI key"
    assert stored.actions == [PUSH]
    assert stored.globs == ["*"]
    assert stored.package_ids == []
    assert stored.digest == keys.digest(plaintext, conf.peppers()[0])
    assert stored.hint == keys.hint(plaintext) == f"ngk_…{plaintext[-4:]}"
    assert stored.expiration_days == 30
    assert stored.expires_at == stored.created_at + timedelta(days=30)
    assert stored.last_used_at is None
    assert not stored.is_revoked
    # The value itself is nowhere in the row, nor is its secret part.
    assert plaintext not in stored_text(ApiKey, api_key.pk)
    assert plaintext[4:-6] not in stored_text(ApiKey, api_key.pk)


def test_create_tidies_its_input(user, make_package, make_key):
    make_package("Contoso.Lib", user)
    api_key, _ = make_key(
        user,
        name="  Release pipeline  ",
        actions=[UNLIST, PUSH, UNLIST],
        package_ids=["contoso.LIB"],
    )

    api_key.refresh_from_db()
    assert api_key.name == "Release pipeline"
    assert api_key.actions == sorted([PUSH, UNLIST])
    # Picked packages are stored in their display casing.
    assert api_key.package_ids == ["Contoso.Lib"]
    assert api_key.globs == []


def test_each_key_gets_its_own_value(user, make_key):
    first_key, first = make_key(user)
    second_key, second = make_key(user)

    assert first != second
    assert first_key.digest != second_key.digest


def test_create_records_an_event_naming_the_scopes_but_no_secret(user, make_package, make_key):
    make_package("Contoso.Lib", user)
    api_key, plaintext = make_key(
        user, actions=[PUSH, UNLIST], package_ids=["Contoso.Lib"], globs=["Contoso.*"]
    )

    event = Event.objects.get()
    assert event.kind == EventKind.API_KEY_CREATED
    assert event.actor == user
    assert event.actor_username == "alice"
    assert event.subject_user == user
    assert event.api_key_id == api_key.pk
    assert event.api_key_hint == api_key.hint
    assert event.details == {
        "name": "CI key",
        "actions": [PUSH, UNLIST],
        "packages": ["Contoso.Lib"],
        "globs": ["Contoso.*"],
        "expires_at": api_key.expires_at.isoformat(),
    }
    everything = stored_text(Event, event.pk)
    assert plaintext not in everything
    assert plaintext[4:-6] not in everything
    assert api_key.digest not in everything


def test_create_records_who_asked_from_where(user, make_key):
    request = RequestFactory().post(
        "/account/apikeys/create", REMOTE_ADDR="203.0.113.7", HTTP_USER_AGENT="Firefox/140"
    )

    make_key(user, request=request)

    event = Event.objects.get()
    assert event.ip == "203.0.113.7"
    assert event.user_agent == "Firefox/140"


def test_create_sends_the_key_added_email_after_commit(
    user, make_key, django_capture_on_commit_callbacks, mailoutbox
):
    with django_capture_on_commit_callbacks(execute=True):
        api_key, plaintext = make_key(user)
        # Nothing leaves before the transaction commits.
        assert mailoutbox == []

    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == ["alice@example.com"]
    assert "API key added" in message.subject
    assert "CI key" in message.body
    assert api_key.hint in message.body
    for secret in (plaintext, plaintext[4:-6], api_key.digest):
        assert secret not in message.subject
        assert secret not in message.body


def test_no_email_when_the_transaction_rolls_back(
    user, make_key, django_capture_on_commit_callbacks, mailoutbox
):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        make_key(user)
        raise RuntimeError("the caller failed after creating the key")

    assert callbacks == []
    assert mailoutbox == []
    assert_nothing_written()


# --- create: validation ----------------------------------------------------------


def test_an_unconfirmed_email_address_cannot_create_keys(
    make_user, make_key, django_capture_on_commit_callbacks, mailoutbox
):
    bob = make_user("bob", confirmed=False)

    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(ValidationError, match="Confirm your email address"),
    ):
        make_key(bob)

    assert_nothing_written()
    assert mailoutbox == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 257}, "name"),
        ({"actions": []}, "actions"),
        ({"actions": ["package:delete"]}, "actions"),
        ({"actions": [PUSH, PUSH_VERSION]}, "actions"),
        ({"globs": ["Contoso.?"]}, "globs"),
        ({"globs": ["Contoso.*\n"]}, "globs"),
        ({"globs": [""]}, "globs"),
        ({"globs": [f"Contoso{n}.*" for n in range(11)]}, "globs"),
        ({"globs": [], "package_ids": []}, "package_ids"),
        ({"expiration_days": 366}, "expiration_days"),
    ],
    ids=[
        "empty name",
        "blank name",
        "name too long",
        "no scope",
        "unknown scope",
        "push and pushversion",
        "question mark glob",
        "glob with newline",
        "empty glob",
        "eleven globs",
        "no glob and no package",
        "too long",
    ],
)
def test_create_refuses_invalid_keys_and_writes_nothing(
    user, make_key, overrides, field, django_capture_on_commit_callbacks, mailoutbox
):
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(ValidationError) as raised,
    ):
        make_key(user, **overrides)

    assert field in raised.value.message_dict
    assert_nothing_written()
    assert mailoutbox == []


def test_limits_are_inclusive(user, make_key):
    api_key, _ = make_key(
        user,
        name="x" * 256,
        globs=[f"Contoso{n}.*" for n in range(10)],
        expiration_days=365,
    )

    assert len(api_key.name) == 256
    assert len(api_key.globs) == 10


def test_a_zero_day_key_is_refused(user, make_key):
    with pytest.raises(ValidationError):
        make_key(user, expiration_days=0)

    assert_nothing_written()


@pytest.mark.parametrize(
    "picked",
    [["Fabrikam.Core"], ["No.Such.Package"], ["Contoso.Lib", "Fabrikam.Core"]],
    ids=["someone else's", "nobody's", "one of two someone else's"],
)
def test_create_refuses_packages_the_owner_does_not_own(
    user,
    make_user,
    make_package,
    make_key,
    picked,
    django_capture_on_commit_callbacks,
    mailoutbox,
):
    make_package("Contoso.Lib", user)
    make_package("Fabrikam.Core", make_user("bob"))

    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(ValidationError) as raised,
    ):
        make_key(user, package_ids=picked)

    (message,) = raised.value.message_dict["package_ids"]
    assert picked[-1] in message
    assert "Contoso.Lib" not in message
    assert_nothing_written()
    assert mailoutbox == []


def test_the_longest_lifetime_is_a_setting(user, make_key, settings):
    settings.APIKEYS_MAX_EXPIRATION_DAYS = 30

    with pytest.raises(ValidationError) as raised:
        make_key(user, expiration_days=31)
    assert "at most 30 days" in raised.value.message_dict["expiration_days"][0]
    assert_nothing_written()

    api_key, _ = make_key(user, expiration_days=30)
    assert api_key.expiration_days == 30


# --- edit ----------------------------------------------------------------------


def test_edit_changes_only_packages_and_globs(user, make_package, make_key):
    make_package("Contoso.Lib", user)
    make_package("Fabrikam.Core", user)
    api_key, plaintext = make_key(user, package_ids=["Contoso.Lib"], globs=["Contoso.*"])
    before = ApiKey.objects.values().get(pk=api_key.pk)

    api_key_edit(api_key=api_key, package_ids=["fabrikam.core"], globs=["Fabrikam.*"], actor=user)

    after = ApiKey.objects.values().get(pk=api_key.pk)
    assert after["package_ids"] == ["Fabrikam.Core"]
    assert after["globs"] == ["Fabrikam.*"]
    unchanged = set(before) - {"package_ids", "globs"}
    assert {name: after[name] for name in unchanged} == {name: before[name] for name in unchanged}
    # The same value still works, now for the new packages only.
    grant = authenticate(plaintext).grant
    assert grant.covers("Fabrikam.Core.Tests")
    assert not grant.covers("Contoso.Lib")


def test_edit_records_before_and_after(user, make_package, make_key):
    make_package("Contoso.Lib", user)
    api_key, _ = make_key(user, globs=["Contoso.*"])

    api_key_edit(api_key=api_key, package_ids=["Contoso.Lib"], globs=[], actor=user)

    event = Event.objects.get(kind=EventKind.API_KEY_EDITED)
    assert event.actor == user
    assert event.subject_user == user
    assert event.api_key_id == api_key.pk
    assert event.api_key_hint == api_key.hint
    assert event.details == {
        "before": {"packages": [], "globs": ["Contoso.*"]},
        "after": {"packages": ["Contoso.Lib"], "globs": []},
    }


@pytest.mark.parametrize(
    ("package_ids", "globs", "field"),
    [
        (["Fabrikam.Core"], ["*"], "package_ids"),
        ([], [], "package_ids"),
        ([], ["Contoso.["], "globs"),
    ],
    ids=["someone else's package", "nothing", "bad glob"],
)
def test_edit_refuses_invalid_changes(
    user, make_user, make_package, make_key, package_ids, globs, field
):
    make_package("Fabrikam.Core", make_user("bob"))
    api_key, _ = make_key(user, globs=["Contoso.*"])

    with pytest.raises(ValidationError) as raised:
        api_key_edit(api_key=api_key, package_ids=package_ids, globs=globs, actor=user)

    assert field in raised.value.message_dict
    stored = ApiKey.objects.get(pk=api_key.pk)
    assert (stored.package_ids, stored.globs) == ([], ["Contoso.*"])
    assert not Event.objects.filter(kind=EventKind.API_KEY_EDITED).exists()


# --- regenerate ----------------------------------------------------------------


def test_regenerate_replaces_the_value_and_restarts_the_clock(
    user, make_package, make_key, clock, django_capture_on_commit_callbacks, mailoutbox
):
    make_package("Contoso.Lib", user)
    api_key, old = make_key(
        user, actions=[PUSH_VERSION], package_ids=["Contoso.Lib"], expiration_days=90
    )
    old_hint = api_key.hint
    clock.advance(days=10)

    with django_capture_on_commit_callbacks(execute=True):
        same_key, new = api_key_regenerate(api_key=api_key, actor=user)

    assert new != old
    assert authenticate(old) is None
    assert check(old).failure is Failure.UNKNOWN
    assert authenticate(new).pk == api_key.pk
    stored = ApiKey.objects.get()
    assert stored.pk == same_key.pk == api_key.pk
    assert (stored.name, stored.owner, stored.actions, stored.package_ids, stored.globs) == (
        "CI key",
        user,
        [PUSH_VERSION],
        ["Contoso.Lib"],
        [],
    )
    assert stored.expiration_days == 90
    assert stored.expires_at == clock.now + timedelta(days=90)
    assert stored.hint == keys.hint(new)
    assert stored.digest == keys.digest(new, conf.peppers()[0])

    event = Event.objects.get(kind=EventKind.API_KEY_REGENERATED)
    assert event.actor == user
    assert event.api_key_id == api_key.pk
    assert event.api_key_hint == stored.hint
    assert event.details["previous_hint"] == old_hint
    assert event.details["actions"] == [PUSH_VERSION]
    for secret in (old, new, stored.digest):
        assert secret not in stored_text(Event, event.pk)

    (message,) = mailoutbox
    assert "API key regenerated" in message.subject
    assert stored.hint in message.body
    assert new not in message.body
    assert old not in message.body


def test_regenerate_revives_an_expired_key(user, make_key, clock):
    api_key, old = make_key(user, expiration_days=30)
    clock.advance(days=31)
    assert check(old).failure is Failure.EXPIRED

    _, new = api_key_regenerate(api_key=api_key, actor=user)

    assert authenticate(new).expires_at == clock.now + timedelta(days=30)


def test_regenerate_revives_a_revoked_key(user, make_key):
    api_key, _ = make_key(user)
    api_key_revoke(api_key=api_key, actor=user, reason="rotating")

    _, new = api_key_regenerate(api_key=api_key, actor=user)

    assert authenticate(new) is not None
    stored = ApiKey.objects.get()
    assert stored.revoked_at is None
    assert stored.revoked_by is None
    assert stored.revocation_source == ""
    assert stored.revocation_reason == ""
    assert stored.is_active()


# --- revoke --------------------------------------------------------------------


def test_revoke_stops_the_key_and_keeps_it_listed(
    user, make_key, clock, django_capture_on_commit_callbacks, mailoutbox
):
    api_key, plaintext = make_key(user)

    with django_capture_on_commit_callbacks(execute=True):
        api_key_revoke(api_key=api_key, actor=user, reason="laptop stolen")

    stored = ApiKey.objects.get(pk=api_key.pk)
    assert stored.revoked_at == clock.now
    assert stored.revoked_by == user
    assert stored.revocation_source == RevocationSource.USER
    assert stored.revocation_reason == "laptop stolen"
    assert not stored.is_active()
    assert authenticate(plaintext) is None
    outcome = check(plaintext)
    assert (outcome.failure, outcome.key_id, outcome.hint) == (
        Failure.REVOKED,
        api_key.pk,
        api_key.hint,
    )

    event = Event.objects.get(kind=EventKind.API_KEY_REVOKED)
    assert event.actor == user
    assert event.subject_user == user
    assert event.api_key_id == api_key.pk
    assert event.details == {"name": "CI key", "source": "user", "reason": "laptop stolen"}

    (message,) = mailoutbox
    assert "API key revoked" in message.subject
    assert api_key.hint in message.body
    assert plaintext not in message.body


def test_revoking_twice_changes_nothing_more(
    user, make_user, make_key, django_capture_on_commit_callbacks, mailoutbox
):
    api_key, _ = make_key(user)
    # A stale copy, as when two revocations race (GitHub reports a leak more than once).
    stale = ApiKey.objects.get(pk=api_key.pk)

    with django_capture_on_commit_callbacks(execute=True):
        api_key_revoke(api_key=api_key, actor=user, reason="first")
        first = ApiKey.objects.values().get(pk=api_key.pk)
        api_key_revoke(api_key=api_key, actor=user, reason="again")
        api_key_revoke(
            api_key=ApiKey.objects.get(pk=api_key.pk), actor=user, reason="from the database"
        )
        api_key_revoke(
            api_key=stale, actor=make_user("admin"), source=RevocationSource.ADMIN, reason="stale"
        )

    assert ApiKey.objects.values().get(pk=api_key.pk) == first
    assert stale.revocation_reason == "first"
    assert Event.objects.filter(kind=EventKind.API_KEY_REVOKED).count() == 1
    assert len(mailoutbox) == 1


def test_a_leak_revocation_names_where_it_was_found(
    user, make_key, django_capture_on_commit_callbacks, mailoutbox
):
    api_key, _ = make_key(user)
    leak_url = "https://github.com/contoso/pipeline/blob/main/build.ps1"

    with django_capture_on_commit_callbacks(execute=True):
        api_key_revoke(
            api_key=api_key,
            actor=None,
            source=RevocationSource.GITHUB,
            reason="GitHub secret scanning",
            leak_url=leak_url,
        )

    stored = ApiKey.objects.get()
    assert stored.revocation_source == RevocationSource.GITHUB
    assert stored.revoked_by is None
    event = Event.objects.get(kind=EventKind.API_KEY_REVOKED)
    assert event.actor is None
    assert event.actor_username == ""
    assert event.details["leak_url"] == leak_url
    (message,) = mailoutbox
    assert leak_url in message.body


# --- delete --------------------------------------------------------------------


def test_delete_removes_the_key_but_not_its_history(
    user, make_key, django_capture_on_commit_callbacks, mailoutbox
):
    api_key, plaintext = make_key(user)
    pk, hint = api_key.pk, api_key.hint

    with django_capture_on_commit_callbacks(execute=True):
        api_key_delete(api_key=api_key, actor=user)

    assert not ApiKey.objects.filter(pk=pk).exists()
    assert check(plaintext).failure is Failure.UNKNOWN
    events = Event.objects.filter(api_key_id=pk)
    assert {event.kind for event in events} == {
        EventKind.API_KEY_CREATED,
        EventKind.API_KEY_DELETED,
    }
    deleted = events.get(kind=EventKind.API_KEY_DELETED)
    assert deleted.api_key_hint == hint
    assert deleted.actor == user
    assert deleted.details["name"] == "CI key"
    (message,) = mailoutbox
    assert "API key removed" in message.subject
    assert "CI key" in message.body
    assert hint in message.body


# --- the audit log is append-only ----------------------------------------------


def test_audit_events_cannot_be_changed_or_removed(user, make_key):
    make_key(user)
    event = Event.objects.get()
    original = Event.objects.values().get(pk=event.pk)

    event.details = {}
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        # A new instance given the row's pk would otherwise overwrite it.
        Event(pk=event.pk, kind=EventKind.API_KEY_DELETED).save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        Event.objects.filter(pk=event.pk).update(details={})
    with pytest.raises(AppendOnlyError):
        Event.objects.all().delete()
    # bulk_update breaks the enclosing transaction when it fails: give it its own.
    with pytest.raises(AppendOnlyError), transaction.atomic():
        Event.objects.bulk_update([event], ["details"])

    assert Event.objects.values().get(pk=event.pk) == original


def test_the_key_added_email_names_the_scopes_in_words(
    user, make_key, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        make_key(user, actions=["package:push", "package:unlist"])
    body = mailoutbox[-1].body
    assert (
        "Scopes: Push new packages and package versions, Unlist or relist package versions" in body
    )
    assert "[" not in body.split("Scopes:")[1].splitlines()[0]
