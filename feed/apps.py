from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FeedConfig(AppConfig):
    name = "feed"
    verbose_name = _("NuGet feed")

    def ready(self):
        from feed import checks  # noqa: F401  (registers the settings checks)
