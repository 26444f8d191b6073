from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class UserPreference(models.Model):
    """What a user chose for the site: for now, the language their emails go out in.

    Set at sign-up from the language the page was shown in, and again whenever a
    signed-in user picks a language in the footer. Other apps read it through the
    reverse accessor ``user.preference`` (they sit below portal and do not import it).
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="preference",
        verbose_name=_("user"),
    )
    # No choices: LANGUAGES may grow without a migration; languages.py validates.
    language = models.CharField(_("language"), max_length=15)

    class Meta:
        verbose_name = _("user preference")
        verbose_name_plural = _("user preferences")

    def __str__(self):
        return f"{self.user} ({self.language})"
