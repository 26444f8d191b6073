"""Finding our keys in pasted values, and revoking them as leaked."""

import json

import pytest

from apikeys import keys, leaks
from apikeys.leaks import LeakStatus
from apikeys.models import RevocationSource
from apikeys.services import api_key_revoke
from audit.models import Event, EventKind

pytestmark = pytest.mark.django_db


# --- Reading what was pasted ----------------------------------------------------------


def test_plain_lines_json_lines_and_blank_lines(user, make_key):
    api_key, value = make_key(user)
    unknown = keys.generate()
    text = "\n".join(
        [
            f"  {value}  \r",
            "",
            json.dumps({"ApiKey": unknown, "LeakedUrl": "https://example.com/a"}),
            "{not json",
            json.dumps({"LeakedUrl": "https://example.com/b"}),
            json.dumps({"ApiKey": 42}),
            "short",
        ]
    )
    rows = leaks.find_leaked(text)
    assert [(row.line, row.status) for row in rows] == [
        (1, LeakStatus.FOUND),
        (3, LeakStatus.NOT_FOUND),
        (4, LeakStatus.NOT_UNDERSTOOD),
        (5, LeakStatus.NOT_UNDERSTOOD),
        (6, LeakStatus.NOT_UNDERSTOOD),
        (7, LeakStatus.NOT_FOUND),
    ]
    found, not_found = rows[0], rows[1]
    assert found.api_key == api_key
    assert found.shown == api_key.hint
    assert found.can_revoke
    assert not_found.api_key is None
    assert not_found.shown == keys.hint(unknown)
    assert not_found.leak_url == "https://example.com/a"
    assert rows[5].shown == "…"


def test_rows_never_hold_the_value(user, make_key):
    _, value = make_key(user)
    junk = "ghp_" + "x" * 36
    rows = leaks.find_leaked(f"{value}\n{junk}\n" + json.dumps({"ApiKey": value}))
    text = repr(rows) + "".join(str(vars(row)) for row in rows)
    assert value not in text
    assert junk not in text
    assert rows[1].shown == "…xxxx"


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("https://github.com/o/r/blob/abc/f.txt", "https://github.com/o/r/blob/abc/f.txt"),
        (" http://example.com/x ", "http://example.com/x"),
        ("javascript:alert(1)", ""),
        ("file:///etc/passwd", ""),
        ("https://", ""),
        ("https://example.com/a b", ""),
        ("https://example.com/" + "a" * 2048, ""),
        ("", ""),
        (None, ""),
        (["https://example.com"], ""),
    ],
)
def test_leak_urls_must_be_http(raw, kept):
    assert leaks.clean_leak_url(raw) == kept
    line = json.dumps({"ApiKey": keys.generate(), "LeakedUrl": raw})
    assert leaks.find_leaked(line)[0].leak_url == kept


# --- One lookup for every value ----------------------------------------------------------


def test_all_values_are_looked_up_in_one_query(user, make_key, django_assert_num_queries):
    made = [make_key(user, name=f"key {n}") for n in range(5)]
    values = [value for _, value in made] + [keys.generate() for _ in range(200)] + ["junk"]
    with django_assert_num_queries(1):
        found = leaks.keys_for_values(values)
    assert {index: api_key.pk for index, api_key in found.items()} == {
        index: api_key.pk for index, (api_key, _) in enumerate(made)
    }
    # The owner comes with the key: rendering a row costs no further query.
    with django_assert_num_queries(0):
        assert found[0].owner == user


def test_junk_never_reaches_the_database(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert leaks.keys_for_values(["", "ngk_short", "x" * 5000]) == {}


def test_a_value_given_twice_maps_to_one_instance(user, make_key):
    _, value = make_key(user)
    found = leaks.keys_for_values([value, keys.generate(), value])
    assert set(found) == {0, 2}
    assert found[0] is found[2]


def test_keys_digested_under_a_retired_pepper_are_found(settings, user, make_key):
    settings.APIKEYS_PEPPER = "old pepper"
    api_key, value = make_key(user)
    settings.APIKEYS_PEPPER = "new pepper"
    settings.APIKEYS_PEPPER_FALLBACKS = ["old pepper"]
    assert leaks.keys_for_values([value]) == {0: api_key}


def test_large_batches_are_split(monkeypatch, user, make_key, django_assert_num_queries):
    monkeypatch.setattr(leaks, "LOOKUP_BATCH", 10)
    made = [make_key(user, name=f"key {n}") for n in range(3)]
    values = [keys.generate() for _ in range(25)] + [value for _, value in made]
    with django_assert_num_queries(3):
        found = leaks.keys_for_values(values)
    assert sorted(api_key.pk for api_key in found.values()) == sorted(k.pk for k, _ in made)


# --- Revoking -------------------------------------------------------------------------


def test_revoke_leaked_records_source_url_and_actor_and_emails(
    make_user, make_key, django_capture_on_commit_callbacks, mailoutbox
):
    staff = make_user("root", is_staff=True)
    alice = make_user("alice")
    api_key, value = make_key(alice)
    text = json.dumps({"ApiKey": value, "LeakedUrl": "https://example.com/paste/1"})
    rows = leaks.find_leaked(f"{text}\n{value}")

    with django_capture_on_commit_callbacks(execute=True):
        revoked = leaks.revoke_leaked(rows=rows, source=RevocationSource.LEAK, actor=staff)

    assert revoked == [api_key]
    api_key.refresh_from_db()
    assert api_key.revocation_source == RevocationSource.LEAK
    assert api_key.revocation_url == "https://example.com/paste/1"
    assert api_key.revoked_by == staff
    event = Event.objects.get(kind=EventKind.API_KEY_REVOKED)
    assert event.details["leak_url"] == "https://example.com/paste/1"
    assert event.api_key_hint == api_key.hint
    assert value not in json.dumps(event.details)
    assert len(mailoutbox) == 1
    assert "https://example.com/paste/1" in mailoutbox[0].body
    assert value not in mailoutbox[0].body


def test_revoke_leaked_leaves_revoked_keys_alone(
    user, make_key, django_capture_on_commit_callbacks, mailoutbox
):
    api_key, value = make_key(user)
    api_key_revoke(api_key=api_key, actor=user, reason="mine")
    rows = leaks.find_leaked(value)
    assert not rows[0].can_revoke
    with django_capture_on_commit_callbacks(execute=True):
        assert leaks.revoke_leaked(rows=rows, actor=None) == []
    api_key.refresh_from_db()
    assert api_key.revocation_source == RevocationSource.USER
    assert mailoutbox == []
