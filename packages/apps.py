from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PackagesConfig(AppConfig):
    name = "packages"
    verbose_name = _("Packages")

    def ready(self):
        from django.db.models.signals import pre_delete

        from packages.models import Package
        from packages.search import search_totals_forget

        pre_delete.connect(
            search_totals_forget, sender=Package, dispatch_uid="packages.search_totals_forget"
        )
