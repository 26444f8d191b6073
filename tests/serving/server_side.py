"""Runs in the served portal's environment to make what the serving tests need.

    python -m tests.serving.server_side setup   # {"key": "..."}

Prints one JSON line.
"""

import json
import sys

import django

PACKAGE_GLOB = "Serving.*"


def setup() -> dict:
    from allauth.account.models import EmailAddress
    from django.contrib.auth import get_user_model

    from apikeys.scopes import Action
    from apikeys.services import api_key_create

    user = get_user_model().objects.create_user(
        username="serving", email="serving@example.com", password="a long unused passphrase"
    )
    # Keys need a confirmed email address.
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
    _, plaintext = api_key_create(
        owner=user,
        name="serving",
        actions=[str(Action.PUSH)],
        package_ids=[],
        globs=[PACKAGE_GLOB],
        expiration_days=30,
        actor=user,
    )
    return {"key": plaintext}


if __name__ == "__main__":
    django.setup()
    print(json.dumps({"setup": setup}[sys.argv[1]]()))
