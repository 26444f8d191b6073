"""Security history: the signed-in user's own events of the last 90 days, and an
organization's for its administrators.

Paged by keyset, not by page number: a page number means counting and skipping
rows, which grows with the audit table; "events before this one" is one indexed
range scan (``audit_event_subject_idx``: subject user, newest first) whatever
the page.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from accounts.services import may_administer, organization_named
from audit.models import Event

HISTORY_DAYS = 90
PAGE_SIZE = 50
# How much of an unrecognized user agent the page shows.
USER_AGENT_SHOWN = 80

_CURSOR_RE = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6})Z,([1-9]\d{0,18})")
_MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class Cursor:
    """A position in the history: the events strictly older than this one."""

    occurred_at: datetime
    pk: int

    @classmethod
    def after(cls, event: Event) -> "Cursor":
        return cls(event.occurred_at, event.pk)

    def __str__(self) -> str:
        return f"{self.occurred_at.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%f}Z,{self.pk}"


def parse_cursor(text: str) -> Cursor | None:
    """``2025-01-31T12:00:00.000000Z,42`` as a ``Cursor``; anything else ``None``."""
    match = _CURSOR_RE.fullmatch(text)
    if match is None:
        return None
    try:
        moment = datetime.strptime(match[1], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC)
    except ValueError:
        return None
    pk = int(match[2])
    return Cursor(moment, pk) if pk <= _MAX_ID else None


def security_events_for(
    user, *, before: Cursor | None = None, now=None, page_size: int | None = None
) -> tuple[list[Event], Cursor | None]:
    """One page of ``user``'s own events, newest first, and the cursor of the next.

    One query: it fetches one row more than the page to learn whether there is a
    next page, instead of counting.
    """
    page_size = page_size or PAGE_SIZE
    since = (now or timezone.now()) - timedelta(days=HISTORY_DAYS)
    events = Event.objects.filter(subject_user=user, occurred_at__gte=since)
    if before is not None:
        events = events.filter(
            Q(occurred_at__lt=before.occurred_at)
            | Q(occurred_at=before.occurred_at, pk__lt=before.pk)
        )
    rows = list(
        events.order_by("-occurred_at", "-pk").only(
            "kind",
            "occurred_at",
            "actor_username",
            "ip",
            "user_agent",
            "api_key_hint",
            "package_id",
            "package_version",
            "details",
        )[: page_size + 1]
    )
    if len(rows) > page_size:
        return rows[:page_size], Cursor.after(rows[page_size - 1])
    return rows, None


# Checked in order: Edge and Opera also say "Chrome", Chrome also says "Safari".
_BROWSERS = [
    ("Edg/", "Edge"),
    ("EdgA/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
]
_SYSTEMS = [
    ("Windows", "Windows"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Android", "Android"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
]
# Clients that push packages and the like name themselves first.
_CLIENTS = [
    ("NuGet Command Line", "nuget.exe"),
    ("NuGet xplat", "dotnet nuget"),
    ("NuGet", "NuGet"),
    ("curl/", "curl"),
    ("python-requests/", "Python requests"),
]


def browser_summary(user_agent: str) -> str:
    """ "Firefox on Windows", "dotnet nuget", or the user agent's start if unrecognized."""
    user_agent = user_agent.strip()
    if not user_agent:
        return ""
    for token, name in _CLIENTS:
        if user_agent.startswith(token):
            return name
    if user_agent.startswith("Mozilla/"):
        browser = next((name for token, name in _BROWSERS if token in user_agent), None)
        system = next((name for token, name in _SYSTEMS if token in user_agent), None)
        if browser and system:
            return _("%(browser)s on %(system)s") % {"browser": browser, "system": system}
        if browser:
            return browser
    shown = user_agent[:USER_AGENT_SHOWN]
    return shown + "…" if len(user_agent) > USER_AGENT_SHOWN else shown


def _history_page(request, account) -> dict:
    """The context of one page of ``account``'s history, from ``?before=``; 404 for a
    cursor that is not one."""
    cursor = None
    if "before" in request.GET:
        cursor = parse_cursor(request.GET["before"])
        if cursor is None:
            raise Http404
    events, next_cursor = security_events_for(account, before=cursor)
    for event in events:
        event.browser = browser_summary(event.user_agent)
    return {
        "events": events,
        "next_cursor": str(next_cursor) if next_cursor else "",
        "is_first_page": cursor is None,
        "history_days": HISTORY_DAYS,
        # The pager's links: this page without its cursor.
        "history_url": request.path,
    }


@require_safe
@login_required
def security_history(request):
    return render(request, "portal/security.html", _history_page(request, request.user))


@require_safe
@login_required(redirect_field_name="returnUrl")
def organization_security_history(request, name):
    """The organization's own events (members, invitations, settings, keys) for its
    administrators; 404 for anyone else, as for an organization that does not exist."""
    organization = organization_named(name)
    if organization is None or not may_administer(request.user, organization.account):
        raise Http404
    context = _history_page(request, organization.account)
    return render(
        request, "portal/organization_security.html", {"organization": organization, **context}
    )
