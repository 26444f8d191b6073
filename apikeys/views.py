"""The API Keys pages: list, create, edit, regenerate, revoke, delete; the user's
own (``/account/apikeys``) and an organization's (``/organization/<name>/apikeys``,
its administrators only), which also oversees every key acting for it.

A key's value appears in exactly one response, the one that answers the Create
or Regenerate POST. That response is never cached, and a one-time form token
makes a reload of it (the browser re-posting the form) show the list instead of
creating a second key or showing the value again.
"""

import secrets
import time

from allauth.account import app_settings as allauth_account_settings
from allauth.account.decorators import reauthentication_required
from allauth.account.utils import has_verified_email
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_http_methods

from accounts.services import may_publish_for
from apikeys import services
from apikeys.forms import ApiKeyCreateForm, ApiKeyRevokeForm, PackageSelectionForm
from apikeys.selectors import (
    api_key_acting_for_get,
    api_key_get_for,
    api_key_list_for,
    api_key_oversight_for,
    api_key_short_lived_for,
    organization_for_administrator,
    organization_key_get,
    package_owners_for,
)
from packages.selectors import package_names_owned_by

_SPENT_SESSION_KEY = "apikeys_spent_form_tokens"
_SPENT_KEPT = 50
_TOKEN_SALT = "apikeys.form-token"  # noqa: S105 - a signing salt, not a secret
_TOKEN_MAX_AGE = 24 * 3600


# --- One-time form tokens ------------------------------------------------------
# Issuing a token writes nothing: it is signed and bound to the user. Spending
# one records it in the session, so a re-post of the same form is recognised.


def _issue_token(request) -> str:
    return signing.dumps([secrets.token_urlsafe(12), request.user.pk], salt=_TOKEN_SALT)


def _token_is_open(request) -> bool:
    token = request.POST.get("form_token", "")
    try:
        _, user_pk = signing.loads(token, salt=_TOKEN_SALT, max_age=_TOKEN_MAX_AGE)
    except (signing.BadSignature, ValueError, TypeError):
        return False
    return user_pk == request.user.pk and token not in request.session.get(_SPENT_SESSION_KEY, [])


def _spend_token(request) -> None:
    spent = request.session.get(_SPENT_SESSION_KEY, [])[-(_SPENT_KEPT - 1) :]
    request.session[_SPENT_SESSION_KEY] = [*spent, request.POST["form_token"]]


def _already_submitted(request, back: str):
    messages.info(
        request,
        _(
            "That form was already sent. A key's value is shown only once: "
            "if you did not copy it, regenerate the key."
        ),
    )
    return redirect(back)


# --- Re-authentication ---------------------------------------------------------


_SIGNED_IN_AT_SESSION_KEY = "apikeys_signed_in_at"


def note_sign_in(sender, request, user, **kwargs):
    """Remember when this session signed in (connected in ``ApiKeysConfig.ready``)."""
    # Django sends user_logged_in after the password and any second factor, into
    # the session the sign-in just renewed.
    if request is not None and hasattr(request, "session"):
        request.session[_SIGNED_IN_AT_SESSION_KEY] = time.time()


def _signed_in_long_ago(request) -> bool:
    """True when this session's sign-in is older than allauth's re-authentication window.

    A password typed again since then is allauth's to count: the decorator then
    finds the recent re-authentication and lets the request through.
    """
    signed_in_at = request.session.get(_SIGNED_IN_AT_SESSION_KEY)
    if not isinstance(signed_in_at, int | float):
        return True
    return time.time() - signed_in_at > allauth_account_settings.REAUTHENTICATION_TIMEOUT


# allauth suspends the POST, asks for the password, then replays the POST: the
# user's form is not lost.
_fresh_sign_in_required = reauthentication_required(allow_get=True, enabled=_signed_in_long_ago)


# --- Pages ---------------------------------------------------------------------


# Every variable, not only new_value: the template's context holds the value too,
# in Django's own frames below this one.
@sensitive_variables()
def _render_page(request, *, form=None, new_key=None, new_value=None, status=200):
    owner = request.user
    api_keys = api_key_list_for(owner)
    if form is None:
        form = ApiKeyCreateForm(owners=package_owners_for(owner))
    now = timezone.now()
    # From Manage Packages: only the keys that cover one package.
    covering = request.GET.get("package", "").strip()
    if covering:
        api_keys = [k for k in api_keys if k.grant.covers(covering)]
    context = {
        "covering": covering,
        "form": form,
        "form_token": _issue_token(request),
        "api_keys": api_keys,
        "keys_url": reverse("apikeys:list"),
        "package_count": len(form.fields["packages"].choices),
        "new_key": new_key,
        "new_value": new_value,
        "expired_keys": [k for k in api_keys if not k.is_revoked and k.is_expired(now)],
        "revoked_keys": [k for k in api_keys if k.is_revoked],
        "short_lived_keys": api_key_short_lived_for(owner),
        "now": now,
    }
    return render(request, "apikeys/api_keys.html", context, status=status)


def _unconfirmed(request):
    return render(
        request, "apikeys/confirm_email_first.html", status=403 if request.method == "POST" else 200
    )


@sensitive_variables()
def _create(request, form, *, owner, render_page):
    """Create the key the valid-looking ``form`` describes, owned by ``owner``, and
    render the page with its value, or with the form's errors."""
    if form.is_valid():
        data = form.cleaned_data
        try:
            api_key, plaintext = services.api_key_create(
                owner=owner,
                package_owner=data["owner"],
                name=data["name"],
                actions=data["actions"],
                package_ids=data["packages"],
                globs=data["globs"],
                expiration_days=data["expires_in"],
                actor=request.user,
                request=request,
            )
        except ValidationError as error:
            _add_service_errors(form, error)
        else:
            _spend_token(request)
            return render_page(request, new_key=api_key, new_value=plaintext)
    return render_page(request, form=form, status=400)


@never_cache
@login_required
@require_http_methods(["GET", "HEAD", "POST"])
@_fresh_sign_in_required
def api_keys(request):
    if not has_verified_email(request.user):
        return _unconfirmed(request)
    if request.method != "POST":
        return _render_page(request)
    if not _token_is_open(request):
        return _already_submitted(request, "apikeys:list")
    owner = request.user
    form = ApiKeyCreateForm(request.POST, owners=package_owners_for(owner))
    return _create(request, form, owner=owner, render_page=_render_page)


def _add_service_errors(form, error: ValidationError) -> None:
    fields = {"name": "name", "actions": "push", "globs": "globs", "package_ids": "packages",
              "expiration_days": "expires_in", "package_owner": "owner",
              "reason": "reason"}  # fmt: skip
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(fields.get(field) if fields.get(field) in form.fields else None, errors)
    else:
        form.add_error(None, error)


def _edit(request, api_key, *, back: str):
    """The Edit page of ``api_key``: only its packages change."""
    account = api_key.account
    # A member who has left the organization no longer sees its packages.
    still_allowed = not api_key.package_owner_id or may_publish_for(api_key.owner, account)
    package_names = package_names_owned_by(account) if still_allowed else []
    if request.method == "POST":
        form = PackageSelectionForm(request.POST, package_names=package_names)
        if form.is_valid():
            try:
                services.api_key_edit(
                    api_key=api_key,
                    package_ids=form.cleaned_data["packages"],
                    globs=form.cleaned_data["globs"],
                    actor=request.user,
                    request=request,
                )
            except ValidationError as error:
                _add_service_errors(form, error)
            else:
                messages.success(
                    request, _("The packages of “%(name)s” were saved.") % {"name": api_key.name}
                )
                return redirect(back)
        status = 400
    else:
        form = PackageSelectionForm(
            package_names=package_names,
            initial={"globs": "\n".join(api_key.globs), "packages": api_key.package_ids},
        )
        status = 200
    context = {"form": form, "api_key": api_key, "package_count": len(package_names),
               "back_url": back}  # fmt: skip
    return render(request, "apikeys/api_key_edit.html", context, status=status)


@never_cache
@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def api_key_edit(request, pk):
    if not has_verified_email(request.user):
        return _unconfirmed(request)
    api_key = api_key_get_for(request.user, pk)
    return _edit(request, api_key, back=reverse("apikeys:list"))


@sensitive_variables()
def _regenerate(request, api_key, *, back: str, render_page):
    if request.method == "POST":
        if not _token_is_open(request):
            return _already_submitted(request, back)
        api_key, plaintext = services.api_key_regenerate(
            api_key=api_key, actor=request.user, request=request
        )
        _spend_token(request)
        return render_page(request, new_key=api_key, new_value=plaintext)
    return _confirm(request, api_key, "regenerate", back=back)


@never_cache
@login_required
@require_http_methods(["GET", "HEAD", "POST"])
@_fresh_sign_in_required
def api_key_regenerate(request, pk):
    if not has_verified_email(request.user):
        return _unconfirmed(request)
    api_key = api_key_get_for(request.user, pk)
    return _regenerate(request, api_key, back=reverse("apikeys:list"), render_page=_render_page)


@never_cache
@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def api_key_revoke(request, pk):
    api_key = api_key_get_for(request.user, pk)
    if request.method == "POST":
        services.api_key_revoke(api_key=api_key, actor=request.user, request=request)
        messages.success(
            request,
            _("“%(name)s” was revoked. It stays in the list; regenerate it to use it again.")
            % {"name": api_key.name},
        )
        return redirect("apikeys:list")
    return _confirm(request, api_key, "revoke", back=reverse("apikeys:list"))


def _delete(request, api_key, *, back: str):
    if request.method == "POST":
        name = api_key.name
        services.api_key_delete(api_key=api_key, actor=request.user, request=request)
        messages.success(request, _("“%(name)s” was deleted.") % {"name": name})
        return redirect(back)
    return _confirm(request, api_key, "delete", back=back)


@never_cache
@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def api_key_delete(request, pk):
    api_key = api_key_get_for(request.user, pk)
    return _delete(request, api_key, back=reverse("apikeys:list"))


def _confirm(request, api_key, action, *, back: str):
    context = {"api_key": api_key, "action": action, "back_url": back,
               "action_url": f"{back}/{api_key.pk}/{action}"}  # fmt: skip
    if action == "regenerate":
        context["form_token"] = _issue_token(request)
    return render(request, "apikeys/api_key_confirm.html", context)


# --- An organization's keys ------------------------------------------------------
# Its administrators only: anyone else, collaborators included, gets a 404.


def _organization_page(organization):
    """The organization's page renderer, in the shape ``_create`` and
    ``_regenerate`` call."""

    @sensitive_variables()
    def render_page(request, *, form=None, new_key=None, new_value=None, status=200):
        keys_url = reverse("apikeys:organization_keys", args=[organization.get_username()])
        if form is None:
            form = _organization_form(organization)
        now = timezone.now()
        # One query for both lists: the organization's keys are among those that
        # act for it.
        acting = api_key_oversight_for(organization, now)
        own = [k for k in acting if k.owner_id == organization.pk and k.policy_id is None]
        context = {
            "organization": organization,
            "form": form,
            "form_token": _issue_token(request),
            "api_keys": own,
            "acting_keys": acting,
            "keys_url": keys_url,
            "package_count": len(form.fields["packages"].choices),
            "new_key": new_key,
            "new_value": new_value,
            "now": now,
        }
        return render(request, "apikeys/organization_keys.html", context, status=status)

    return render_page


def _organization_form(organization, data=None):
    owners = [(organization, package_names_owned_by(organization))]
    return ApiKeyCreateForm(data, owners=owners)


def _organization_keys_url(organization) -> str:
    return reverse("apikeys:organization_keys", args=[organization.get_username()])


@never_cache
@login_required
@require_http_methods(["GET", "HEAD", "POST"])
@_fresh_sign_in_required
def organization_keys(request, name):
    organization = organization_for_administrator(name, request.user)
    if not has_verified_email(request.user):
        return _unconfirmed(request)
    render_page = _organization_page(organization)
    if request.method != "POST":
        return render_page(request)
    if not _token_is_open(request):
        return _already_submitted(request, _organization_keys_url(organization))
    form = _organization_form(organization, request.POST)
    return _create(request, form, owner=organization, render_page=render_page)


@never_cache
@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def organization_key_edit(request, name, pk):
    organization = organization_for_administrator(name, request.user)
    if not has_verified_email(request.user):
        return _unconfirmed(request)
    api_key = organization_key_get(organization, pk)
    return _edit(request, api_key, back=_organization_keys_url(organization))


@never_cache
@login_required
@require_http_methods(["GET", "HEAD", "POST"])
@_fresh_sign_in_required
def organization_key_regenerate(request, name, pk):
    organization = organization_for_administrator(name, request.user)
    if not has_verified_email(request.user):
        return _unconfirmed(request)
    api_key = organization_key_get(organization, pk)
    return _regenerate(request, api_key, back=_organization_keys_url(organization),
                       render_page=_organization_page(organization))  # fmt: skip


@never_cache
@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def organization_key_delete(request, name, pk):
    organization = organization_for_administrator(name, request.user)
    api_key = organization_key_get(organization, pk)
    return _delete(request, api_key, back=_organization_keys_url(organization))


@never_cache
@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def organization_key_revoke(request, name, pk):
    """Revoke, with a reason, any key that acts for the organization: its own, or
    a member's organization-scoped key (key oversight)."""
    organization = organization_for_administrator(name, request.user)
    api_key = api_key_acting_for_get(organization, pk)
    back = _organization_keys_url(organization)
    if api_key.is_revoked:
        return redirect(back)
    form = ApiKeyRevokeForm(request.POST if request.method == "POST" else None)
    status = 200
    if form.is_bound:
        if form.is_valid():
            try:
                services.api_key_revoke_for_organization(
                    api_key=api_key,
                    organization=organization,
                    reason=form.cleaned_data["reason"],
                    actor=request.user,
                    request=request,
                )
            except ValidationError as error:
                _add_service_errors(form, error)
            else:
                messages.success(
                    request,
                    _("“%(name)s” was revoked; %(creator)s was told why.")
                    % {"name": api_key.name, "creator": api_key.creator.get_username()},
                )
                return redirect(back)
        status = 400
    context = {"organization": organization, "api_key": api_key, "form": form,
               "back_url": back}  # fmt: skip
    return render(request, "apikeys/organization_key_revoke.html", context, status=status)
