"""Packages and their versions in the admin.

Versions arrive only by push and are read-only here: their metadata comes from the
stored .nupkg, unlisting goes through ``package_set_listed`` (which writes the audit
event), and deleting a row would orphan its file.
"""

from django.contrib import admin
from django.db.models import Count
from django.utils.formats import date_format
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.services import organization_of
from audit.events import record
from audit.models import EventKind
from packages.models import OwnershipRequest, Package, PackageVersion
from packages.search import search_entry_refresh


@admin.register(Package)
class PackageAdmin(admin.ModelAdmin):
    list_display = ["name", "owner_names", "created_at", "version_count"]
    # Pending requests are shown, not edited: their recipients answer them on the site,
    # where the answer is audited.
    readonly_fields = ["pending_ownership_requests"]
    search_fields = ["name", "owners__username"]
    filter_horizontal = ["owners"]
    date_hierarchy = "created_at"

    def get_queryset(self, request):
        # The same queries however many packages a page shows: the count is an
        # annotation and the owners one prefetch. Distinct, because a search by owner
        # joins the owners too, which would count each version once per owner.
        return (
            super()
            .get_queryset(request)
            .annotate(version_count=Count("versions", distinct=True))
            .prefetch_related("owners__organization")
        )

    def save_related(self, request, form, formsets, change):
        # Owners decide who may push: a change here is recorded like every other.
        before = set(form.instance.owners.values_list("username", flat=True)) if change else set()
        super().save_related(request, form, formsets, change)
        after = set(form.instance.owners.values_list("username", flat=True))
        if before != after:
            search_entry_refresh(package=form.instance)  # owner: finds the owners now
            record(
                EventKind.PACKAGE_OWNERS_CHANGED,
                actor=request.user,
                package_id=form.instance.name,
                request=request,
                details={"before": sorted(before), "after": sorted(after)},
            )

    @admin.display(description=_("owners"))
    def owner_names(self, package):
        # Organizations are marked: their members act for them.
        return ", ".join(
            sorted(
                gettext("%(name)s (organization)") % {"name": owner.get_username()}
                if organization_of(owner) is not None
                else owner.get_username()
                for owner in package.owners.all()
            )
        )

    @admin.display(description=_("pending ownership requests"))
    def pending_ownership_requests(self, package):
        pending = OwnershipRequest.objects.filter(package=package).select_related(
            "new_owner", "requested_by"
        )
        return (
            "; ".join(
                gettext("%(owner)s, asked by %(requester)s, expires %(expires)s")
                % {
                    "owner": ownership.new_owner.get_username(),
                    "requester": ownership.requested_by.get_username()
                    if ownership.requested_by
                    else "-",
                    "expires": date_format(ownership.expires_at, "DATETIME_FORMAT"),
                }
                for ownership in pending
            )
            or "-"
        )

    @admin.display(description=_("versions"), ordering="version_count")
    def version_count(self, package):
        return package.version_count


@admin.register(PackageVersion)
class PackageVersionAdmin(admin.ModelAdmin):
    list_display = ["package", "normalized_version", "listed", "is_prerelease", "size",
                    "pushed_at", "pushed_by", "api_key_hint"]  # fmt: skip
    list_select_related = ["package", "pushed_by"]
    list_filter = ["listed", "is_prerelease"]
    search_fields = ["package__name"]
    date_hierarchy = "pushed_at"
    fieldsets = [
        (None, {"fields": ["package", "version", "normalized_version", "listed",
                           "is_prerelease"]}),
        (_("File"), {"fields": ["file_name", "size", "sha512"]}),
        (_("Push"), {"fields": ["pushed_at", "pushed_by", "api_key_id", "api_key_hint"]}),
        (_("Metadata"), {"fields": ["title", "authors", "summary", "description", "tags",
                                    "project_url", "license_expression", "dependencies"]}),
    ]  # fmt: skip
    # Read-only as a whole (below); these would stay so if editing were ever allowed,
    # since the file and the push are facts, not settings.
    readonly_fields = ["package", "version", "normalized_version", "is_prerelease",
                       "file_name", "size", "sha512", "pushed_at", "pushed_by", "api_key_id",
                       "api_key_hint"]  # fmt: skip

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
