"""The events admin: read-only, searchable, exportable, and never counting the table."""

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext

from audit import export
from audit.admin import EventAdmin
from audit.models import Event, EventKind

pytestmark = pytest.mark.django_db

LIST = "/admin/audit/event/"
EXPORT = "/admin/audit/event/export.csv"
START = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def root(make_user):
    return make_user("root1", is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(client, root):
    client.force_login(root)
    return client


@pytest.fixture
def make_event():
    """Write an event directly; ``minutes`` places it after START."""

    def make(kind=EventKind.PACKAGE_PUSHED, *, minutes=0, **fields):
        return Event.objects.create(kind=kind, occurred_at=START + timedelta(minutes=minutes),
                                    **fields)  # fmt: skip

    return make


@pytest.fixture
def history(make_user, make_event):
    """A small log: alice pushes and signs in, bob is refused, from different addresses."""
    alice, bob = make_user("alice"), make_user("bob")
    return {
        "push": make_event(
            EventKind.PACKAGE_PUSHED, minutes=1, actor=alice, actor_username="alice",
            subject_user=alice, api_key_id=7, api_key_hint="ngk_…a1B2",
            package_id="Contoso.Core", package_version="1.2.0", ip="203.0.113.5",
            user_agent="NuGet Command Line/6.9",
        ),
        "sign_in": make_event(
            EventKind.USER_SIGNED_IN, minutes=2, actor=alice, actor_username="alice",
            subject_user=alice, ip="203.0.113.50",
        ),
        "refused": make_event(
            EventKind.API_KEY_AUTH_FAILED, minutes=3, subject_user=bob, api_key_hint="ngk_…zZ99",
            package_id="Fabrikam.Web", ip="2001:db8::1", user_agent="=HYPERLINK(\"x\")",
        ),
    }  # fmt: skip


def shown(response, *events) -> set[int]:
    """Which of ``events`` the changelist shows (by their change links)."""
    html = response.content.decode()
    return {e.pk for e in events if f"/admin/audit/event/{e.pk}/change/" in html}


def csv_rows(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


# --- Read-only -------------------------------------------------------------------


def test_events_are_read_only_even_for_superusers(staff_client, history):
    event = history["push"]
    page = staff_client.get(f"/admin/audit/event/{event.pk}/change/")
    assert page.status_code == 200
    assert "Contoso.Core" in page.content.decode()
    assert 'name="_save"' not in page.content.decode()
    changed = staff_client.post(f"/admin/audit/event/{event.pk}/change/", {"kind": "x"})
    assert changed.status_code == 403
    assert staff_client.post(f"/admin/audit/event/{event.pk}/delete/").status_code == 403
    assert staff_client.get(f"/admin/audit/event/{event.pk}/delete/").status_code == 403
    assert staff_client.get("/admin/audit/event/add/").status_code == 403
    assert staff_client.post("/admin/audit/event/add/", {"kind": "x"}).status_code == 403
    event.refresh_from_db()
    assert event.kind == EventKind.PACKAGE_PUSHED
    assert Event.objects.count() == 3


def test_the_list_offers_no_add_and_no_delete_action(staff_client, history):
    html = staff_client.get(LIST).content.decode()
    assert "/admin/audit/event/add/" not in html
    assert 'value="delete_selected"' not in html
    assert 'value="export_selected_csv"' in html


def test_a_page_of_events_shows_who_what_and_where(staff_client, history):
    response = staff_client.get(LIST)
    assert response.status_code == 200
    html = response.content.decode()
    assert shown(response, *history.values()) == {e.pk for e in history.values()}
    for text in ("alice", "bob", "ngk_…a1B2", "Contoso.Core 1.2.0", "203.0.113.5",
                 "2001:db8::1", "Package version pushed", "API key refused"):  # fmt: skip
        assert text in html, text
    assert "3 events" in html


def test_an_event_whose_users_were_deleted_still_shows(staff_client, make_user, make_event):
    gone = make_user("gone")
    event = make_event(actor=gone, actor_username="gone", subject_user=gone)
    gone.delete()
    response = staff_client.get(LIST)
    assert response.status_code == 200
    assert shown(response, event) == {event.pk}
    assert "gone" in response.content.decode()
    assert staff_client.get(f"/admin/audit/event/{event.pk}/change/").status_code == 200


# --- Filters and search ------------------------------------------------------------


def test_filter_by_kind(staff_client, history):
    response = staff_client.get(LIST, {"kind__exact": EventKind.USER_SIGNED_IN})
    assert shown(response, *history.values()) == {history["sign_in"].pk}


def test_filter_by_date_hierarchy(staff_client, make_event):
    may = make_event(minutes=0)
    june = make_event(minutes=60 * 24 * 30)
    next_year = make_event(minutes=60 * 24 * 400)
    everything = staff_client.get(LIST).content.decode()
    assert "occurred_at__year=2024" in everything and "occurred_at__year=2025" in everything
    response = staff_client.get(LIST, {"occurred_at__year": 2024, "occurred_at__month": 6})
    assert shown(response, may, june, next_year) == {june.pk}
    year = staff_client.get(LIST, {"occurred_at__year": 2024}).content.decode()
    assert "May 2024" in year and "June 2024" in year


def test_date_hierarchy_opens_at_the_days_of_a_single_month(staff_client, make_event):
    make_event(minutes=0)
    make_event(minutes=60 * 24 * 2)
    html = staff_client.get(LIST).content.decode()
    assert "occurred_at__day=10" in html and "occurred_at__day=12" in html
    assert "occurred_at__day=13" not in html


def test_filter_by_recent_dates(staff_client, make_event):
    old = make_event(minutes=0)
    today = Event.objects.create(kind=EventKind.USER_SIGNED_IN)
    since = datetime.now(UTC) - timedelta(days=1)
    response = staff_client.get(LIST, {"occurred_at__gte": str(since)})
    assert shown(response, old, today) == {today.pk}


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("alice", {"push", "sign_in"}),  # the actor, and the subject, by name
        ("ali", {"push", "sign_in"}),  # by the name's beginning
        ("bob", {"refused"}),  # the subject only
        ("contoso.core", {"push"}),  # a package ID, whatever its case
        ("Contoso", set()),  # but not part of one
        ("203.0.113.5", {"push"}),  # an IP address exactly
        ("2001:db8:0::1", {"refused"}),  # IPv6, however it is written
        ("203.0.113", set()),  # not part of one
        ("ngk_…zZ99", {"refused"}),  # a key hint
        ("alice Contoso.Core", {"push"}),  # every word must match
    ],
)
def test_search(staff_client, history, term, expected):
    response = staff_client.get(LIST, {"q": term})
    assert response.status_code == 200
    assert shown(response, *history.values()) == {history[name].pk for name in expected}


def test_search_finds_an_actor_who_was_deleted_by_the_name_kept(staff_client, make_user,
                                                                make_event):  # fmt: skip
    gone = make_user("gone")
    event = make_event(actor=gone, actor_username="gone")
    gone.delete()
    assert shown(staff_client.get(LIST, {"q": "gone"}), event) == {event.pk}


def test_search_by_a_name_prefix_that_many_users_share(staff_client, make_user, make_event):
    # More users than the admin looks up by a list of IDs (100): it then matches
    # them by a subquery, and must still find their events.
    team = get_user_model().objects.bulk_create(
        get_user_model()(username=f"team{n:03d}", email=f"team{n:03d}@example.com")
        for n in range(150)
    )
    events = [make_event(subject_user=user) for user in team[::60]]
    other = make_event(subject_user=make_user("solo"))
    with CaptureQueriesContext(connection) as queries:
        response = staff_client.get(LIST, {"q": "team"})
    assert shown(response, *events, other) == {e.pk for e in events}
    listed = [q["sql"] for q in queries if '"audit_event"' in q["sql"]]
    assert any("IN (SELECT" in sql.upper() for sql in listed), listed


# --- Cost at scale ---------------------------------------------------------------


def events_sql(client, params) -> list[str]:
    """The statements one list request sends to the events table, after checking that
    none of them counts rows."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(LIST, params)
    assert response.status_code == 200, params
    sql = [q["sql"] for q in queries]
    assert not [s for s in sql if "COUNT(" in s.upper()], params
    return [s for s in sql if '"audit_event"' in s]


LISTS = [
    {},
    {"kind__exact": EventKind.PACKAGE_PUSHED},
    {"q": "203.0.113.5"},
    {"q": "alice"},
    {"occurred_at__year": 2024},
    {"occurred_at__year": 2024, "occurred_at__month": 5},
    {"p": 2},
]


@pytest.mark.parametrize("params", LISTS)
def test_a_long_list_never_counts_and_reads_in_bounded_queries(staff_client, make_event,
                                                                monkeypatch, params):  # fmt: skip
    monkeypatch.setattr(EventAdmin, "list_per_page", 2)
    for minute in range(5):
        make_event(minutes=minute, ip="203.0.113.5", actor_username="alice")
    on_events = events_sql(staff_client, params)
    # The page (plus one row), then the first and the last event for the date
    # hierarchy, each stopping early; nothing reads every row (no DISTINCT dates).
    assert len(on_events) == 3, on_events
    assert all("LIMIT" in s.upper() for s in on_events), on_events
    assert not [s for s in on_events if "DISTINCT" in s.upper()]


@pytest.mark.parametrize("params", [p for p in LISTS if "p" not in p])
def test_a_short_list_reads_the_events_once(staff_client, make_event, params):
    for minute in range(5):
        make_event(minutes=minute, ip="203.0.113.5", actor_username="alice")
    # Everything is on one page: the date hierarchy is drawn from it, and a search
    # that matched little does not read the table again.
    on_events = events_sql(staff_client, params)
    assert len(on_events) == 1, on_events
    assert "LIMIT" in on_events[0].upper()


def test_pages_know_only_whether_more_follow(staff_client, make_event, monkeypatch):
    monkeypatch.setattr(EventAdmin, "list_per_page", 2)
    events = [make_event(minutes=minute) for minute in range(5)]
    newest_first = events[::-1]
    first = staff_client.get(LIST)
    assert shown(first, *events) == {e.pk for e in newest_first[:2]}
    assert "Events 1 to 2; more on the next page." in first.content.decode()
    assert "?p=2" in first.content.decode()
    assert "Show all" not in first.content.decode()
    second = staff_client.get(LIST, {"p": 2})
    assert shown(second, *events) == {e.pk for e in newest_first[2:4]}
    last = staff_client.get(LIST, {"p": 3})
    assert shown(last, *events) == {newest_first[4].pk}
    assert "5 events" in last.content.decode()
    beyond = staff_client.get(LIST, {"p": 9})
    assert beyond.status_code == 302 and beyond["Location"].endswith("?e=1")
    assert staff_client.get(LIST, {"p": 0}).status_code == 302
    # "Show all" would put every event on one page: it is ignored.
    assert len(shown(staff_client.get(LIST, {"all": ""}), *events)) == 2


def test_only_the_time_column_sorts(staff_client, history):
    html = staff_client.get(LIST).content.decode()
    assert "?o=1" in html  # the time header, after the checkbox column
    assert "?o=2" not in html
    # A hand-made ordering by another column is ignored: newest first still.
    response = staff_client.get(LIST, {"o": "-3"})
    assert response.status_code == 200
    html = response.content.decode()
    positions = [html.index(f"/admin/audit/event/{e.pk}/change/") for e in history.values()]
    assert positions == sorted(positions, reverse=True)


# --- CSV export ------------------------------------------------------------------


def test_export_streams_every_matching_event(staff_client, history):
    response = staff_client.get(EXPORT)
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="events-')
    assert "no-store" in response["Cache-Control"]
    rows = csv_rows(response)
    assert [r["id"] for r in rows] == [str(e.pk) for e in reversed(history.values())]
    push = rows[-1]
    assert push["kind"] == "package:pushed"
    assert push["actor_username"] == "alice"
    assert push["subject_username"] == "alice"
    assert push["api_key_id"] == "7"
    assert push["package_id"] == "Contoso.Core"
    assert push["package_version"] == "1.2.0"
    assert push["ip"] == "203.0.113.5"
    assert push["occurred_at"] == "2024-05-10T12:01:00+00:00"
    assert push["details"] == "{}"


def test_export_applies_the_lists_filters_and_search(staff_client, history):
    by_kind = csv_rows(staff_client.get(EXPORT, {"kind__exact": EventKind.USER_SIGNED_IN}))
    assert [r["id"] for r in by_kind] == [str(history["sign_in"].pk)]
    by_search = csv_rows(staff_client.get(EXPORT, {"q": "alice"}))
    assert {r["id"] for r in by_search} == {str(history["push"].pk), str(history["sign_in"].pk)}
    assert csv_rows(staff_client.get(EXPORT, {"occurred_at__year": 2023})) == []


def test_the_list_links_to_the_export_of_what_it_shows(staff_client, history):
    html = staff_client.get(LIST, {"kind__exact": "user:signed_in", "q": "alice", "p": 1})
    assert f'href="{EXPORT}?kind__exact=user%3Asigned_in&amp;q=alice"' in html.content.decode()


def test_export_of_bad_filters_goes_back_to_the_list(staff_client, history):
    response = staff_client.get(EXPORT, {"occurred_at__year": "nope"})
    assert response.status_code == 302
    assert response["Location"] == f"{LIST}?e=1"


def test_export_keeps_spreadsheets_from_running_formulas(staff_client, history):
    rows = csv_rows(staff_client.get(EXPORT))
    refused = next(r for r in rows if r["kind"] == EventKind.API_KEY_AUTH_FAILED)
    assert refused["user_agent"] == '\'=HYPERLINK("x")'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_defuse(text, expected):
    assert export.defuse(text) == expected


def test_export_writes_details_as_json_and_empty_cells_for_nothing(staff_client, make_event):
    make_event(details={"reason": "=1+1", "count": 2}, user_agent="", ip=None)
    (row,) = csv_rows(staff_client.get(EXPORT))
    assert json.loads(row["details"]) == {"reason": "=1+1", "count": 2}
    assert row["ip"] == row["subject_username"] == row["actor_id"] == row["user_agent"] == ""


def test_export_reads_the_table_in_chunks(history, monkeypatch):
    monkeypatch.setattr(export, "CHUNK_SIZE", 2)
    chunks = list(export.csv_chunks(Event.objects.order_by("id")))
    # The header, then two rows, then the last one.
    assert [chunk.count("\r\n") for chunk in chunks] == [1, 2, 1]


def test_export_selected_events_as_an_action(staff_client, history):
    chosen = [history["push"].pk, history["refused"].pk]
    response = staff_client.post(
        LIST, {"action": "export_selected_csv", "_selected_action": chosen, "index": 0}
    )
    assert isinstance(response, StreamingHttpResponse)
    assert sorted(int(r["id"]) for r in csv_rows(response)) == sorted(chosen)


def test_export_everything_matching_as_an_action(staff_client, history):
    response = staff_client.post(
        f"{LIST}?kind__exact=user:signed_in",
        {"action": "export_selected_csv", "select_across": 1, "index": 0,
         "_selected_action": [history["sign_in"].pk]},
    )  # fmt: skip
    assert [r["id"] for r in csv_rows(response)] == [str(history["sign_in"].pk)]


def test_export_needs_the_view_permission(client, make_user, history):
    staff = make_user("clerk", is_staff=True)
    client.force_login(staff)
    assert client.get(EXPORT).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_event"))
    assert client.get(EXPORT).status_code == 200


def test_export_is_for_staff_only(client, make_user, history):
    client.force_login(make_user("mallory"))
    response = client.get(EXPORT)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_an_export_is_itself_audited(staff_client, root, history):
    response = staff_client.get(EXPORT + "?kind__exact=package%3Apushed")
    rows = csv_rows(response)
    assert all(row["kind"] == "package:pushed" for row in rows)
    exported = Event.objects.get(kind="audit:exported")
    assert exported.actor == root
    assert exported.details == {"query": "kind__exact=package%3Apushed"}
