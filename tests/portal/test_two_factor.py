"""Two-factor authentication from Account Settings: an authenticator app and recovery codes."""

import base64
import hashlib
import hmac
import struct
import time

import pytest
from allauth.mfa.models import Authenticator
from django.contrib.auth import get_user

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def totp(secret: str, at: float | None = None) -> str:
    """RFC 6238 with the defaults authenticator apps use: SHA-1, 30 s, 6 digits."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    counter = int((time.time() if at is None else at) // 30)
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def sign_in(client, login="alice"):
    return client.post("/users/account/LogOn", {"login": login, "password": PASSWORD})


def test_account_settings_links_to_two_factor(client, user):
    sign_in(client)
    page = client.get("/account").content.decode()
    assert 'href="/users/account/2fa/"' in page
    assert client.get("/users/account/2fa/").status_code == 200


def test_activate_totp_then_sign_in_with_a_recovery_code(client, user):
    sign_in(client)
    # Turning two-factor on asks for the password again first.
    page = client.get("/users/account/2fa/totp/activate/")
    assert page.status_code == 302
    assert page["Location"].startswith("/users/account/reauthenticate/")
    client.post("/users/account/reauthenticate/", {"password": PASSWORD})
    page = client.get("/users/account/2fa/totp/activate/")
    assert page.status_code == 200
    secret = page.context["form"].secret
    # The QR code is an inline SVG image, which the Content-Security-Policy allows.
    assert 'src="data:image/svg+xml' in page.content.decode()

    wrong = client.post("/users/account/2fa/totp/activate/", {"code": "000000"})
    if totp(secret) != "000000":
        assert wrong.status_code == 200
        assert "code" in wrong.context["form"].errors

    response = client.post("/users/account/2fa/totp/activate/", {"code": totp(secret)})
    assert response.status_code == 302
    kinds = set(Authenticator.objects.filter(user=user).values_list("type", flat=True))
    assert kinds == {Authenticator.Type.TOTP, Authenticator.Type.RECOVERY_CODES}
    assert "Signing in asks for a code" in client.get("/account").content.decode()

    codes = client.get("/users/account/2fa/recovery-codes/").context["unused_codes"]
    assert len(codes) >= 10

    client.post("/users/account/LogOff")
    response = client.post(
        "/users/account/LogOn?returnUrl=/account", {"login": "alice", "password": PASSWORD}
    )
    # The password alone is not enough any more.
    assert response.status_code == 302
    assert response["Location"].startswith("/users/account/2fa/authenticate/")
    assert not get_user(client).is_authenticated

    refused = client.post("/users/account/2fa/authenticate/", {"code": "12345678"})
    assert refused.status_code == 200
    assert not get_user(client).is_authenticated

    response = client.post("/users/account/2fa/authenticate/", {"code": codes[0]})
    assert response.status_code == 302
    assert response["Location"] == "/account"
    assert get_user(client) == user
