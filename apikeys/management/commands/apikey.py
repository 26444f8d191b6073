"""``manage.py apikey create|list|revoke``: API keys for operators.

For bootstrapping a CI key from a deployment script, or stopping a key at once.
Every change goes through the same services as the API Keys page, so the same
rules, audit events and emails apply. The operator is not a site user, so the
events name no actor.
"""

import argparse
from datetime import UTC

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.debug import sensitive_variables

from apikeys import conf
from apikeys.models import ApiKey, RevocationSource
from apikeys.scopes import Action
from apikeys.services import api_key_create, api_key_revoke

SCOPES = {
    "push": Action.PUSH.value,
    "pushversion": Action.PUSH_VERSION.value,
    "unlist": Action.UNLIST.value,
    "read": Action.READ.value,
}
SCOPE_NAMES = {action: name for name, action in SCOPES.items()}

# The duration column's range. The model refuses anything over the configured
# maximum, but far larger numbers would overflow the expiry arithmetic first.
_MAX_DAYS_ACCEPTED = 32767

# The option that set each model field, so that a refusal says what to change.
_OPTIONS = {
    "name": "--name",
    "actions": "--scope",
    "globs": "--glob",
    "package_ids": "--package",
    "expiration_days": "--expires-in",
}


def _days(text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        days = 0
    if not 1 <= days <= _MAX_DAYS_ACCEPTED:
        raise argparse.ArgumentTypeError(
            gettext("“%(value)s” is not a number of days.") % {"value": text}
        )
    return days


def _describe(error: ValidationError) -> str:
    if not hasattr(error, "error_dict"):
        return "\n".join(error.messages)
    return "\n".join(
        f"{_OPTIONS[field]}: {message}" if field in _OPTIONS else message
        for field, messages in error.message_dict.items()
        for message in messages
    )


def _printable(text: str) -> str:
    # Key names come from users: no control characters reach the operator's terminal.
    return "".join(c if c.isprintable() else "?" for c in text)


def _when(moment) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else ""


def _status(api_key: ApiKey, now) -> str:
    if api_key.is_revoked:
        return gettext("revoked")
    if api_key.is_expired(now):
        return gettext("expired")
    return gettext("active")


class Command(BaseCommand):
    @property
    def help(self):
        # argparse wants a str, and a property reads the language in force when it runs.
        return gettext("Create, list or revoke API keys.")

    def add_arguments(self, parser):
        subcommands = parser.add_subparsers(dest="subcommand", required=True)

        create = subcommands.add_parser(
            "create",
            help=gettext(
                "Create an API key and print its value, the only time it is shown, "
                "as the last line of standard output."
            ),
        )
        create.add_argument("--user", required=True, help=gettext("The key's owner."))
        create.add_argument("--name", required=True, help=gettext("The key's name."))
        create.add_argument(
            "--scope",
            dest="scopes",
            action="append",
            required=True,
            choices=list(SCOPES),
            help=gettext("What the key may do; repeat for several."),
        )
        create.add_argument(
            "--glob",
            dest="globs",
            action="append",
            metavar="GLOB",
            help=gettext("A package ID glob pattern such as Contoso.*; repeat for several."),
        )
        create.add_argument(
            "--package",
            dest="packages",
            action="append",
            metavar="ID",
            help=gettext("A package the owner owns; repeat for several."),
        )
        create.add_argument(
            "--expires-in",
            type=_days,
            metavar="DAYS",
            help=gettext(
                "Days until the key expires, at most the largest of "
                "APIKEYS_EXPIRATION_CHOICES (the default)."
            ),
        )

        listing = subcommands.add_parser("list", help=gettext("List API keys, never their values."))
        listing.add_argument("--user", help=gettext("Only this user's keys."))

        revoke = subcommands.add_parser(
            "revoke", help=gettext("Revoke an API key at once, as an administrator.")
        )
        revoke.add_argument("key_id", type=int, metavar="KEY_ID")
        revoke.add_argument(
            "--reason", required=True, help=gettext("Why; the owner's email quotes it.")
        )

    def handle(self, *args, subcommand, **options):
        handlers = {"create": self.create_key, "list": self.list_keys, "revoke": self.revoke_key}
        handlers[subcommand](**options)

    @sensitive_variables()
    def create_key(self, *, user, name, scopes, globs, packages, expires_in, **options):
        owner = self._user(user)
        if expires_in is None:
            expires_in = conf.longest_expiration()
        elif expires_in > conf.longest_expiration():
            # Any lifetime up to the longest choice: scripts may want a shorter one.
            raise CommandError(
                gettext("--expires-in: keys can last at most %(max)d days.")
                % {"max": conf.longest_expiration()}
            )
        try:
            api_key, plaintext = api_key_create(
                owner=owner,
                name=name,
                actions=[SCOPES[scope] for scope in scopes],
                package_ids=packages or [],
                globs=globs or [],
                expiration_days=expires_in,
                actor=None,
            )
        except ValidationError as error:
            raise CommandError(_describe(error)) from None
        self.stderr.write(
            gettext(
                "Created API key %(id)d “%(name)s” (%(hint)s) for %(user)s; "
                "it expires %(expires)s. Its value follows; it is not shown again."
            )
            % {
                "id": api_key.pk,
                "name": _printable(api_key.name),
                "hint": api_key.hint,
                "user": owner.get_username(),
                "expires": _when(api_key.expires_at),
            }
        )
        self.stdout.write(plaintext)

    def list_keys(self, *, user, **options):
        api_keys = ApiKey.objects.select_related("owner").order_by("id")
        if user is not None:
            api_keys = api_keys.filter(owner=self._user(user))
        now = timezone.now()
        rows = [
            [
                str(api_key.pk),
                api_key.owner.get_username(),
                _printable(api_key.name),
                api_key.hint,
                ",".join(SCOPE_NAMES.get(action, action) for action in api_key.actions),
                _status(api_key, now),
                _when(api_key.expires_at),
                _when(api_key.last_used_at) or gettext("never"),
            ]
            for api_key in api_keys
        ]
        if not rows:
            self.stderr.write(gettext("No API keys."))
            return
        header = [
            gettext("ID"),
            gettext("Owner"),
            gettext("Name"),
            gettext("Key"),
            gettext("Scopes"),
            gettext("Status"),
            gettext("Expires"),
            gettext("Last used"),
        ]
        widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
        for row in [header, *rows]:
            line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            self.stdout.write(line.rstrip())

    def revoke_key(self, *, key_id, reason, **options):
        try:
            api_key = ApiKey.objects.select_related("owner").get(pk=key_id)
        except ApiKey.DoesNotExist:
            raise CommandError(
                gettext("There is no API key with ID %(id)d.") % {"id": key_id}
            ) from None
        names = {"id": api_key.pk, "hint": api_key.hint, "user": api_key.owner.get_username()}
        if api_key.is_revoked:
            self.stdout.write(
                gettext("API key %(id)d (%(hint)s) of %(user)s was already revoked.") % names
            )
            return
        api_key_revoke(api_key=api_key, actor=None, source=RevocationSource.ADMIN, reason=reason)
        self.stdout.write(gettext("Revoked API key %(id)d (%(hint)s) of %(user)s.") % names)

    def _user(self, username: str):
        User = get_user_model()
        try:
            return User._default_manager.get_by_natural_key(username)
        except User.DoesNotExist:
            raise CommandError(
                gettext("There is no user “%(username)s”.") % {"username": username}
            ) from None
