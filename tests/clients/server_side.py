"""Runs in the served portal's environment, to set up and read what the client tests need.

    python -m tests.clients.server_side setup           # {"keys": {"contoso": ..., "retired": ...}}
    python -m tests.clients.server_side key demo 'Demo.*' # {"key": ...}: push and unlist
    python -m tests.clients.server_side revoke retired  # {"revoked": "retired"}
    python -m tests.clients.server_side policy contoso widgets release.yml 'Contoso.*'
                                                        # {"policy": <pk>}: a GitHub policy
    python -m tests.clients.server_side state           # {"versions": [...], "events": [...]}

The test process has its own pytest-django database; the server has the one its
DATABASE_URL and VAR_DIR name. Running this with the server's environment means
the keys are made, and the rows read, where the server sees them. Prints one
JSON line.
"""

import json
import sys

import django

PUBLISHER = "publisher"


def setup() -> dict:
    from allauth.account.models import EmailAddress
    from django.contrib.auth import get_user_model

    from apikeys.scopes import Action
    from apikeys.services import api_key_create

    user = get_user_model().objects.create_user(
        username=PUBLISHER, email="publisher@example.com", password="a long unused passphrase"
    )
    # Keys need a confirmed email address.
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
    keys = {}
    for name, actions in (
        ("contoso", [Action.PUSH, Action.UNLIST]),
        ("retired", [Action.PUSH]),
    ):
        _, plaintext = api_key_create(
            owner=user,
            name=name,
            actions=[str(action) for action in actions],
            package_ids=[],
            globs=["Contoso.*"],
            expiration_days=30,
            actor=user,
        )
        keys[name] = plaintext
    return {"keys": keys}


def key(name: str, glob: str) -> dict:
    """A push-and-unlist key of the publisher (``setup`` first) for ``glob``."""
    from django.contrib.auth import get_user_model

    from apikeys.scopes import Action
    from apikeys.services import api_key_create

    user = get_user_model().objects.get(username=PUBLISHER)
    _, plaintext = api_key_create(
        owner=user,
        name=name,
        actions=[str(Action.PUSH), str(Action.UNLIST)],
        package_ids=[],
        globs=[glob],
        expiration_days=30,
        actor=user,
    )
    return {"key": plaintext}


def revoke(name: str) -> dict:
    from apikeys.models import ApiKey
    from apikeys.services import api_key_revoke

    api_key = ApiKey.objects.select_related("owner").get(owner__username=PUBLISHER, name=name)
    api_key_revoke(api_key=api_key, actor=api_key.owner)
    return {"revoked": name}


def policy(owner: str, repository: str, workflow: str, glob: str) -> dict:
    """A trusted publishing policy of the publisher (``setup`` first) that lets the
    GitHub Actions workflow ``owner/repository/.github/workflows/<workflow>`` push
    ``glob``."""
    from django.contrib.auth import get_user_model

    from apikeys.scopes import Action
    from trustedpublishing.services import policy_create

    user = get_user_model().objects.get(username=PUBLISHER)
    created = policy_create(
        owner=user,
        actor=user,
        name=f"{repository} release",
        provider="github",
        subject_owner=owner,
        subject=repository,
        workflow=workflow,
        ref="",
        environment="",
        actions=[str(Action.PUSH)],
        package_ids=[],
        globs=[glob],
    )
    return {"policy": created.pk}


def state() -> dict:
    from audit.models import Event
    from packages.models import PackageVersion

    versions = [
        {
            "id": row.package.name,
            "version": row.normalized_version,
            "listed": row.listed,
            "size": row.size,
            "sha512": row.sha512,
            "pushed_by": row.pushed_by.username if row.pushed_by else None,
        }
        for row in PackageVersion.objects.select_related("package", "pushed_by").order_by("pk")
    ]
    events = [
        {
            "kind": event.kind,
            "package_id": event.package_id,
            "package_version": event.package_version,
            "details": event.details,
            "user_agent": event.user_agent,
        }
        for event in Event.objects.exclude(kind__in=["api_key:created"]).order_by("pk")
    ]
    return {"versions": versions, "events": events}


def main(argv: list[str]) -> None:
    django.setup()
    commands = {"setup": setup, "key": key, "revoke": revoke, "policy": policy, "state": state}
    print(json.dumps(commands[argv[0]](*argv[1:])))


if __name__ == "__main__":
    main(sys.argv[1:])
