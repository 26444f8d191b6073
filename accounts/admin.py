"""Organizations in the admin: staff look them up by name and see their members and
pending invitations.

Nothing is changed here. Organizations are created, run and deleted on the site,
through the services that check names in the shared namespace, keep an
administrator, refuse to delete an organization that owns packages, and write the
audit events; an edit in the admin would do none of that.
"""

from django.contrib import admin
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from accounts.models import Invitation, Membership, Organization


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MembershipInline(_ReadOnlyInline):
    model = Membership
    fields = readonly_fields = ("user", "role", "created_at")
    ordering = ("user__username",)


class InvitationInline(_ReadOnlyInline):
    model = Invitation
    fields = readonly_fields = ("user", "role", "invited_by", "created_at", "expires_at")
    ordering = ("user__username",)


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "email", "member_count", "created_at")
    search_fields = ("account__username", "email")
    ordering = ("account__username",)
    fields = readonly_fields = ("account", "email", "created_at")
    inlines = (MembershipInline, InvitationInline)
    list_select_related = ("account",)

    @admin.display(description=_("name"), ordering="account__username")
    def name(self, organization):
        return organization.name

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(members=Count("memberships"))

    @admin.display(description=_("members"), ordering="members")
    def member_count(self, organization):
        return organization.members

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # Viewing only: the change page shows the organization, read-only.
        return False

    def has_delete_permission(self, request, obj=None):
        return False
