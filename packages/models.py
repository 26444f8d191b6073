"""The package registry. Versions and files arrive with the publish endpoint."""

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from packages import ids


class Package(models.Model):
    # The ID as first pushed: its casing is kept for display, while uniqueness
    # and lookups ignore case, as on nuget.org.
    name = models.CharField(_("package ID"), max_length=ids.MAX_LENGTH, validators=[ids.validate])
    owners = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="packages", verbose_name=_("owners"), blank=True
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("package")
        verbose_name_plural = _("packages")
        ordering = [Lower("name")]
        constraints = [
            models.UniqueConstraint(Lower("name"), name="packages_package_name_ci_unique"),
        ]

    def __str__(self):
        return self.name


class PackageVersion(models.Model):
    package = models.ForeignKey(
        Package, verbose_name=_("package"), on_delete=models.CASCADE, related_name="versions"
    )
    version = models.CharField(_("version as pushed"), max_length=128)
    # packages.versions owns normalization; uniqueness ignores the case of
    # prerelease labels, as NuGet's comparison does.
    normalized_version = models.CharField(_("version"), max_length=128)
    listed = models.BooleanField(_("listed"), default=True)
    size = models.BigIntegerField(_("size in bytes"))
    sha512 = models.CharField(_("SHA-512"), max_length=128)
    file_name = models.CharField(_("stored file"), max_length=512, blank=True)
    authors = models.TextField(_("authors"), blank=True)
    title = models.CharField(_("title"), max_length=256, blank=True)
    description = models.TextField(_("description"), blank=True)
    summary = models.TextField(_("summary"), blank=True)
    tags = models.JSONField(_("tags"), default=list, blank=True)
    project_url = models.CharField(_("project URL"), max_length=2048, blank=True)
    license_expression = models.CharField(_("license expression"), max_length=512, blank=True)
    dependencies = models.JSONField(_("dependencies"), default=list, blank=True)
    is_prerelease = models.BooleanField(_("prerelease"), default=False)
    pushed_at = models.DateTimeField(_("pushed"), default=timezone.now)
    pushed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("pushed by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # By value: the key may be deleted later; which key pushed stays known.
    api_key_id = models.BigIntegerField(_("API key ID"), null=True, blank=True)
    api_key_hint = models.CharField(_("API key hint"), max_length=32, blank=True)

    class Meta:
        verbose_name = _("package version")
        verbose_name_plural = _("package versions")
        ordering = ["package", "-pushed_at"]
        constraints = [
            models.UniqueConstraint(
                "package", Lower("normalized_version"), name="packages_version_unique"
            ),
        ]

    def __str__(self):
        return f"{self.package.name} {self.normalized_version}"
