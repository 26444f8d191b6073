"""APIKEYS_EXPIRATION_CHOICES: the Expires In choices on the page and in the command."""

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.utils import timezone

from apikeys import conf
from apikeys.models import ApiKey
from apikeys.services import api_key_regenerate


def options(page: str) -> list[tuple[str, bool]]:
    select = re.search(r'<select name="expires_in".*?</select>', page, re.S)[0]
    found = re.finditer(r'<option value="(\d+)"( selected)?', select)
    return [(m[1], bool(m[2])) for m in found]


def test_the_default_choices_with_the_largest_preselected(signed_in_client):
    page = signed_in_client.get("/account/apikeys").content.decode()
    assert options(page) == [
        ("1", False),
        ("90", False),
        ("180", False),
        ("270", False),
        ("365", True),
    ]


def test_strict_choices(signed_in_client, settings):
    settings.APIKEYS_EXPIRATION_CHOICES = "30, 1,8"
    page = signed_in_client.get("/account/apikeys").content.decode()
    assert options(page) == [("1", False), ("8", False), ("30", True)]


@pytest.mark.parametrize("value", ["", "a,b", "0,5", "-1"])
def test_bad_choices_stop_the_server(settings, value):
    settings.APIKEYS_EXPIRATION_CHOICES = value
    with pytest.raises(ImproperlyConfigured):
        conf.expiration_choices()


def test_the_command_defaults_to_the_largest_choice_and_refuses_longer(user, settings):
    settings.APIKEYS_EXPIRATION_CHOICES = "1,8,30"
    call_command(
        "apikey",
        "create",
        "--user=alice",
        "--name=CI",
        "--scope=push",
        "--glob=*",
        stdout=StringIO(),
        stderr=StringIO(),
    )
    assert ApiKey.objects.get().expiration_days == 30
    with pytest.raises(CommandError, match="at most 30 days"):
        call_command(
            "apikey",
            "create",
            "--user=alice",
            "--name=CI",
            "--scope=push",
            "--glob=*",
            "--expires-in=90",
            stdout=StringIO(),
            stderr=StringIO(),
        )


def test_existing_keys_keep_their_expiry_and_regenerating_caps_it(user, make_key, settings):
    api_key, _ = make_key(user, expiration_days=365)
    expires_at = api_key.expires_at
    settings.APIKEYS_EXPIRATION_CHOICES = "1,8,30"
    api_key.refresh_from_db()
    assert api_key.expires_at == expires_at
    api_key, _ = api_key_regenerate(api_key=api_key, actor=user)
    assert api_key.expiration_days == 30
    assert api_key.expires_at - timezone.now() <= timedelta(days=30)
