"""Users in the admin: Django's own user admin, plus each user's API keys to look at."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.utils.translation import gettext_lazy as _

from apikeys.models import ApiKey


class ApiKeyInline(admin.TabularInline):
    """The user's keys, read-only: keys are made, changed and revoked by their owners
    (and revoked by the ``revoke`` command), each writing its audit event."""

    model = ApiKey
    fk_name = "owner"
    fields = ["name", "hint", "scopes", "created_at", "expires_at", "last_used_at", "status"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = _("API keys")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("scopes"))
    def scopes(self, api_key):
        return ", ".join(str(label) for label in api_key.scope_labels)

    @admin.display(description=_("status"))
    def status(self, api_key):
        return api_key.status_label()


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class PortalUserAdmin(UserAdmin):
    inlines = [*UserAdmin.inlines, ApiKeyInline]
