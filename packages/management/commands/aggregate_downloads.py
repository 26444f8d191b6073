"""``manage.py aggregate_downloads``: for a timer, every minute.

Downloads already fold into the counts once a minute while they arrive; a timer
makes the last minute's count too after traffic stops. Safe to run at any time,
and twice at once (see ``packages.downloads``).
"""

from django.core.management.base import BaseCommand
from django.utils.translation import gettext

from packages import downloads


class Command(BaseCommand):
    @property
    def help(self):
        return gettext("Add the downloads recorded since the last run to the download counts.")

    def handle(self, *args, **options):
        folded = downloads.aggregate()
        self.stdout.write(gettext("Downloads counted: %(count)d.") % {"count": folded})
