"""The audit log in the admin: read-only for everyone, and fast at millions of events.

Four stock admin habits would read the whole table on every page load, so each is
replaced: the paginator's COUNT(*) (pages here only know whether another follows),
the date hierarchy's SELECT DISTINCT over every row (here at most two index lookups
per level), ``icontains`` search on every field (here equality and IN lookups that
an index can answer), and sorting by columns without an index (only the time sorts).
"""

import datetime
import ipaddress
from functools import cached_property

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ERROR_FLAG, PAGE_VAR, ChangeList
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.db.models.functions import Lower
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from audit.events import record
from audit.export import events_csv_response
from audit.models import Event, EventKind


class EventPaginator(Paginator):
    """Pages that know whether another follows, never how many there are.

    It reads the requested page and one row more. ``count`` is exact on the last
    page; before it, it is only "more than this page", which is all the links need.
    """

    def __init__(self, object_list, per_page, *, page_number: int):
        super().__init__(object_list, per_page)
        # A page number below 1 reads page 1; ChangeList still refuses it (EmptyPage).
        self.page_number = max(page_number, 1)

    @cached_property
    def _offset(self) -> int:
        return (self.page_number - 1) * self.per_page

    @cached_property
    def rows(self) -> list:
        return list(self.object_list[self._offset : self._offset + self.per_page + 1])

    @cached_property
    def count(self) -> int:
        return self._offset + len(self.rows)

    @property
    def has_more(self) -> bool:
        return len(self.rows) > self.per_page

    @property
    def first_shown(self) -> int:
        return self._offset + 1

    @property
    def last_shown(self) -> int:
        return self._offset + min(len(self.rows), self.per_page)

    def page(self, number):
        number = self.validate_number(number)
        if number == self.page_number:
            return self._get_page(self.rows[: self.per_page], number, self)
        return super().page(number)


def _page_number(request) -> int:
    # As ChangeList reads it, so that the paginator reads the page the list shows.
    try:
        return int(request.GET.get(PAGE_VAR, 1))
    except ValueError:
        return 1


class EventChangeList(ChangeList):
    def get_results(self, request):
        super().get_results(request)
        # On a single page the stock ChangeList reads the rows again, unsliced. The
        # paginator has read page 1 already (so a search that scans reads the table
        # once); an empty page 2 of a short list shows page 1, as the stock list does.
        if not self.multi_page:
            if self.paginator.page_number == 1:
                self.result_list = self.paginator.rows[: self.list_per_page]
            else:
                self.result_list = self.queryset[: self.list_per_page]

    def get_ordering_field(self, field_name):
        # sortable_by only hides the other headers; a hand-made ?o= would still sort
        # a million rows by a column without an index.
        if field_name not in self.sortable_by:
            return None
        return super().get_ordering_field(field_name)

    @cached_property
    def date_hierarchy_context(self) -> dict:
        """What the stock ``date_hierarchy`` tag gives its template, read cheaply.

        The stock tag asks for the distinct years (months, days) of the filtered rows,
        which reads all of them. Here the first and last event of the period bound
        the links instead: two index lookups, or none when every match is on the
        page. A month without events between them still gets a link, which leads to
        an empty list.
        """
        field = self.date_hierarchy
        year_field, month_field, day_field = f"{field}__year", f"{field}__month", f"{field}__day"
        year = self.params.get(year_field)
        month = self.params.get(month_field)
        day = self.params.get(day_field)

        def link(filters):
            return self.get_query_string(filters, [f"{field}__"])

        if year and month and day:
            date = datetime.date(int(year), int(month), int(day))
            return {
                "show": True,
                "back": {
                    "link": link({year_field: year, month_field: month}),
                    "title": capfirst(formats.date_format(date, "YEAR_MONTH_FORMAT")),
                },
                "choices": [{"title": capfirst(formats.date_format(date, "MONTH_DAY_FORMAT"))}],
            }
        first, last = self._first_and_last(field)
        # As the stock tag does: a list within one year opens at its months.
        if not (year or month or day) and first is not None and first.year == last.year:
            year = first.year
            if first.month == last.month:
                month = first.month
        if year and month:
            year, month = int(year), int(month)
            days = range(first.day, last.day + 1) if first is not None else ()
            return {
                "show": True,
                "back": {"link": link({year_field: year}), "title": str(year)},
                "choices": [
                    {
                        "link": link({year_field: year, month_field: month, day_field: d}),
                        "title": capfirst(
                            formats.date_format(datetime.date(year, month, d), "MONTH_DAY_FORMAT")
                        ),
                    }
                    for d in days
                ],
            }
        if year:
            year = int(year)
            months = range(first.month, last.month + 1) if first is not None else ()
            return {
                "show": True,
                "back": {"link": link({}), "title": _("All dates")},
                "choices": [
                    {
                        "link": link({year_field: year, month_field: m}),
                        "title": capfirst(
                            formats.date_format(datetime.date(year, m, 1), "YEAR_MONTH_FORMAT")
                        ),
                    }
                    for m in months
                ],
            }
        years = range(first.year, last.year + 1) if first is not None else ()
        return {
            "show": True,
            "back": None,
            "choices": [{"link": link({year_field: y}), "title": str(y)} for y in years],
        }

    def _first_and_last(self, field):
        if self.multi_page:
            moments = self.queryset.values_list(field, flat=True)
            first = moments.order_by(field).first()
            last = moments.order_by(f"-{field}").first()
        else:
            # Every match is on this page already: no query (and none that scans the
            # table again for a search that matched little or nothing).
            shown = [getattr(event, field) for event in self.result_list]
            first, last = (min(shown), max(shown)) if shown else (None, None)
        if first is None or last is None:
            return None, None
        return timezone.localtime(first), timezone.localtime(last)


# A name prefix matching more users than this is looked up by subquery instead of by
# a list of IDs: correct, but PostgreSQL can then no longer combine indexes for it.
_USERS_BY_LIST = 100


def _search_filter(term: str) -> Q:
    """What one search word matches: an IP address exactly; else a user by the
    beginning of their name, a package ID regardless of case, or a key hint exactly.

    Each branch is an equality or IN lookup that an index can answer (the stock
    search's ``icontains`` on every field cannot use one). Users are found by ID,
    resolved first, so that the database can combine the actor and subject indexes;
    the actor's name kept by value matches exactly, for events that outlive their actor.
    """
    try:
        address = ipaddress.ip_address(term)
    except ValueError:
        pass
    else:
        return Q(ip=str(address))
    users = get_user_model().objects.filter(username__istartswith=term).values_list("pk", flat=True)
    user_ids = list(users[: _USERS_BY_LIST + 1])
    if len(user_ids) > _USERS_BY_LIST:
        user_ids = users
    return (
        Q(actor_username=term)
        | Q(actor__in=user_ids)
        | Q(subject_user__in=user_ids)
        | Q(package_id_lower=term.lower())
        | Q(api_key_hint=term)
    )


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    """The audit log is read-only for everyone, superusers included."""

    list_display = ["occurred_at", "kind", "actor_name", "subject_user", "api_key_hint",
                    "package", "ip"]  # fmt: skip
    list_select_related = ["subject_user"]
    list_filter = ["kind", "occurred_at"]
    date_hierarchy = "occurred_at"
    # The search box shows when search_fields is set; get_search_results decides how
    # each word is looked up.
    search_fields = ["actor_username", "subject_user__username", "package_id", "ip",
                     "api_key_hint"]  # fmt: skip
    search_help_text = _(
        "An IP address, a user name or its beginning, a package ID, or an API key hint "
        "exactly as shown."
    )
    sortable_by = ["occurred_at"]
    # Counting the matching events would read them all: see EventPaginator.
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    # "Show all" would render every matching event on one page.
    list_max_show_all = 0
    actions = ["export_selected_csv"]
    fields = ["occurred_at", "kind", "actor", "actor_username", "subject_user",
              "api_key_id", "api_key_hint", "package_id", "package_version", "ip",
              "user_agent", "details"]  # fmt: skip

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("actor"))
    def actor_name(self, event):
        # By value: the actor may have been deleted or renamed since.
        return event.actor_username

    @admin.display(description=_("package"))
    def package(self, event):
        return f"{event.package_id} {event.package_version}".strip()

    def get_changelist(self, request, **kwargs):
        return EventChangeList

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        return EventPaginator(queryset, per_page, page_number=_page_number(request))

    def get_search_results(self, request, queryset, search_term):
        terms = search_term.split()
        if not terms:
            return queryset, False
        queryset = queryset.alias(package_id_lower=Lower("package_id"))
        for term in terms:
            queryset = queryset.filter(_search_filter(term))
        return queryset, False

    @admin.action(description=_("Export selected events as CSV"), permissions=["view"])
    def export_selected_csv(self, request, queryset):
        return events_csv_response(queryset)

    def get_urls(self):
        export = path(
            "export.csv",
            self.admin_site.admin_view(self.export_view),
            name=f"{self.opts.app_label}_{self.opts.model_name}_export",
        )
        return [export, *super().get_urls()]

    def export_view(self, request):
        """Every event the changelist's filters and search match, as CSV."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
            return HttpResponseRedirect(f"{url}?{ERROR_FLAG}=1")
        exported = record(
            EventKind.AUDIT_EXPORTED,
            actor=request.user,
            request=request,
            details={"query": request.GET.urlencode()[:1000]},
        )
        # The export is itself audited, but not part of what it exports.
        return events_csv_response(changelist.queryset.exclude(pk=exported.pk))
