"""The package registry. Versions and files arrive with the publish endpoint."""

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from packages import ids, versions


class VersionSortField(models.CharField):
    """``versions.sort_string`` of the row's ``normalized_version``, computed on every
    insert and save (``bulk_create`` too), so no code path can store a stale one."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", versions.SORT_STRING_MAX_LENGTH)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def pre_save(self, model_instance, add):
        value = versions.sort_string(model_instance.normalized_version)
        setattr(model_instance, self.attname, value)
        return value


class Package(models.Model):
    # The ID as first pushed: its casing is kept for display, while uniqueness
    # and lookups ignore case, as on nuget.org.
    name = models.CharField(_("package ID"), max_length=ids.MAX_LENGTH, validators=[ids.validate])
    owners = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="packages", verbose_name=_("owners"), blank=True
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    # The sum of its versions' counts; packages.downloads adds to both together.
    download_count = models.BigIntegerField(_("downloads"), default=0, editable=False)

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
    # NuGet's order as a string the database sorts (packages.versions.sort_string):
    # version lists are ordered and sliced in the query.
    sort_key = VersionSortField(_("sort key"))
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
    # [{"target_framework": "net8.0" or "" (any), "dependencies": [{"id", "range"}]}],
    # as packages.nupkg reads them.
    dependencies = models.JSONField(_("dependencies"), default=list, blank=True)
    is_prerelease = models.BooleanField(_("prerelease"), default=False)
    # packages.versions decides (a dotted prerelease label or build metadata);
    # stored so SemVer 1 feeds can filter in the query.
    is_semver2 = models.BooleanField(_("SemVer 2.0.0"), default=False)
    # Texts straight from the nuspec, unbounded (TextField) so that no length a
    # nuspec can carry makes an insert fail.
    license_url = models.TextField(_("license URL"), blank=True)
    icon_url = models.TextField(_("icon URL"), blank=True)
    # Paths of files inside the package (<icon>, <readme>), with "/" separators.
    icon_path = models.TextField(_("icon file"), blank=True)
    readme_path = models.TextField(_("readme file"), blank=True)
    release_notes = models.TextField(_("release notes"), blank=True)
    language = models.TextField(_("language"), blank=True)
    require_license_acceptance = models.BooleanField(
        _("requires license acceptance"), default=False
    )
    min_client_version = models.CharField(_("minimum client version"), max_length=64, blank=True)
    download_count = models.BigIntegerField(_("downloads"), default=0, editable=False)
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
        indexes = [models.Index(fields=["package", "sort_key"], name="packages_version_order")]

    def __str__(self):
        return f"{self.package.name} {self.normalized_version}"


class SearchEntry(models.Model):
    """What search reads about one package with a listed version, in one row.

    packages.search owns it: search_entry_refresh() rewrites the row from the
    package's rows whenever a version is pushed, unlisted or relisted. Text columns
    hold lower case; word lists are padded with spaces (" web json ").
    """

    package = models.OneToOneField(
        Package, primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    name = models.TextField(_("package ID"))
    id_lower = models.TextField(unique=True)
    id_words = models.TextField()
    title = models.TextField(blank=True)
    tags = models.TextField(blank=True)
    description = models.TextField(blank=True)
    authors = models.TextField(blank=True)
    owners = models.TextField(blank=True)
    # ID, title, tags and description together: what plain words search.
    text = models.TextField(blank=True)
    downloads = models.BigIntegerField(_("downloads"), default=0)
    # Has a listed version under these filters: stable SemVer 1 only (the
    # default), prerelease too, SemVer 2 too, or both.
    visible_stable = models.BooleanField(default=False)
    visible_prerelease = models.BooleanField(default=False)
    visible_semver2 = models.BooleanField(default=False)
    visible_all = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("search entry")
        verbose_name_plural = _("search entries")
        # One per filter: the empty query's count and its page read only these.
        indexes = [
            models.Index(
                fields=["-downloads", "id_lower"],
                condition=models.Q(**{column: True}),
                name=f"packages_search_{column.removeprefix('visible_')}",
            )
            for column in ("visible_stable", "visible_prerelease", "visible_semver2", "visible_all")
        ]

    def __str__(self):
        return self.name


class SearchTerm(models.Model):
    """One word a package is found by, with what search orders by: a posting.

    A package's terms are every prefix of every word of its ID (IDs split at
    anything but letters and digits) and every whole word of the title, tags and
    description of its shown version, plus the empty term, which every package has.
    ``rank`` says where the term was found: 0 the whole ID, 1 a prefix of the ID, 2 a
    prefix of one of its words, 3 a word of another field (or the empty term). A
    one-word query is one range of the first index, already in search's order, so a
    page costs the same however many packages match. packages.search owns the rows
    and rewrites them with the package's SearchEntry.
    """

    pk = models.CompositePrimaryKey("entry", "term")
    # The primary key's index, led by the entry, serves its deletes and lookups.
    entry = models.ForeignKey(
        SearchEntry, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    term = models.TextField()
    rank = models.PositiveSmallIntegerField()
    downloads = models.BigIntegerField(default=0)
    id_lower = models.TextField()
    visible_stable = models.BooleanField(default=False)
    visible_prerelease = models.BooleanField(default=False)
    visible_semver2 = models.BooleanField(default=False)
    visible_all = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("search term")
        verbose_name_plural = _("search terms")
        indexes = [
            # Search's order after the term; the filters and the entry at the end let
            # a count, and the candidates of a query of several words, read the index
            # alone.
            models.Index(
                fields=[
                    "term", "rank", "-downloads", "id_lower", "visible_stable",
                    "visible_prerelease", "visible_semver2", "visible_all", "entry",
                ],
                name="packages_search_term_order",
            ),
        ]  # fmt: skip

    def __str__(self):
        return self.term


class SearchTotal(models.Model):
    """How many packages show under one combination of search's filters (the name of a
    SearchEntry ``visible_*`` column): the empty query's total, which would otherwise
    count every entry on each request. packages.search keeps it with the entries."""

    visibility = models.CharField(primary_key=True, max_length=32)
    packages = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("search total")
        verbose_name_plural = _("search totals")

    def __str__(self):
        return f"{self.visibility}: {self.packages}"


class OwnershipRequest(models.Model):
    """An owner's request that ``new_owner`` (a user or an organization) co-own
    ``package``; accepted or declined, it is deleted (the audit log keeps it)."""

    package = models.ForeignKey(
        Package,
        on_delete=models.CASCADE,
        related_name="ownership_requests",
        verbose_name=_("package"),
    )
    new_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="ownership_requests",
        verbose_name=_("proposed owner"),
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("requested by"),
    )
    created_at = models.DateTimeField(_("sent"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"))

    class Meta:
        verbose_name = _("ownership request")
        verbose_name_plural = _("ownership requests")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["package", "new_owner"], name="packages_ownership_request_unique"
            ),
        ]

    def __str__(self):
        return f"{self.new_owner} for {self.package}"

    def is_expired(self, now=None) -> bool:
        return self.expires_at <= (now or timezone.now())
