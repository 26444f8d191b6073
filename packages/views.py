"""The registry's pages: Manage Packages, and the gallery that anyone may browse (the
package list, package pages, profiles and package icons)."""

from functools import wraps
from html import escape
from urllib.parse import urlsplit

from csp.decorators import csp_update
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from accounts.services import organization_of
from packages import contents, readme, search, services
from packages.selectors import (
    PAGE_SIZE,
    gallery_is_private,
    gallery_readable_by,
    gallery_search,
    install_commands,
    organization_member_names,
    ownership_requests_to,
    package_list_for,
    package_page_get,
    profile_account_get,
    profile_packages,
)

ICON_CHUNK_SIZE = 64 * 1024
# Page numbers stop where search's skip does.
MAX_PAGE = search.MAX_SKIP // PAGE_SIZE + 1


@require_safe
@login_required
def manage_packages(request):
    """The packages the user may publish (theirs and their organizations'), and the
    ownership requests they may answer."""
    context = {
        "packages": package_list_for(request.user),
        "ownership_requests": ownership_requests_to(request.user),
        "now": timezone.now(),
    }
    return render(request, "packages/manage_packages.html", context)


# --- The gallery ----------------------------------------------------------------------


def _bad_request(request, reason: str) -> HttpResponse:
    response = render(request, "packages/bad_request.html", {"reason": reason}, status=400)
    response.reason_phrase = f"Bad Request: {reason}"
    return response


def gallery_page(view):
    """The gallery's read rule (``gallery_readable_by``) in front of ``view``: an
    anonymous visitor of a private gallery is sent to sign in, a signed-in user who may
    not read gets 403; neither learns whether a package exists. Answers on a private
    gallery are private to their reader."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not gallery_readable_by(request.user):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            response = render(request, "packages/gallery_closed.html", status=403)
            response.reason_phrase = "Forbidden: confirm your email address to browse packages"
            return response
        response = view(request, *args, **kwargs)
        if gallery_is_private():
            patch_cache_control(response, private=True)
            patch_vary_headers(response, ("Cookie",))
        return response

    return wrapper


def _flag(value: str | None, default: bool) -> bool | None:
    text = (value or "").strip().lower()
    if not text:
        return default
    return {"true": True, "false": False}.get(text)


@require_safe
@gallery_page
def package_list(request):
    """``/packages?q=&prerel=&page=``: search's query and ranking, 20 a page; an empty
    query lists the most downloaded."""
    prerelease = _flag(request.GET.get("prerel"), True)
    if prerelease is None:
        return _bad_request(request, _("prerel must be true or false."))
    page_text = (request.GET.get("page") or "1").strip()
    if not (page_text.isascii() and page_text.isdigit()) or not 1 <= int(page_text) <= MAX_PAGE:
        return _bad_request(
            request, _("page must be a whole number from 1 to %(max)d.") % {"max": MAX_PAGE}
        )
    page = int(page_text)
    try:
        # The search API's own parsing of the query text; the gallery shows SemVer 2.
        query = search.SearchQuery.from_params(
            {
                "q": request.GET.get("q"),
                "skip": str((page - 1) * PAGE_SIZE),
                "take": str(PAGE_SIZE),
                "prerelease": "true" if prerelease else "false",
                "semVerLevel": "2.0.0",
            }
        )
    except search.BadParameter as error:
        return _bad_request(request, str(error))
    total, packages = gallery_search(query)
    last_page = min(MAX_PAGE, max(1, -(-total // PAGE_SIZE)))
    return render(
        request,
        "packages/package_list.html",
        {
            "q": query.q,
            "gallery_q": query.q,
            "prerelease": prerelease,
            "total": total,
            "packages": packages,
            "page": page,
            "previous_page": page - 1 if page > 1 else None,
            "next_page": page + 1 if page < last_page else None,
            "last_page": last_page,
        },
    )


@require_safe
@gallery_page
# A readme may show images from any https address; scripts stay our own.
@csp_update({"img-src": ["https:"]})
def package_detail(request, package_id: str, version: str | None = None):
    found = package_page_get(package_id, version, viewer=request.user)
    if found is None:
        raise Http404(_("There is no package %(id)s.") % {"id": package_id[:100]})
    shown = found.shown
    return render(
        request,
        "packages/package_detail.html",
        {
            "page": found,
            "package": found.package,
            "shown": shown,
            "readme": readme.version_readme(shown),
            "install_commands": install_commands(found.package.name, shown.normalized_version),
            "lower_id": found.package.name.lower(),
            "lower_version": shown.normalized_version.lower(),
            "project_url": _web_url(shown.project_url),
            "version_rows": _version_rows(found),
        },
    )


# One line of the versions table. The rows are written here rather than by a template
# loop: at 1,000 versions the loop's nodes (a few per cell) were most of the page's time.
_VERSION_ROW = (
    '<tr{current}><td><a href="{href}">{version}</a></td><td>{downloads}</td>'
    '<td><time datetime="{date}">{date}</time></td>{status}</tr>'
)
_CURRENT_ROW = ' class="versions-table__current" aria-current="page"'


def _version_rows(found) -> SafeString:
    """The versions table's rows, as HTML. Every text from outside is escaped here.
    Dates are ISO 8601 (the same in every language), counts grouped as the language
    groups them; owners get a Status column."""
    prefix = escape(reverse("packages:detail", args=[found.package.name]) + "/")
    separator = escape(formats.get_format("THOUSAND_SEPARATOR"))
    current = found.shown.normalized_version
    listed_cell = unlisted_cell = ""
    if found.may_manage:
        listed_cell = format_html("<td>{}</td>", _("Listed"))
        unlisted_cell = format_html("<td>{}</td>", _("Unlisted"))
    lines = []
    for row in found.versions:
        version = escape(row.version)
        date = row.pushed_on.isoformat()
        lines.append(
            _VERSION_ROW.format(
                current=_CURRENT_ROW if row.version == current else "",
                href=prefix + version,
                version=version,
                downloads=f"{row.downloads:,}".replace(",", separator),
                date=date,
                status=listed_cell if row.listed else unlisted_cell,
            )
        )
    return mark_safe("\n".join(lines))  # noqa: S308 (every value above is escaped)


def _web_url(url: str) -> str:
    """``url`` when it is an http or https address, else "" (a nuspec may say anything)."""
    url = (url or "").strip()
    parts = urlsplit(url)
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else ""


@require_safe
@gallery_page
def package_icon(request, package_id: str, version: str):
    """A version's embedded icon, read from the stored package under the gallery's rule
    (the flat container's copy needs a key on a private feed)."""
    found = services.version_find(package_id, version)
    if found is None or not found.icon_path:
        raise Http404(_("This package version has no icon."))
    kind = contents.ICON_TYPES.get(contents.extension(found.icon_path))
    if kind is None:
        raise Http404(_("This package version has no icon."))
    try:
        member = contents.open_member(found.file_name, contents.named(found.icon_path))
    except (FileNotFoundError, contents.Unreadable):
        member = None
    if member is None:
        raise Http404(_("This package version has no icon."))
    response = StreamingHttpResponse(member.chunks(ICON_CHUNK_SIZE), content_type=kind)
    response["Content-Length"] = str(member.entry.file_size)
    # A version's files never change; a day keeps an icon fresh enough if it is replaced
    # by deleting and pushing the version again.
    patch_cache_control(response, max_age=86400)
    return response


@require_safe
@gallery_page
def profile(request, username: str):
    """A user's or an organization's packages; an organization's lists its members too."""
    account = profile_account_get(username)
    if account is None:
        raise Http404
    organization = organization_of(account)
    packages, total_downloads = profile_packages(account)
    context = {
        "account": account,
        "organization": organization,
        "members": organization_member_names(organization) if organization else [],
        "packages": packages,
        "total_downloads": total_downloads,
    }
    return render(request, "packages/profile.html", context)
