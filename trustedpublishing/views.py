"""The Trusted Publishing page: policies listed, created, edited, disabled,
re-armed and deleted. Thin: each view parses, calls one service, renders."""

from allauth.account.utils import has_verified_email
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from apikeys.selectors import package_owners_for
from packages.selectors import package_names_owned_by
from trustedpublishing import conf, services
from trustedpublishing.forms import RULE_FIELDS, PolicyForm
from trustedpublishing.selectors import policy_get_for, policy_list_for

# Model field -> form field, for errors the services raise; the trust rule's
# fields map back per provider (RULE_FIELDS).
_SERVICE_FIELDS = {"name": "name", "actions": "push", "globs": "globs", "package_ids": "packages",
                   "package_owner": "owner"}  # fmt: skip


def _add_service_errors(form, error: ValidationError) -> None:
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    provider = form.cleaned_data.get("provider")
    back = {target: field for field, target in RULE_FIELDS.get(provider, {}).items()}
    for field, errors in error.error_dict.items():
        form.add_error(back.get(field) or _SERVICE_FIELDS.get(field), errors)


def _render_list(request, form=None, status=200):
    owner = request.user
    if form is None:
        form = PolicyForm(owners=package_owners_for(owner))
    context = {
        "form": form,
        "policies": policy_list_for(owner),
        "package_count": len(form.fields["packages"].choices),
        "now": timezone.now(),
        "key_minutes": conf.key_minutes(),
        "armed_days": conf.ARMED_DAYS,
    }
    return render(request, "trustedpublishing/policies.html", context, status=status)


@never_cache
@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def policies(request):
    if not has_verified_email(request.user):
        return render(request, "apikeys/confirm_email_first.html",
                      status=403 if request.method == "POST" else 200)  # fmt: skip
    if request.method != "POST":
        return _render_list(request)
    owner = request.user
    form = PolicyForm(request.POST, owners=package_owners_for(owner))
    if form.is_valid():
        try:
            policy = services.policy_create(
                owner=owner,
                package_owner=form.cleaned_data["owner"],
                actor=request.user,
                request=request,
                **form.rule(),
            )
        except ValidationError as error:
            _add_service_errors(form, error)
        else:
            messages.success(request, _("The policy “%(name)s” was added.") % {"name": policy.name})
            return redirect("trustedpublishing:list")
    return _render_list(request, form=form, status=400)


@never_cache
@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def policy_edit(request, pk):
    policy = policy_get_for(request.user, pk)
    # The Package Owner stays as it was made, as a key's does.
    owners = [(policy.account, package_names_owned_by(policy.account))]
    status = 200
    if request.method == "POST":
        form = PolicyForm(request.POST, owners=owners, owner_fixed=True)
        if form.is_valid():
            try:
                services.policy_edit(
                    policy=policy, actor=request.user, request=request, **form.rule()
                )
            except ValidationError as error:
                _add_service_errors(form, error)
            else:
                messages.success(
                    request, _("The policy “%(name)s” was saved.") % {"name": policy.name}
                )
                return redirect("trustedpublishing:list")
        status = 400
    else:
        form = PolicyForm(owners=owners, owner_fixed=True, initial=PolicyForm.initial_for(policy))
    return render(
        request,
        "trustedpublishing/policy_edit.html",
        {"form": form, "policy": policy, "package_count": len(form.fields["packages"].choices)},
        status=status,
    )


@never_cache
@login_required
@require_POST
def policy_enabled(request, pk):
    policy = policy_get_for(request.user, pk)
    enabled = request.POST.get("enabled") == "true"
    services.policy_set_enabled(policy=policy, enabled=enabled, actor=request.user,
                                request=request)  # fmt: skip
    text = (
        _("The policy “%(name)s” was enabled.")
        if enabled
        else _("The policy “%(name)s” was disabled; its short-lived keys were revoked.")
    )
    messages.success(request, text % {"name": policy.name})
    return redirect("trustedpublishing:list")


@never_cache
@login_required
@require_POST
def policy_rearm(request, pk):
    policy = policy_get_for(request.user, pk)
    services.policy_rearm(policy=policy, actor=request.user, request=request)
    messages.success(
        request,
        _("The policy “%(name)s” records its IDs from the first run in the next %(days)d days.")
        % {"name": policy.name, "days": conf.ARMED_DAYS},
    )
    return redirect("trustedpublishing:list")


@never_cache
@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def policy_delete(request, pk):
    policy = policy_get_for(request.user, pk)
    if request.method == "POST":
        name = policy.name
        services.policy_delete(policy=policy, actor=request.user, request=request)
        messages.success(request, _("The policy “%(name)s” was deleted.") % {"name": name})
        return redirect("trustedpublishing:list")
    return render(request, "trustedpublishing/policy_confirm_delete.html", {"policy": policy})
