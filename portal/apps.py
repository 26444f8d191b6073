from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = _("Portal")

    def ready(self):
        # allauth owns the account flows; its signals are how their events reach audit.
        from portal import account_events

        account_events.connect()
