"""Policies' services: their keys die with every change; the purge; no secret anywhere."""

import logging
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from apikeys import keys
from apikeys.authentication import authenticate
from apikeys.models import ApiKey, RevocationSource
from audit.models import Event, EventKind
from tests.apikeys.test_no_plaintext import every_cell
from trustedpublishing import services
from trustedpublishing.models import Policy, UsedToken

from .conftest import AUDIENCE
from .test_exchange import exchange


@pytest.fixture
def minted(client, issuer, user, make_policy):
    """A policy and the value of a key it minted."""
    policy = make_policy(user)
    response = exchange(client, issuer.token("github", AUDIENCE))
    assert response.status_code == 200
    return policy, response.json()["apiKey"]


def test_editing_a_policy_revokes_its_live_keys(minted, user):
    policy, value = minted
    assert authenticate(value) is not None
    services.policy_edit(policy=policy, actor=user, name="renamed")
    assert authenticate(value) is None
    api_key = ApiKey.objects.get(policy=policy)
    assert api_key.revocation_source == RevocationSource.POLICY
    event = Event.objects.get(kind=EventKind.TP_POLICY_EDITED)
    assert event.details["revoked_keys"] == [api_key.pk]
    # The IDs stay recorded while the identity is the same.
    policy.refresh_from_db()
    assert policy.ids_locked


def test_a_new_repository_forgets_the_recorded_ids(minted, user):
    policy, _value = minted
    services.policy_edit(policy=policy, actor=user, subject="gadgets")
    policy.refresh_from_db()
    assert not policy.ids_locked and policy.is_armed()


def test_disabling_a_policy_revokes_its_live_keys(minted, user):
    policy, value = minted
    services.policy_set_enabled(policy=policy, enabled=False, actor=user)
    assert authenticate(value) is None


def test_deleting_a_policy_kills_and_removes_its_keys(minted, user):
    policy, value = minted
    key_id = ApiKey.objects.get(policy=policy).pk
    services.policy_delete(policy=policy, actor=user)
    assert authenticate(value) is None
    assert not ApiKey.objects.filter(pk=key_id).exists()
    event = Event.objects.get(kind=EventKind.TP_POLICY_DELETED)
    assert event.details["revoked_keys"] == [key_id]


def test_the_expiry_command_purges_expired_minted_keys(minted, make_key, user, mailoutbox):
    policy, _value = minted
    mailoutbox.clear()
    ordinary, _ = make_key(user, name="Ordinary")
    ApiKey.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    call_command("send_key_expiry_notices")
    assert not ApiKey.objects.filter(policy=policy).exists()
    assert ApiKey.objects.filter(pk=ordinary.pk).exists()
    # The ordinary key's owner hears of it; nobody hears of the short-lived one.
    assert len(mailoutbox) == 1
    assert "Ordinary" in mailoutbox[0].body and policy.name not in mailoutbox[0].body


def test_expired_token_ids_are_swept_by_the_next_exchange(minted, client, issuer):
    UsedToken.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    assert exchange(client, issuer.token("github", AUDIENCE)).status_code == 200
    assert UsedToken.objects.count() == 1


def test_live_minted_keys_get_no_expiry_notice(minted, mailoutbox):
    mailoutbox.clear()
    call_command("send_key_expiry_notices")
    assert mailoutbox == []


def test_a_policy_needs_a_confirmed_owner(make_user):
    from django.core.exceptions import ValidationError

    bob = make_user("bob", confirmed=False)
    with pytest.raises(ValidationError):
        services.policy_create(
            owner=bob,
            actor=bob,
            name="x",
            provider="github",
            subject_owner="a",
            subject="b",
            workflow="r.yml",
            actions=["package:push"],
            globs=["*"],
        )
    assert not Policy.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"workflow": ""}, "workflow"),
        ({"workflow": ".github/workflows/release.yml"}, "workflow"),
        ({"subject": "contoso/widgets"}, "subject"),
        ({"actions": []}, "actions"),
        ({"globs": [], "package_ids": []}, "package_ids"),
        ({"package_ids": ["Not.Mine"]}, "package_ids"),
    ],
)
def test_invalid_policies_are_refused(user, make_policy, fields, field):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as raised:
        make_policy(user, **fields)
    assert field in raised.value.message_dict
    assert not Policy.objects.exists()


def test_no_token_or_key_value_anywhere(
    client, issuer, user, make_policy, caplog, mailoutbox, push, settings
):
    from tests.nupkgs import make_nupkg

    caplog.set_level(logging.DEBUG)
    make_policy(user)
    token = issuer.token("github", AUDIENCE)
    value = exchange(client, token).json()["apiKey"]
    assert push(make_nupkg("Contoso.Widgets", "1.0.0"), value).status_code == 201
    # Refusals too: a replay, and a wrong audience.
    exchange(client, token)
    exchange(client, issuer.token("github", "https://elsewhere.test"))
    secret = value[len("ngk_") : -6]
    signature = token.rsplit(".", 1)[1]
    payload = token.split(".")[1]
    cells = list(every_cell())
    for needle in (secret, signature, payload):
        assert [(table, cell) for table, cell in cells if needle in cell] == []
    assert ("apikeys_apikey", keys.digests(value)[0]) in cells
    for event in Event.objects.all():
        assert secret not in str(event.details) and signature not in str(event.details)
    for message in mailoutbox:
        assert secret not in message.body and signature not in message.body
    for record in caplog.records:
        text = record.getMessage()
        assert secret not in text and signature not in text and payload not in text
