"""The owner's pages: Manage package (the Listing and the Owners), the answer to an
ownership request, and Upload.

They decide by ownership, as nuget.org does. Manage package answers 404 to anyone who
does not act for one of the package's owners (whether the ID exists is not told);
every member of an owning organization sees it and may unlist and relist, and only
administrators of an owner manage the owners. Upload adds a version to a package the
uploader acts for, or creates a new ID as theirs or an organization's. Storing goes
through the registry's services, so the web writes the same rows and audit events as
the API.
"""

import contextlib

from allauth.account.utils import has_verified_email
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods, require_POST

from accounts import conf as accounts_conf
from packages import nupkg, uploads, versions
from packages import services as registry
from packages.forms import ListingForm, OwnerAddForm, PackageOwnerForm, UploadForm
from packages.models import PackageVersion
from packages.selectors import ownership_requests_for

# nuget.org's name for the page to return to after signing in.
RETURN_URL_PARAM = "returnUrl"


def package_page_url(package_id: str, version: str | None = None) -> str:
    """The public page of a package (or of one of its versions)."""
    if version is None:
        return reverse("packages:detail", args=[package_id])
    return reverse("packages:version_detail", args=[package_id, version])


# --- Manage package ------------------------------------------------------------------


def _managed_package(request, package_id):
    """(package, its owners with the user's roles), when the user acts for an owner."""
    package = registry.package_find(package_id)
    owners = registry.package_owners_for(package, request.user) if package else []
    if not registry.may_publish_package(owners):
        # Not "forbidden": to anyone who does not act for an owner, the page does not exist.
        raise Http404
    return package, owners


def _versions_of(package) -> list[PackageVersion]:
    found = list(
        PackageVersion.objects.filter(package=package).only(
            "pk", "package_id", "normalized_version", "listed", "download_count", "pushed_at"
        )
    )
    for version in found:
        version.package = package
    found.sort(key=lambda v: versions.normalized_sort_key(v.normalized_version), reverse=True)
    return found


@never_cache
@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def manage_package(request, package_id):
    package, owners = _managed_package(request, package_id)
    package_versions = _versions_of(package)
    if request.method != "POST":
        form = ListingForm(versions=package_versions)
        return _manage_page(request, package, owners, form=form, package_versions=package_versions)
    form = ListingForm(request.POST, versions=package_versions)
    if not form.is_valid():
        return _manage_page(
            request, package, owners, form=form, package_versions=package_versions, status=400
        )
    changes = form.changes()
    with transaction.atomic() if changes else contextlib.nullcontext():
        # One form, one outcome: every change is saved, or none.
        for version, listed in changes:
            registry.package_set_listed(
                version=version, listed=listed, actor=request.user, request=request
            )
    messages.success(request, _("The listing of %(id)s was saved.") % {"id": package.name})
    return redirect("packages:manage_package", package_id=package.name)


def _manage_page(
    request,
    package,
    owners,
    *,
    form=None,
    package_versions=None,
    owner_form=None,
    owners_error="",
    status=200,
):
    if package_versions is None:
        package_versions = _versions_of(package)
    may_manage_owners = registry.may_manage_owners(owners)
    context = {
        "package": package,
        "versions": package_versions,
        "form": form or ListingForm(versions=package_versions),
        "package_url": package_page_url(package.name),
        "owners": owners,
        "may_manage_owners": may_manage_owners,
        # The last owner stays: no Remove button for it.
        "removable": may_manage_owners and len(owners) > 1,
        "ownership_requests": ownership_requests_for(package),
        "owner_form": owner_form or OwnerAddForm(),
        "owners_error": owners_error,
        "request_days": accounts_conf.INVITATION_LIFETIME.days,
        "now": timezone.now(),
    }
    return render(request, "packages/package_manage.html", context, status=status)


def _owners_managed(request, package_id):
    """(package, owners) when the user administers one of the owners: 404 for anyone
    who does not see the page, 403 for a collaborator who does."""
    package, owners = _managed_package(request, package_id)
    if not registry.may_manage_owners(owners):
        raise PermissionDenied
    return package, owners


def _back_to_owners(package):
    return redirect(reverse("packages:manage_package", args=[package.name]) + "#owners")


@never_cache
@login_required
@require_POST
def owner_add(request, package_id):
    """Add owner: send an ownership request to a user or an organization."""
    package, owners = _owners_managed(request, package_id)
    form = OwnerAddForm(request.POST)
    if form.is_valid():
        try:
            ownership = registry.ownership_request(
                package=package,
                new_owner_name=form.cleaned_data["new_owner"],
                actor=request.user,
                request=request,
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(
                request,
                _(
                    "An ownership request was sent to %(name)s. They become an owner of "
                    "%(id)s when they accept it."
                )
                % {"name": ownership.new_owner.get_username(), "id": package.name},
            )
            return _back_to_owners(package)
    return _manage_page(request, package, owners, owner_form=form, status=400)


@never_cache
@login_required
@require_POST
def owner_remove(request, package_id):
    """Remove an owner, named by the form's ``owner``; never the last one."""
    package, owners = _owners_managed(request, package_id)
    name = request.POST.get("owner", "").strip().lower()
    owner = next((o.account for o in owners if o.name.lower() == name), None)
    if owner is None:
        raise Http404
    try:
        registry.owner_remove(package=package, owner=owner, actor=request.user, request=request)
    except ValidationError as error:
        return _manage_page(
            request, package, owners, owners_error=" ".join(error.messages), status=400
        )
    messages.success(
        request,
        _("%(name)s is no longer an owner of %(id)s.")
        % {"name": owner.get_username(), "id": package.name},
    )
    if not registry.may_publish_package(registry.package_owners_for(package, request.user)):
        # They removed the owner they acted for: the Manage page is no longer theirs.
        return redirect("packages:manage")
    return _back_to_owners(package)


@never_cache
@login_required
@require_POST
def ownership_cancel(request, package_id, request_id):
    """Cancel a pending ownership request."""
    package, _owners = _owners_managed(request, package_id)
    try:
        registry.ownership_request_cancel(
            package=package, request_id=int(request_id), actor=request.user, request=request
        )
    except registry.NotFound:
        messages.info(request, _("That ownership request is no longer pending."))
    else:
        messages.success(request, _("The ownership request was cancelled."))
    return _back_to_owners(package)


# --- Answering an ownership request ---------------------------------------------------


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def ownership_answer(request, package_id, request_id):
    """The page the ownership request's email links to: Accept or Decline. Only the
    recipient, or an administrator of the recipient organization, finds it; for
    anyone else it does not exist."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), redirect_field_name=RETURN_URL_PARAM)
    try:
        ownership = registry.ownership_request_get(int(request_id), request.user)
    except registry.NotFound:
        raise Http404 from None
    package = ownership.package
    if package.name.lower() != package_id.lower():
        raise Http404
    error = ""
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "accept":
                registry.ownership_accept(
                    request_id=ownership.pk, user=request.user, request=request
                )
                messages.success(
                    request,
                    _("%(name)s is now an owner of %(id)s.")
                    % {"name": ownership.new_owner.get_username(), "id": package.name},
                )
                return redirect("packages:manage_package", package_id=package.name)
            if action == "decline":
                registry.ownership_decline(
                    request_id=ownership.pk, user=request.user, request=request
                )
                messages.info(
                    request,
                    _("You declined the request to co-own %(id)s.") % {"id": package.name},
                )
                return redirect("packages:manage")
            error = _("Choose Accept or Decline.")
        except registry.NotFound:
            raise Http404 from None
        except ValidationError as refused:
            error = " ".join(refused.messages)
    context = {
        "ownership": ownership,
        "package": package,
        "for_organization": ownership.new_owner.pk != request.user.pk,
        "expired": ownership.is_expired(),
        "error": error,
        "package_url": package_page_url(package.name),
    }
    return render(request, "packages/ownership_request.html", context, status=400 if error else 200)


# --- Upload ----------------------------------------------------------------------------


def _upload_page(request, form=None, *, error=None, status=200):
    if form is None:
        form = UploadForm(user=request.user)
    if error is not None:
        # Shown next to the file field, where the form's own errors go.
        form.errors["package"] = form.error_class([error])
    return render(request, "packages/upload.html", {"form": form}, status=status)


def _unconfirmed(request):
    return render(
        request,
        "packages/upload.html",
        {"unconfirmed": True},
        status=403 if request.method == "POST" else 200,
    )


# CSRF is checked in _receive, after the handler that streams the file to the
# uploads folder is installed: Django reads the body once, with the handlers it
# has when the CSRF check first reads request.POST.
@csrf_exempt
@never_cache
@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def upload(request):
    uploads.sweep()
    if request.method != "POST":
        if not has_verified_email(request.user):
            return _unconfirmed(request)
        return _upload_page(request)
    receiver = uploads.Receiver(request)
    try:
        return _receive(request, receiver)
    finally:
        # A refused form, a failed CSRF check or a crash: the file goes.
        receiver.discard_unless_kept()


@csrf_protect
def _receive(request, receiver):
    if not has_verified_email(request.user):
        return _unconfirmed(request)
    # One pending upload per user: the one before this goes, whichever session made it.
    uploads.discard_all_for(request.user.pk, keep=receiver.handler.path)
    uploads.forget(request)
    form = UploadForm(request.POST, request.FILES, user=request.user)
    if not form.is_valid():
        if form.refused is not None:
            uploads.refusal_record(user=request.user, refused=form.refused, request=request)
        return _upload_page(request, form, status=400)
    receiver.keep(request)
    return redirect("packages:upload_verify")


def _gone(request):
    return _upload_page(
        request,
        error=_(
            "This upload was already submitted or cancelled, or it has expired. "
            "Choose the package file again."
        ),
        status=400,
    )


@never_cache
@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def upload_verify(request):
    if not has_verified_email(request.user):
        return _unconfirmed(request)
    if request.method == "POST":
        return _submit(request)
    pending = uploads.pending_get(request)
    if pending is None:
        messages.info(request, _("No upload is waiting: choose a package file to upload."))
        return redirect("packages:upload")
    checked = _check_pending(request, pending)
    if not isinstance(checked, tuple):
        return checked
    metadata, target = checked
    return _verify_page(request, pending, metadata, target, PackageOwnerForm(user=request.user))


def _check_pending(request, pending):
    """(metadata, target) of the pending upload, or the Upload page with the reason it
    can no longer be stored (the registry, or its limits, changed since the upload)."""
    try:
        metadata = nupkg.read(pending.path)
        return metadata, uploads.upload_target(metadata=metadata, user=request.user)
    except (nupkg.InvalidPackage, uploads.Refused) as refused:
        uploads.cancel(request, pending.token)
        if isinstance(refused, uploads.Refused):
            uploads.refusal_record(user=request.user, refused=refused, request=request)
        return _upload_page(request, error=refused.reason, status=400)


def _verify_page(request, pending, metadata, target, owner_form, status=200):
    context = {
        "metadata": metadata,
        "target": target,
        "token": pending.token,
        # A new ID asks whose it will be, when there is a choice.
        "owner_form": owner_form if target is None and owner_form.has_choice else None,
    }
    return render(request, "packages/upload_verify.html", context, status=status)


def _submit(request):
    pending = uploads.pending_get(request, request.POST.get("token", ""))
    if pending is None:
        return _gone(request)
    checked = _check_pending(request, pending)
    if not isinstance(checked, tuple):
        return checked
    metadata, target = checked
    owner_form = PackageOwnerForm(request.POST, user=request.user)
    if target is None and not owner_form.is_valid():
        # The upload still waits: choose the owner and Submit again.
        return _verify_page(request, pending, metadata, target, owner_form, status=400)
    owner = owner_form.chosen_owner() if target is None else None
    try:
        version = uploads.upload_submit(
            pending=pending, user=request.user, owner=owner, request=request
        )
    except uploads.Expired:
        return _gone(request)
    except nupkg.InvalidPackage as invalid:
        return _upload_page(request, error=invalid.reason, status=400)
    except uploads.Refused as refused:
        uploads.refusal_record(user=request.user, refused=refused, request=request)
        return _upload_page(request, error=refused.reason, status=400)
    finally:
        uploads.forget(request)
    messages.success(
        request,
        _("%(id)s %(version)s was uploaded.")
        % {"id": version.package.name, "version": version.normalized_version},
    )
    return redirect(package_page_url(version.package.name, version.normalized_version))


@never_cache
@login_required
@require_POST
def upload_cancel(request):
    uploads.cancel(request, request.POST.get("token", ""))
    messages.info(request, _("The upload was cancelled; nothing was stored."))
    return redirect("packages:upload")
