"""The organization pages: add one, list mine, manage one (contact email, members,
invitations, leaving, deleting), and answer an invitation.

Thin: each view parses the request, calls one service, and renders or redirects.
An organization is shown only to its members: anyone else gets 404, as for a
page that does not exist. Administrators' actions answer a collaborator with 403.
"""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts import services
from accounts.forms import (
    InvitationCancelForm,
    MemberForm,
    MemberInviteForm,
    MemberRoleForm,
    OrganizationAddForm,
    OrganizationEditForm,
)
from accounts.models import Role

# nuget.org names the sign-in page's return target "returnUrl"; the sign-in view
# takes it as allauth's "next".
signed_in = login_required(redirect_field_name="returnUrl")


def _add_service_errors(form, error: ValidationError) -> None:
    """The service's errors on the form's fields of the same names, else on the form."""
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


def _membership(request, name: str):
    """(organization, role) for a member; 404 for anyone else and for no such name."""
    organization = services.organization_named(name)
    if organization is None:
        raise Http404
    role = services.role_of(request.user, organization.account)
    if role is None:
        raise Http404
    return organization, role


def _administered(request, name: str):
    """The organization, for one of its administrators; 403 for a collaborator."""
    organization, role = _membership(request, name)
    if role != Role.ADMINISTRATOR:
        raise PermissionDenied
    return organization


def _member_named(username: str):
    member = get_user_model().objects.filter(username__iexact=username).first()
    if member is None:
        raise Http404
    return member


def _organization_keys_url(name: str) -> str:
    try:
        return reverse("apikeys:organization_keys", args=[name])
    except NoReverseMatch:
        return f"/organization/{name}/apikeys"


def _render_manage(request, organization, role, *, status=200, **forms_and_errors):
    is_admin = role == Role.ADMINISTRATOR
    context = {
        "organization": organization,
        "role": role,
        "is_admin": is_admin,
        "members": services.members_of(organization),
        "role_choices": Role.choices,
        "edit_form": OrganizationEditForm(initial={"email": organization.email}),
        "invite_form": MemberInviteForm(),
        "now": timezone.now(),
        **forms_and_errors,
    }
    if is_admin:
        context["invitations"] = services.invitations_of(organization)
        context["package_count"] = organization.account.packages.count()
        context["keys_url"] = _organization_keys_url(organization.name)
    return render(request, "accounts/organization_manage.html", context, status=status)


def _to_manage(organization):
    return redirect("accounts:manage", organization.name)


# --- mine ----------------------------------------------------------------------------


@require_safe
@signed_in
def organization_list(request):
    return render(
        request,
        "accounts/organization_list.html",
        {
            "memberships": services.memberships_of(request.user),
            "invitations": services.invitations_to(request.user),
            "now": timezone.now(),
        },
    )


@never_cache
@signed_in
@require_http_methods(["GET", "HEAD", "POST"])
def organization_add(request):
    if request.method != "POST":
        form = OrganizationAddForm()
        return render(request, "accounts/organization_add.html", {"form": form})
    form = OrganizationAddForm(request.POST)
    if form.is_valid():
        try:
            organization = services.organization_create(
                name=form.cleaned_data["name"],
                email=form.cleaned_data["email"],
                actor=request.user,
                request=request,
            )
        except ValidationError as error:
            _add_service_errors(form, error)
        else:
            messages.success(
                request,
                _("The organization %(name)s was created. You are its administrator.")
                % {"name": organization.name},
            )
            return _to_manage(organization)
    return render(request, "accounts/organization_add.html", {"form": form}, status=400)


# --- one organization ----------------------------------------------------------------


@never_cache
@require_safe
@signed_in
def organization_manage(request, name):
    organization, role = _membership(request, name)
    return _render_manage(request, organization, role)


@never_cache
@signed_in
@require_POST
def organization_edit(request, name):
    organization = _administered(request, name)
    form = OrganizationEditForm(request.POST)
    if form.is_valid():
        try:
            services.organization_edit(organization=organization, email=form.cleaned_data["email"],
                                       actor=request.user, request=request)  # fmt: skip
        except ValidationError as error:
            _add_service_errors(form, error)
        else:
            messages.success(request, _("The contact email address was saved."))
            return _to_manage(organization)
    organization.refresh_from_db(fields=["email"])
    return _render_manage(request, organization, Role.ADMINISTRATOR, edit_form=form, status=400)


@never_cache
@signed_in
@require_POST
def member_add(request, name):
    organization = _administered(request, name)
    form = MemberInviteForm(request.POST)
    if form.is_valid():
        try:
            invitation = services.member_invite(
                organization=organization,
                who=form.cleaned_data["who"],
                role=form.cleaned_data["role"],
                actor=request.user,
                request=request,
            )
        except ValidationError as error:
            _add_service_errors(form, error)
        else:
            messages.success(
                request,
                _("%(name)s was invited. The invitation expires in 7 days.")
                % {"name": invitation.user.get_username()},
            )
            return _to_manage(organization)
    return _render_manage(request, organization, Role.ADMINISTRATOR, invite_form=form, status=400)


@never_cache
@signed_in
@require_POST
def member_update(request, name):
    organization = _administered(request, name)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        return _render_manage(
            request, organization, Role.ADMINISTRATOR, status=400,
            member_error={"member": request.POST.get("member", ""),
                          "message": _("Choose a role.")},
        )  # fmt: skip
    member = _member_named(form.cleaned_data["member"])
    try:
        membership = services.member_role_set(
            organization=organization,
            member=member,
            role=form.cleaned_data["role"],
            actor=request.user,
            request=request,
        )
    except services.NotFound:
        raise Http404 from None
    except ValidationError as error:
        return _render_manage(
            request, organization, Role.ADMINISTRATOR, status=400,
            member_error={"member": member.get_username(), "message": " ".join(error.messages)},
        )  # fmt: skip
    messages.success(
        request,
        _("%(name)s is now %(role)s.")
        % {"name": member.get_username(), "role": membership.get_role_display()},
    )
    return _to_manage(organization)


@never_cache
@signed_in
@require_POST
def member_delete(request, name):
    organization = _administered(request, name)
    form = MemberForm(request.POST)
    if not form.is_valid():
        raise Http404
    member = _member_named(form.cleaned_data["member"])
    try:
        services.member_remove(organization=organization, member=member, actor=request.user,
                               request=request)  # fmt: skip
    except services.NotFound:
        raise Http404 from None
    except ValidationError as error:
        return _render_manage(
            request, organization, Role.ADMINISTRATOR, status=400,
            member_error={"member": member.get_username(), "message": " ".join(error.messages)},
        )  # fmt: skip
    if member.pk == request.user.pk:
        messages.success(request, _("You left %(name)s.") % {"name": organization.name})
        return redirect("accounts:list")
    messages.success(
        request,
        _("%(member)s was removed from %(name)s.")
        % {"member": member.get_username(), "name": organization.name},
    )
    return _to_manage(organization)


@never_cache
@signed_in
@require_POST
def organization_leave(request, name):
    organization, role = _membership(request, name)
    try:
        services.member_remove(organization=organization, member=request.user,
                               actor=request.user, request=request)  # fmt: skip
    except services.NotFound:
        raise Http404 from None
    except ValidationError as error:
        return _render_manage(
            request, organization, role, status=400, leave_error=" ".join(error.messages)
        )
    messages.success(request, _("You left %(name)s.") % {"name": organization.name})
    return redirect("accounts:list")


@never_cache
@signed_in
@require_POST
def invitation_cancel(request, name):
    organization = _administered(request, name)
    form = InvitationCancelForm(request.POST)
    if not form.is_valid():
        raise Http404
    try:
        services.invitation_cancel(organization=organization,
                                   invitation_id=form.cleaned_data["invitation"],
                                   actor=request.user, request=request)  # fmt: skip
    except services.NotFound:
        raise Http404 from None
    messages.success(request, _("The invitation was cancelled."))
    return _to_manage(organization)


@never_cache
@signed_in
@require_http_methods(["GET", "HEAD", "POST"])
def organization_delete(request, name):
    organization = _administered(request, name)
    error, status = None, 200
    if request.method == "POST":
        try:
            services.organization_delete(organization=organization, actor=request.user,
                                         request=request)  # fmt: skip
        except ValidationError as refusal:
            error, status = " ".join(refusal.messages), 400
        else:
            messages.success(
                request, _("The organization %(name)s was deleted.") % {"name": organization.name}
            )
            return redirect("accounts:list")
    return render(
        request,
        "accounts/organization_confirm_delete.html",
        {
            "organization": organization,
            "package_count": organization.account.packages.count(),
            "error": error,
        },
        status=status,
    )


# --- an invitation -------------------------------------------------------------------


@never_cache
@signed_in
@require_http_methods(["GET", "HEAD", "POST"])
def invitation(request, pk):
    try:
        invitation = services.invitation_for(pk, request.user)
    except services.NotFound:
        raise Http404 from None
    organization = invitation.organization
    error, status = None, 200
    if request.method == "POST":
        answer = request.POST.get("answer")
        try:
            if answer == "accept":
                membership = services.invitation_accept(
                    invitation_id=pk, user=request.user, request=request
                )
                messages.success(
                    request,
                    _("You joined %(name)s as %(role)s.")
                    % {"name": organization.name, "role": membership.get_role_display()},
                )
                return _to_manage(organization)
            if answer == "decline":
                services.invitation_decline(invitation_id=pk, user=request.user, request=request)
                messages.success(
                    request,
                    _("You declined the invitation to %(name)s.") % {"name": organization.name},
                )
                return redirect("accounts:list")
            error = _("Choose Accept or Decline.")
        except services.NotFound:
            raise Http404 from None
        except ValidationError as refusal:
            error = " ".join(refusal.messages)
        status = 400
    return render(
        request,
        "accounts/invitation.html",
        {"invitation": invitation, "expired": invitation.is_expired(), "error": error},
        status=status,
    )
