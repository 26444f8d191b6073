"""/account/security: the user's own events of the last 90 days, paged by keyset."""

import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from django.utils import timezone

from audit.models import Event, EventKind
from portal import security
from portal.security import Cursor, browser_summary, parse_cursor

pytestmark = pytest.mark.django_db

URL = "/account/security"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
OLDER = re.compile(r'href="(/account/security\?before=[^"]+)"')


def event(subject, *, ago=timedelta(hours=1), at=None, **fields):
    fields.setdefault("kind", EventKind.USER_SIGNED_IN)
    return Event.objects.create(
        subject_user=subject, occurred_at=at or timezone.now() - ago, **fields
    )


def shown_ids(response) -> list[int]:
    return [e.pk for e in response.context["events"]]


def older_link(response) -> str | None:
    match = OLDER.search(response.content.decode())
    return unescape(match[1]) if match else None


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/users/account/LogOn")


def test_account_settings_links_to_it(signed_in_client):
    assert f'href="{URL}"' in signed_in_client.get("/account").content.decode()


def test_each_row_says_what_when_where_which_browser_and_which_key_or_package(
    signed_in_client, user
):
    event(
        user,
        kind=EventKind.PACKAGE_PUSHED,
        ip="198.51.100.4",
        user_agent="NuGet Command Line/6.10.0 (Microsoft Windows NT 10.0.22631.0)",
        api_key_hint="ngk_AbC1…",
        package_id="Contoso.Lib",
        package_version="1.2.3",
    )
    event(user, kind=EventKind.USER_SIGNED_IN, ip="203.0.113.7", user_agent=FIREFOX)

    response = signed_in_client.get(URL)

    assert response.status_code == 200
    page = response.content.decode()
    assert "Package version pushed" in page
    assert "Signed in" in page
    assert "198.51.100.4" in page and "203.0.113.7" in page
    assert "nuget.exe" in page
    assert "Firefox on Linux" in page
    assert "<code>ngk_AbC1…</code>" in page
    assert "Contoso.Lib 1.2.3" in page
    assert "<time datetime=" in page
    assert "style=" not in page
    assert "<script>" not in page


def test_newest_first(signed_in_client, user):
    old = event(user, ago=timedelta(days=3))
    new = event(user, ago=timedelta(minutes=1))
    middle = event(user, ago=timedelta(days=1))

    assert shown_ids(signed_in_client.get(URL)) == [new.pk, middle.pk, old.pk]


def test_only_the_users_own_events(signed_in_client, user, make_user):
    bob = make_user("bob")
    mine = event(user, api_key_hint="ngk_mine…")
    event(bob, api_key_hint="ngk_bobs…")
    # Bob's event with Alice as the actor is still Bob's history, not Alice's.
    event(bob, actor=user, actor_username="alice", api_key_hint="ngk_bobs2…")
    # A failed sign-in for an account nobody has belongs to no one's history.
    event(None, kind=EventKind.USER_SIGN_IN_FAILED, details={"login": "mallory"})

    response = signed_in_client.get(URL)

    assert shown_ids(response) == [mine.pk]
    page = response.content.decode()
    assert "ngk_bobs" not in page
    assert "mallory" not in page


def test_only_the_last_90_days(signed_in_client, user):
    recent = event(user, ago=timedelta(days=89, hours=23))
    event(user, ago=timedelta(days=90, minutes=1))
    event(user, ago=timedelta(days=400))

    assert shown_ids(signed_in_client.get(URL)) == [recent.pk]


def test_older_events_link_walks_every_event_once(signed_in_client, user, monkeypatch):
    monkeypatch.setattr(security, "PAGE_SIZE", 3)
    now = timezone.now()
    same_moment = now - timedelta(hours=5)
    created = [event(user, at=now - timedelta(hours=hours)) for hours in (1, 2, 3, 4)]
    # Several events at the very same instant: the id breaks the tie.
    created += [event(user, at=same_moment) for _ in range(4)]
    created.append(event(user, at=now - timedelta(hours=6)))
    expected = [e.pk for e in sorted(created, key=lambda e: (e.occurred_at, e.pk), reverse=True)]

    seen, pages, url = [], 0, URL
    while url is not None:
        response = signed_in_client.get(url)
        assert response.status_code == 200
        assert len(response.context["events"]) <= 3
        seen += shown_ids(response)
        url = older_link(response)
        pages += 1

    assert seen == expected
    assert pages == 3
    # The first page has no way back; later pages link to the newest events.
    assert 'href="/account/security"' in response.content.decode()


def test_a_page_that_exactly_fills_has_no_older_link(signed_in_client, user, monkeypatch):
    monkeypatch.setattr(security, "PAGE_SIZE", 3)
    for hours in (1, 2, 3):
        event(user, ago=timedelta(hours=hours))

    response = signed_in_client.get(URL)

    assert len(shown_ids(response)) == 3
    assert older_link(response) is None


@pytest.mark.parametrize(
    "before",
    ["", "yesterday", "2025-13-01T00:00:00.000000Z,1", "2025-01-01T00:00:00.000000Z,0", "1,2,3"],
)
def test_a_bad_cursor_is_not_found(signed_in_client, before):
    assert signed_in_client.get(URL, {"before": before}).status_code == 404


def test_the_query_count_does_not_grow_with_the_history(
    client, user, django_assert_max_num_queries
):
    client.force_login(user)
    for n in range(security.PAGE_SIZE + 20):
        event(user, ago=timedelta(minutes=n + 1), api_key_hint=f"ngk_{n}…", user_agent=FIREFOX)

    # Session, user, the unconfirmed-address banner, and one for the events.
    with django_assert_max_num_queries(4):
        first = client.get(URL)
    with django_assert_max_num_queries(4):
        second = client.get(older_link(first))

    assert len(shown_ids(first)) == security.PAGE_SIZE
    assert len(shown_ids(second)) == 20


# --- The pieces -------------------------------------------------------------------


def test_cursor_round_trip():
    cursor = Cursor(datetime(2025, 1, 31, 12, 0, 0, 123456, tzinfo=UTC), 42)
    assert str(cursor) == "2025-01-31T12:00:00.123456Z,42"
    assert parse_cursor(str(cursor)) == cursor


@pytest.mark.parametrize(
    "text",
    [
        "2025-01-31T12:00:00Z,42",
        "2025-01-31T12:00:00.123456Z,",
        "2025-01-31T12:00:00.123456Z,-1",
        "2025-01-31T12:00:00.123456Z,99999999999999999999",
        "2025-02-30T12:00:00.123456Z,1",
        " 2025-01-31T12:00:00.123456Z,42",
        "2025-01-31T12:00:00.123456Z,42\n",
    ],
)
def test_cursor_refuses_anything_else(text):
    assert parse_cursor(text) is None


@pytest.mark.parametrize(
    ("user_agent", "summary"),
    [
        (FIREFOX, "Firefox on Linux"),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Safari/537.36",
            "Chrome on Windows",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.87",
            "Edge on Windows",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/17.5 Safari/605.1.15",
            "Safari on macOS",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            "Safari on iOS",
        ),
        ("NuGet xplat/6.10.0 (Linux)", "dotnet nuget"),
        ("curl/8.5.0", "curl"),
        ("", ""),
        ("SomeBot/1.0", "SomeBot/1.0"),
        ("x" * 200, "x" * 80 + "…"),
    ],
)
def test_browser_summary(user_agent, summary):
    assert browser_summary(user_agent) == summary


def test_organization_and_ownership_events_name_who_and_what(
    signed_in_client, user, make_user, make_organization, make_package
):
    from accounts import services as accounts

    bob = make_user("bob")
    contoso = make_organization("Contoso", user)
    accounts.member_invite(organization=contoso, who="bob", role="collaborator", actor=user)
    event(user, kind=EventKind.OWNER_REMOVED, package_id="Contoso.Lib",
          details={"owner": "carol"})  # fmt: skip

    page = signed_in_client.get(URL).content.decode()

    assert "Member invited" in page
    assert "organization Contoso" in page
    assert f"member {bob.username}" in page
    assert "Collaborator" in page
    assert "Contoso.Lib" in page and "owner carol" in page
