from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApiKeysConfig(AppConfig):
    name = "apikeys"
    verbose_name = _("API keys")

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from apikeys.views import note_sign_in

        user_logged_in.connect(note_sign_in, dispatch_uid="apikeys.note_sign_in")
