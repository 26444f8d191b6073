"""``manage.py apikey``: create, list and revoke through the services."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from apikeys.authentication import Failure, authenticate, check
from apikeys.models import ApiKey, RevocationSource
from apikeys.scopes import Action, Grant
from audit.models import Event, EventKind


def apikey(*args) -> tuple[str, str]:
    """Run ``manage.py apikey *args``; returns its standard output and error."""
    stdout, stderr = StringIO(), StringIO()
    call_command("apikey", *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


def assert_nothing_written():
    assert not ApiKey.objects.exists()
    assert not Event.objects.exists()


# --- create --------------------------------------------------------------------


def test_create_prints_only_the_value_and_it_works(user):
    stdout, stderr = apikey(
        "create", "--user", "alice", "--name", "Release", "--scope", "push", "--glob", "Contoso.*"
    )

    # Scripts take the last line of standard output; it is the only line.
    (plaintext,) = stdout.splitlines()
    key = authenticate(plaintext)
    assert key.owner_id == user.pk
    assert key.grant == Grant.of([Action.PUSH], [], ["Contoso.*"])
    api_key = ApiKey.objects.get()
    assert api_key.name == "Release"
    assert api_key.expiration_days == 365
    assert api_key.hint in stderr
    assert plaintext not in stderr

    # The operator did it, not the owner: the event names no actor.
    event = Event.objects.get()
    assert event.kind == EventKind.API_KEY_CREATED
    assert event.actor is None
    assert event.subject_user == user
    assert event.api_key_id == api_key.pk


def test_create_takes_several_scopes_packages_and_a_lifetime(user, make_package):
    make_package("Contoso.Lib", user)
    make_package("Contoso.Tools", user)

    stdout, _ = apikey(
        "create",
        "--user=alice",
        "--name=Maintenance",
        "--scope=pushversion",
        "--scope=unlist",
        "--package=contoso.lib",
        "--package=Contoso.Tools",
        "--expires-in=30",
    )

    key = authenticate(stdout.splitlines()[-1])
    assert key.grant == Grant.of(
        [Action.PUSH_VERSION, Action.UNLIST], ["Contoso.Lib", "Contoso.Tools"], []
    )
    assert ApiKey.objects.get().expiration_days == 30


def test_create_defaults_to_the_longest_lifetime_when_it_is_shorter(user, settings):
    settings.APIKEYS_MAX_EXPIRATION_DAYS = 90

    apikey("create", "--user=alice", "--name=CI", "--scope=push", "--glob=*")

    assert ApiKey.objects.get().expiration_days == 90


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user=alice", "--scope=delete", "--glob=*"], "invalid choice"),
        (["--user=nobody", "--scope=push", "--glob=*"], "There is no user “nobody”"),
        (["--user=alice", "--scope=push"], "--package: Enter a glob pattern"),
        (["--user=alice", "--scope=push", "--package=Fabrikam.Core"], "do not own"),
        (["--user=alice", "--scope=push", "--scope=pushversion", "--glob=*"], "--scope:"),
        (["--user=alice", "--scope=push", "--glob=Contoso.?"], "--glob:"),
        (["--user=alice", "--scope=push", "--glob=*", "--expires-in=366"], "at most 365"),
        (["--user=alice", "--scope=push", "--glob=*", "--expires-in=0"], "not a number of days"),
        (["--user=unconfirmed", "--scope=push", "--glob=*"], "Confirm your email"),
    ],
    ids=[
        "bad scope",
        "unknown user",
        "no glob or package",
        "not owned",
        "push and pushversion",
        "bad glob",
        "too long",
        "no days",
        "unconfirmed",
    ],
)
def test_create_refuses_and_writes_nothing(user, make_user, make_package, args, message):
    make_user("unconfirmed", confirmed=False)
    make_package("Fabrikam.Core", make_user("bob"))

    with pytest.raises(CommandError, match=message) as raised:
        apikey("create", "--name=CI", *args)

    assert raised.value.returncode == 1
    assert_nothing_written()


def test_create_emails_the_owner(user, django_capture_on_commit_callbacks, mailoutbox):
    with django_capture_on_commit_callbacks(execute=True):
        stdout, _ = apikey("create", "--user=alice", "--name=CI", "--scope=push", "--glob=*")

    (message,) = mailoutbox
    assert "API key added" in message.subject
    assert stdout.strip() not in message.body


# --- list ----------------------------------------------------------------------


def test_list_shows_keys_but_never_their_values(user, make_user, make_key):
    api_key, plaintext = make_key(user, name="Release", actions=[Action.PUSH, Action.UNLIST])
    expired, _ = make_key(user, name="Old")
    ApiKey.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(days=1))
    revoked, _ = make_key(make_user("bob"), name="Leaked")
    revoked.revoked_at = timezone.now()
    revoked.save()

    stdout, _ = apikey("list")

    header, *lines = stdout.splitlines()
    assert header.split() == [
        "ID",
        "Owner",
        "Name",
        "Key",
        "Scopes",
        "Status",
        "Expires",
        "Last",
        "used",
    ]
    assert len(lines) == 3
    release = lines[0].split()
    assert release[:6] == [
        str(api_key.pk),
        "alice",
        "Release",
        api_key.hint,
        "push,unlist",
        "active",
    ]
    assert release[-1] == "never"
    assert lines[1].split()[5] == "expired"
    assert lines[2].split()[1:3] == ["bob", "Leaked"]
    assert lines[2].split()[5] == "revoked"
    assert plaintext not in stdout
    assert plaintext[4:-6] not in stdout
    for key in ApiKey.objects.all():
        assert key.digest not in stdout


def test_list_can_show_one_users_keys(user, make_user, make_key):
    make_key(user, name="Mine")
    make_key(make_user("bob"), name="Theirs")

    stdout, _ = apikey("list", "--user=alice")

    assert "Mine" in stdout
    assert "Theirs" not in stdout
    with pytest.raises(CommandError, match="There is no user"):
        apikey("list", "--user=nobody")


def test_list_keeps_control_characters_off_the_terminal(user, make_key):
    make_key(user, name="CI\x1b[2J\nkey")

    stdout, _ = apikey("list")

    assert "\x1b" not in stdout
    assert len(stdout.splitlines()) == 2


def test_list_says_when_there_are_no_keys(db):
    stdout, stderr = apikey("list")

    assert stdout == ""
    assert "No API keys." in stderr


# --- revoke --------------------------------------------------------------------


def test_revoke_stops_the_key_as_an_administrator(
    user, make_key, django_capture_on_commit_callbacks, mailoutbox
):
    api_key, plaintext = make_key(user)

    with django_capture_on_commit_callbacks(execute=True):
        stdout, _ = apikey("revoke", str(api_key.pk), "--reason", "Found in a public gist")

    assert api_key.hint in stdout
    assert authenticate(plaintext) is None
    assert check(plaintext).failure is Failure.REVOKED
    api_key.refresh_from_db()
    assert api_key.revocation_source == RevocationSource.ADMIN
    assert api_key.revocation_reason == "Found in a public gist"
    assert api_key.revoked_by is None
    event = Event.objects.get(kind=EventKind.API_KEY_REVOKED)
    assert event.actor is None
    assert event.details["source"] == "admin"
    assert event.details["reason"] == "Found in a public gist"
    (message,) = mailoutbox
    assert "An administrator revoked it." in message.body
    assert "Found in a public gist" in message.body


def test_revoking_twice_says_so_and_changes_nothing(user, make_key):
    api_key, _ = make_key(user)
    apikey("revoke", str(api_key.pk), "--reason=first")

    stdout, _ = apikey("revoke", str(api_key.pk), "--reason=second")

    assert "already revoked" in stdout
    assert ApiKey.objects.get().revocation_reason == "first"
    assert Event.objects.filter(kind=EventKind.API_KEY_REVOKED).count() == 1


def test_revoke_refuses_an_unknown_key(db):
    with pytest.raises(CommandError, match="There is no API key with ID 99"):
        apikey("revoke", "99", "--reason=typo")
