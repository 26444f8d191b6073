"""Keys in the admin: staff look at them and revoke them, nothing else.

Keys are made by their owners, so there is no "add"; every field is read-only and
the digest is never shown. Deleting is left to owners too (it goes through
``api_key_delete``, which audits and emails). Staff can revoke selected keys, with
a reason the owner is told, and revoke keys that leaked from pasted values on the
"Revoke leaked API keys" page.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import TextField
from django.db.models.functions import Cast
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from apikeys import leaks
from apikeys.models import EXPIRY_WARNING, ApiKey, RevocationSource
from apikeys.scopes import Action
from apikeys.services import api_key_revoke

# The list shows this many package IDs and globs per key, then "(+n more)".
SUBJECTS_SHOWN = 3
# The leaked-keys page takes this many values at a time: one lookup query for all.
MAX_LEAKED_VALUES = 1000
# The Verify step hands the Revoke step a signed list of (key ID, leak URL): the
# pasted values are never sent back to the browser.
_LEAKS_SALT = "apikeys.admin.revoke_leaked"
_LEAKS_MAX_AGE = 60 * 60


def _now():
    return timezone.now()


def with_action(queryset, action: str):
    """Keys whose scopes include ``action``, on SQLite and PostgreSQL alike.

    ``actions__contains=[action]`` is PostgreSQL-only; the JSON text, quotes
    included, works on both and cannot match a longer action
    (``"package:push"`` is not in ``["package:pushversion"]``).
    """
    return queryset.alias(actions_text=Cast("actions", TextField())).filter(
        actions_text__contains=f'"{action}"'
    )


class StatusFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("active", _("Active")), ("expired", _("Expired")), ("revoked", _("Revoked"))]

    def queryset(self, request, queryset):
        now = _now()
        match self.value():
            case "active":
                return queryset.active(now)
            case "expired":
                return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
            case "revoked":
                return queryset.filter(revoked_at__isnull=False)
        return queryset


class ExpiringSoonFilter(admin.SimpleListFilter):
    title = _("expiring")
    parameter_name = "expiring"

    def lookups(self, request, model_admin):
        return [("soon", _("Within %(days)d days") % {"days": EXPIRY_WARNING.days})]

    def queryset(self, request, queryset):
        if self.value() == "soon":
            now = _now()
            return queryset.active(now).filter(expires_at__lte=now + EXPIRY_WARNING)
        return queryset


class ScopeFilter(admin.SimpleListFilter):
    title = _("scope")
    parameter_name = "scope"

    def lookups(self, request, model_admin):
        return [(action.value, action.value) for action in Action]

    def queryset(self, request, queryset):
        if self.value() in Action.values:
            return with_action(queryset, self.value())
        return queryset


class RevokeForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("The owners are emailed this reason; the audit log keeps it."),
    )


class _NeverRenderedTextarea(forms.Textarea):
    """A textarea that comes back empty: what staff pasted is never sent back."""

    def format_value(self, value):
        return None


class LeakedValuesForm(forms.Form):
    values = forms.CharField(
        label=_("Leaked API keys"),
        widget=_NeverRenderedTextarea(attrs={"rows": 10, "cols": 80, "autocomplete": "off"}),
        strip=False,
        help_text=_(
            'One per line: the key itself, or a JSON object such as {"ApiKey": "...", '
            '"LeakedUrl": "https://..."}.'
        ),
    )

    @sensitive_variables()
    def clean_values(self):
        values = self.cleaned_data["values"]
        if leaks.count_values(values) > MAX_LEAKED_VALUES:
            raise forms.ValidationError(
                gettext("Paste at most %(max)d keys at a time.") % {"max": MAX_LEAKED_VALUES}
            )
        return values


_REVOCATION_FIELDS = [
    "revoked_at", "revoked_by", "revocation_source", "revocation_reason", "revocation_url",
]  # fmt: skip


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "package_owner", "hint", "scopes", "subjects", "created_at",
                    "expires_at", "last_used_at", "status"]  # fmt: skip
    list_select_related = ["owner", "package_owner"]
    list_filter = [
        StatusFilter,
        ExpiringSoonFilter,
        ("owner", admin.RelatedOnlyFieldListFilter),
        ScopeFilter,
    ]
    search_fields = ["owner__username", "owner__email", "package_owner__username", "name", "hint"]
    date_hierarchy = "created_at"
    actions = ["revoke_selected"]
    fieldsets = [
        (None, {"fields": ["owner", "package_owner", "created_by", "name", "hint", "status"]}),
        (_("Scopes"), {"fields": ["actions", "package_ids", "globs"]}),
        (_("Dates"), {"fields": ["created_at", "expires_at", "expiration_days", "last_used_at"]}),
        (_("Revocation"), {"fields": _REVOCATION_FIELDS}),
        (_("Expiry notices"), {"fields": ["expiring_notice_for", "expired_notice_for"]}),
    ]
    # Belt and braces: the change view is view-only anyway (no change permission).
    readonly_fields = [f.name for f in ApiKey._meta.fields if f.name != "digest"] + ["status"]
    exclude = ["digest"]
    change_list_template = "admin/apikeys/apikey/change_list.html"

    # --- Columns -------------------------------------------------------------

    @admin.display(description=_("status"))
    def status(self, api_key):
        return api_key.status_label(_now())

    @admin.display(description=_("scopes"))
    def scopes(self, api_key):
        return ", ".join(api_key.actions)

    @admin.display(description=_("packages and globs"))
    def subjects(self, api_key):
        items = [*api_key.package_ids, *api_key.globs]
        text = ", ".join(items[:SUBJECTS_SHOWN])
        if len(items) > SUBJECTS_SHOWN:
            more = gettext("(+%(count)d more)") % {"count": len(items) - SUBJECTS_SHOWN}
            text = f"{text} {more}"
        return text

    # --- Permissions -----------------------------------------------------------

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_revoke_permission(self, request):
        # Revoking is the one change staff may make; it needs the change permission.
        return request.user.has_perm(f"{self.opts.app_label}.change_{self.opts.model_name}")

    # --- Revoke selected keys ----------------------------------------------------

    @admin.action(description=_("Revoke selected keys"), permissions=["revoke"])
    def revoke_selected(self, request, queryset):
        api_keys = list(queryset.select_related("owner"))
        form = RevokeForm(request.POST if request.POST.get("post") == "yes" else None)
        if form.is_valid():
            with transaction.atomic():
                live = [api_key for api_key in api_keys if not api_key.is_revoked]
                for api_key in live:
                    api_key_revoke(
                        api_key=api_key,
                        actor=request.user,
                        request=request,
                        source=RevocationSource.ADMIN,
                        reason=form.cleaned_data["reason"],
                    )
            self._report_revoked(request, len(live), len(api_keys) - len(live))
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Revoke API keys"),
            "opts": self.opts,
            "api_keys": api_keys,
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/apikeys/apikey/revoke_selected.html", context)

    def _report_revoked(self, request, revoked: int, skipped: int) -> None:
        if revoked:
            message = ngettext(
                "%(count)d key was revoked; its owner has been emailed.",
                "%(count)d keys were revoked; their owners have been emailed.",
                revoked,
            )
            self.message_user(request, message % {"count": revoked}, messages.SUCCESS)
        if skipped:
            message = ngettext(
                "%(count)d key was already revoked.",
                "%(count)d keys were already revoked.",
                skipped,
            )
            self.message_user(request, message % {"count": skipped}, messages.WARNING)

    # --- Revoke leaked API keys --------------------------------------------------

    def get_urls(self):
        # Before the default URLs, whose "<object_id>/" would take "revoke-leaked/".
        return [
            path(
                "revoke-leaked/",
                self.admin_site.admin_view(self.revoke_leaked_view),
                name=f"{self.opts.app_label}_{self.opts.model_name}_revoke_leaked",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "has_revoke_permission": self.has_revoke_permission(request),
        }
        return super().changelist_view(request, extra_context)

    def _leaks_salt(self, request) -> str:
        # Bound to the staff member: a verification is theirs alone.
        return f"{_LEAKS_SALT}:{request.user.pk}"

    @method_decorator(sensitive_post_parameters("values"))
    @method_decorator(never_cache)
    @method_decorator(sensitive_variables("form"))
    def revoke_leaked_view(self, request):
        if not self.has_revoke_permission(request):
            raise PermissionDenied
        if request.method == "POST" and "revoke" in request.POST:
            return self._revoke_verified(request)
        rows = None
        verified = ""
        if request.method == "POST":
            form = LeakedValuesForm(request.POST)
            if form.is_valid():
                rows = leaks.find_leaked(form.cleaned_data["values"])
                verified = signing.dumps(
                    [[row.api_key.pk, row.leak_url] for row in rows if row.can_revoke],
                    salt=self._leaks_salt(request),
                    compress=True,
                )
                # The result replaces the paste: an empty box for the next batch.
                form = LeakedValuesForm()
        else:
            form = LeakedValuesForm()
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Revoke leaked API keys"),
            "opts": self.opts,
            "form": form,
            "rows": rows,
            "revocable": sum(1 for row in rows or () if row.can_revoke),
            "verified": verified,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/apikeys/apikey/revoke_leaked.html", context)

    def _revoke_verified(self, request):
        here = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_revoke_leaked")
        try:
            verified = signing.loads(
                request.POST.get("verified", ""),
                salt=self._leaks_salt(request),
                max_age=_LEAKS_MAX_AGE,
            )
        except signing.BadSignature:
            self.message_user(
                request,
                gettext("That verification has expired or is not valid. Paste the keys again."),
                messages.ERROR,
            )
            return redirect(here)
        leak_urls = {int(pk): str(url) for pk, url in verified}
        chosen = {int(pk) for pk in request.POST.getlist("key") if pk.isdigit()}
        chosen &= leak_urls.keys()
        if not chosen:
            self.message_user(request, gettext("No keys were selected."), messages.WARNING)
            return redirect(here)
        rows = [
            leaks.LeakRow(
                line=0,
                status=leaks.LeakStatus.FOUND,
                shown=api_key.hint,
                leak_url=leak_urls[api_key.pk],
                api_key=api_key,
            )
            for api_key in ApiKey.objects.filter(pk__in=chosen).select_related("owner")
        ]
        revoked = leaks.revoke_leaked(
            rows=rows, source=RevocationSource.LEAK, actor=request.user, request=request
        )
        self._report_revoked(request, len(revoked), len(rows) - len(revoked))
        return redirect(here)
