"""The owner's pages: Manage package (the Listing) and Upload.

Both decide by ownership, as nuget.org does: Manage package answers 404 to anyone
but an owner (whether the ID exists is not told), and Upload adds a version only to
the uploader's own package, or creates a new ID as theirs. Storing goes through the
registry's services, so the web writes the same rows and audit events as the API.
"""

import contextlib

from allauth.account.utils import has_verified_email
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods, require_POST

from packages import nupkg, uploads, versions
from packages import services as registry
from packages.forms import ListingForm, UploadForm
from packages.models import PackageVersion


def package_page_url(package_id: str, version: str | None = None) -> str:
    """The public page of a package (or of one of its versions)."""
    if version is None:
        return reverse("packages:detail", args=[package_id])
    return reverse("packages:version_detail", args=[package_id, version])


# --- Manage package ------------------------------------------------------------------


def _owned_package(request, package_id):
    package = registry.package_find(package_id)
    if package is None or not registry.package_owned_by(package, request.user.pk):
        # Not "forbidden": to anyone but an owner, the page does not exist.
        raise Http404
    return package


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
    package = _owned_package(request, package_id)
    package_versions = _versions_of(package)
    if request.method != "POST":
        form = ListingForm(versions=package_versions)
        return _manage_page(request, package, package_versions, form)
    form = ListingForm(request.POST, versions=package_versions)
    if not form.is_valid():
        return _manage_page(request, package, package_versions, form, status=400)
    changes = form.changes()
    with transaction.atomic() if changes else contextlib.nullcontext():
        # One form, one outcome: every change is saved, or none.
        for version, listed in changes:
            registry.package_set_listed(
                version=version, listed=listed, actor=request.user, request=request
            )
    messages.success(request, _("The listing of %(id)s was saved.") % {"id": package.name})
    return redirect("packages:manage_package", package_id=package.name)


def _manage_page(request, package, package_versions, form, status=200):
    context = {
        "package": package,
        "versions": package_versions,
        "form": form,
        "package_url": package_page_url(package.name),
    }
    return render(request, "packages/package_manage.html", context, status=status)


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
    try:
        metadata = nupkg.read(pending.path)
        target = uploads.upload_target(metadata=metadata, user=request.user)
    except (nupkg.InvalidPackage, uploads.Refused) as refused:
        # The registry changed since the upload (or its limits did): start again.
        uploads.cancel(request, pending.token)
        if isinstance(refused, uploads.Refused):
            uploads.refusal_record(user=request.user, refused=refused, request=request)
        return _upload_page(request, error=refused.reason, status=400)
    context = {"metadata": metadata, "target": target, "token": pending.token}
    return render(request, "packages/upload_verify.html", context)


def _submit(request):
    pending = uploads.pending_get(request, request.POST.get("token", ""))
    if pending is None:
        return _gone(request)
    try:
        version = uploads.upload_submit(pending=pending, user=request.user, request=request)
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
