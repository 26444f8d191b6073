"""``manage.py send_key_expiry_notices``: for cron, hourly or daily.

Safe to run as often as you like, and twice at once: every key's notice goes
out once per state (see ``apikeys.notices``). Exits with an error when some
users could not be emailed; their keys stay due and the next run retries them.
"""

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext

from apikeys.models import EXPIRY_WARNING
from apikeys.notices import send_expiry_notices
from apikeys.services import api_key_purge_short_lived


class Command(BaseCommand):
    @property
    def help(self):
        return gettext(
            "Email users whose API keys expire within %(days)d days or have expired; "
            "each key once per state."
        ) % {"days": EXPIRY_WARNING.days}

    def handle(self, *args, **options):
        summary = send_expiry_notices()
        purged = api_key_purge_short_lived()
        self.stdout.write(
            gettext("Users emailed: %(users)d. API keys notified: %(keys)d.")
            % {"users": summary.users_emailed, "keys": summary.keys_notified}
        )
        if purged:
            self.stdout.write(
                gettext("Expired short-lived keys deleted: %(count)d.") % {"count": purged}
            )
        if summary.users_failed:
            raise CommandError(
                gettext(
                    "Could not email %(users)d user(s); their keys stay due and the "
                    "next run retries them. The log says why."
                )
                % {"users": summary.users_failed}
            )
