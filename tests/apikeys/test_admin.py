"""Staff look at keys and events in the admin, change neither, and revoke keys:
selected ones with a reason, and leaked ones from pasted values."""

import json
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from apikeys import keys
from apikeys.admin import MAX_LEAKED_VALUES
from apikeys.models import ApiKey, RevocationSource
from apikeys.scopes import Action
from apikeys.services import api_key_revoke
from audit.models import Event, EventKind

pytestmark = pytest.mark.django_db

UNLIST = Action.UNLIST.value
CHANGELIST = "/admin/apikeys/apikey/"
LEAKED = "/admin/apikeys/apikey/revoke-leaked/"


@pytest.fixture
def staff(make_user):
    return make_user("root1", is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def listed(response) -> set[str]:
    assert response.status_code == 200
    return {api_key.name for api_key in response.context["cl"].result_list}


def expire(api_key, **delta):
    ApiKey.objects.filter(pk=api_key.pk).update(expires_at=timezone.now() + timedelta(**delta))


# --- Looking ---------------------------------------------------------------------


def test_keys_are_listed_with_scopes_subjects_and_status_but_no_digest(
    staff_client, make_user, make_package, make_key
):
    alice = make_user("alice")
    make_package("Contoso.Core", alice)
    globs = ["Contoso.*", "Fabrikam.*", "Tailspin.*"]
    key, plaintext = make_key(
        alice, name="Build", actions=[UNLIST], package_ids=["Contoso.Core"], globs=globs
    )
    page = staff_client.get(CHANGELIST).content.decode()
    for text in ["Build", "alice", key.hint, UNLIST, "Active"]:
        assert text in page
    # Three subjects, then how many more.
    assert "Contoso.Core, Contoso.*, Fabrikam.* (+1 more)" in page
    assert key.digest not in page
    assert plaintext not in page
    assert "Revoke leaked API keys" in page
    assert "Revoke selected keys" in page


def test_the_change_page_is_read_only_and_shows_no_digest(staff_client, make_user, make_key):
    key, _ = make_key(make_user("alice"))
    url = f"{CHANGELIST}{key.pk}/change/"
    page = staff_client.get(url).content.decode()
    assert key.hint in page
    assert key.digest not in page
    assert 'name="_save"' not in page
    assert "<textarea" not in page
    assert staff_client.post(url, {"name": "renamed"}).status_code == 403
    key.refresh_from_db()
    assert key.name == "CI key"


def test_nobody_adds_or_deletes_keys_here(staff_client, make_user, make_key):
    key, _ = make_key(make_user("alice"))
    assert staff_client.get(f"{CHANGELIST}add/").status_code == 403
    assert staff_client.post(f"{CHANGELIST}{key.pk}/delete/").status_code == 403
    response = staff_client.post(
        CHANGELIST, {"action": "delete_selected", "_selected_action": [key.pk]}
    )
    assert ApiKey.objects.filter(pk=key.pk).exists()
    assert response.status_code in (200, 302)


def test_status_filter(staff_client, make_user, make_key):
    alice = make_user("alice")
    make_key(alice, name="active")
    expired, _ = make_key(alice, name="expired")
    expire(expired, days=-1)
    revoked, _ = make_key(alice, name="revoked")
    api_key_revoke(api_key=revoked, actor=alice)
    revoked_and_expired, _ = make_key(alice, name="revoked and expired")
    api_key_revoke(api_key=revoked_and_expired, actor=alice)
    expire(revoked_and_expired, days=-1)

    assert listed(staff_client.get(CHANGELIST, {"status": "active"})) == {"active"}
    assert listed(staff_client.get(CHANGELIST, {"status": "expired"})) == {"expired"}
    assert listed(staff_client.get(CHANGELIST, {"status": "revoked"})) == {
        "revoked",
        "revoked and expired",
    }
    assert len(listed(staff_client.get(CHANGELIST))) == 4


def test_expiring_within_ten_days_filter(staff_client, make_user, make_key):
    alice = make_user("alice")
    for name, days in [("in 5 days", 5), ("in 10 days", 9.9), ("in 20 days", 20), ("gone", -1)]:
        key, _ = make_key(alice, name=name)
        expire(key, days=days)
    soon_but_revoked, _ = make_key(alice, name="revoked")
    expire(soon_but_revoked, days=5)
    api_key_revoke(api_key=soon_but_revoked, actor=alice)

    response = staff_client.get(CHANGELIST, {"expiring": "soon"})
    assert listed(response) == {"in 5 days", "in 10 days"}
    assert "Within 10 days" in response.content.decode()


def test_owner_filter(staff_client, make_user, make_key):
    alice, bob = make_user("alice"), make_user("bob")
    make_key(alice, name="alice's")
    make_key(bob, name="bob's")
    make_user("carol")  # no keys: not offered as a choice
    response = staff_client.get(CHANGELIST, {"owner__id__exact": bob.pk})
    assert listed(response) == {"bob's"}
    assert "carol" not in response.content.decode()


def test_scope_filter_matches_whole_actions(staff_client, make_user, make_key):
    alice = make_user("alice")
    make_key(alice, name="push", actions=[Action.PUSH.value])
    make_key(alice, name="push version", actions=[Action.PUSH_VERSION.value])
    make_key(alice, name="unlist", actions=[Action.UNLIST.value])
    make_key(alice, name="both", actions=[Action.PUSH_VERSION.value, Action.UNLIST.value])

    def scoped(action):
        return listed(staff_client.get(CHANGELIST, {"scope": action}))

    assert scoped(Action.PUSH.value) == {"push"}
    assert scoped(Action.PUSH_VERSION.value) == {"push version", "both"}
    assert scoped(Action.UNLIST.value) == {"unlist", "both"}
    # An unknown value filters nothing rather than erroring.
    assert len(listed(staff_client.get(CHANGELIST, {"scope": "package"}))) == 4


@pytest.mark.parametrize("query", ["alice", "alice@example.com", "Deploy", "hint"], ids=str)
def test_search_by_owner_name_email_key_name_and_hint(staff_client, make_user, make_key, query):
    alice_key, _ = make_key(make_user("alice"), name="Deploy from CI")
    make_key(make_user("bob"), name="Other")
    if query == "hint":
        query = alice_key.hint
    assert listed(staff_client.get(CHANGELIST, {"q": query})) == {"Deploy from CI"}


def test_events_are_read_only_even_for_superusers(staff_client, make_user, make_key):
    make_key(make_user("alice"))
    event = Event.objects.get()
    assert staff_client.get("/admin/audit/event/").status_code == 200
    assert staff_client.get(f"/admin/audit/event/{event.pk}/change/").status_code == 200
    response = staff_client.post(f"/admin/audit/event/{event.pk}/change/", {"kind": "x"})
    assert response.status_code == 403
    assert staff_client.post(f"/admin/audit/event/{event.pk}/delete/").status_code == 403
    assert staff_client.get("/admin/audit/event/add/").status_code == 403
    event.refresh_from_db()
    assert event.kind == "api_key:created"


# --- Staff who may only look -----------------------------------------------------


@pytest.fixture
def viewer_client(client, make_user):
    viewer = make_user("viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_apikey"))
    client.force_login(viewer)
    return client


def test_staff_who_may_only_view_cannot_revoke(viewer_client, make_user, make_key):
    key, plaintext = make_key(make_user("alice"))
    page = viewer_client.get(CHANGELIST).content.decode()
    assert key.hint in page
    assert "Revoke selected keys" not in page
    assert "Revoke leaked API keys" not in page
    viewer_client.post(
        CHANGELIST,
        {"action": "revoke_selected", "_selected_action": [key.pk], "post": "yes", "reason": "x"},
    )
    assert viewer_client.get(LEAKED).status_code == 403
    assert viewer_client.post(LEAKED, {"values": plaintext, "verify": "1"}).status_code == 403
    key.refresh_from_db()
    assert not key.is_revoked


def test_people_who_are_not_staff_are_sent_to_sign_in(client, make_user):
    client.force_login(make_user("alice"))
    assert client.get(LEAKED).status_code == 302
    assert client.get(CHANGELIST).status_code == 302


# --- Revoke selected keys ----------------------------------------------------------


def revoke_action(client, api_keys, **extra):
    return client.post(
        CHANGELIST,
        {"action": "revoke_selected", "_selected_action": [k.pk for k in api_keys], **extra},
    )


def test_revoking_asks_for_a_reason_first(staff_client, make_user, make_key):
    key, _ = make_key(make_user("alice"), name="Build")
    page = revoke_action(staff_client, [key])
    assert page.status_code == 200
    text = page.content.decode()
    assert 'name="reason"' in text
    assert "Build" in text
    assert key.hint in text
    assert key.digest not in text

    without_reason = revoke_action(staff_client, [key], post="yes", reason="  ")
    assert without_reason.status_code == 200
    assert "This field is required." in without_reason.content.decode()
    key.refresh_from_db()
    assert not key.is_revoked
    assert not Event.objects.filter(kind=EventKind.API_KEY_REVOKED).exists()


def test_revoking_selected_keys_audits_and_emails_each_owner(
    staff_client, staff, make_user, make_key, django_capture_on_commit_callbacks, mailoutbox
):
    alice, bob = make_user("alice"), make_user("bob")
    alice_key, _ = make_key(alice, name="Alice's")
    bob_key, _ = make_key(bob, name="Bob's")
    already, _ = make_key(bob, name="Old")
    api_key_revoke(api_key=already, actor=bob)

    with django_capture_on_commit_callbacks(execute=True):
        response = revoke_action(
            staff_client, [alice_key, bob_key, already], post="yes", reason="Found in a paste"
        )
    assert response.status_code == 302

    for key in (alice_key, bob_key):
        key.refresh_from_db()
        assert key.is_revoked
        assert key.revocation_source == RevocationSource.ADMIN
        assert key.revocation_reason == "Found in a paste"
        assert key.revoked_by == staff
    already.refresh_from_db()
    assert already.revocation_source == RevocationSource.USER

    events = Event.objects.filter(kind=EventKind.API_KEY_REVOKED, actor=staff)
    assert sorted(e.api_key_id for e in events) == sorted([alice_key.pk, bob_key.pk])
    for event in events:
        assert event.details["source"] == "admin"
        assert event.details["reason"] == "Found in a paste"
    assert sorted(m.to[0] for m in mailoutbox) == ["alice@example.com", "bob@example.com"]
    for message in mailoutbox:
        assert "An administrator revoked it." in message.body
        assert "Found in a paste" in message.body

    messages = [str(m) for m in staff_client.get(CHANGELIST).context["messages"]]
    assert "2 keys were revoked; their owners have been emailed." in messages
    assert "1 key was already revoked." in messages


# --- Revoke leaked API keys --------------------------------------------------------


@pytest.fixture
def leaked(make_user, make_key):
    """Alice's and Bob's live keys, Bob's revoked one, and their values."""
    alice, bob = make_user("alice"), make_user("bob")
    alice_key, alice_value = make_key(alice, name="Alice build")
    bob_key, bob_value = make_key(bob, name="Bob deploy")
    old_key, old_value = make_key(bob, name="Bob old")
    api_key_revoke(api_key=old_key, actor=bob)
    return {
        "alice": (alice_key, alice_value),
        "bob": (bob_key, bob_value),
        "old": (old_key, old_value),
    }


def paste(leaked) -> tuple[str, list[str]]:
    alice_value, bob_value, old_value = (leaked[k][1] for k in ("alice", "bob", "old"))
    unknown = keys.generate()
    text = "\n".join(
        [
            alice_value,
            "",
            json.dumps({"ApiKey": bob_value, "LeakedUrl": "https://example.com/gist/1"}),
            json.dumps({"ApiKey": old_value, "LeakedUrl": "https://example.com/gist/2"}),
            '{"ApiKey": broken json',
            unknown,
            "not-a-key-at-all-but-long-enough",
        ]
    )
    return text, [alice_value, bob_value, old_value, unknown, "not-a-key-at-all-but-long-enough"]


def test_the_changelist_links_to_the_leaked_keys_page(staff_client):
    assert LEAKED in staff_client.get(CHANGELIST).content.decode()
    page = staff_client.get(LEAKED)
    assert page.status_code == 200
    assert 'name="values"' in page.content.decode()


def test_verify_shows_whose_keys_they_are_without_echoing_any_value(staff_client, leaked):
    text, values = paste(leaked)
    response = staff_client.post(LEAKED, {"values": text, "verify": "Verify"})
    assert response.status_code == 200
    page = response.content.decode()
    for value in values:
        assert value not in page
    assert "broken json" not in page
    for name in ("alice", "bob"):
        api_key = leaked[name][0]
        assert api_key.hint in page
        assert api_key.name in page
    assert "https://example.com/gist/1" in page
    assert "Not understood" in page
    assert page.count("Not found") == 2
    assert "Revoked" in page
    assert response["Cache-Control"].startswith("max-age=0")
    rows = response.context["rows"]
    assert [row.line for row in rows] == [1, 3, 4, 5, 6, 7]
    assert [row.can_revoke for row in rows] == [True, True, False, False, False, False]
    # Verifying changes nothing.
    assert (
        not Event.objects.filter(kind=EventKind.API_KEY_REVOKED)
        .exclude(api_key_id=leaked["old"][0].pk)
        .exists()
    )


def test_too_many_values_are_refused_without_echoing_them(staff_client, leaked):
    value = leaked["alice"][1]
    response = staff_client.post(
        LEAKED, {"values": "\n".join([value] * (MAX_LEAKED_VALUES + 1)), "verify": "Verify"}
    )
    page = response.content.decode()
    assert f"Paste at most {MAX_LEAKED_VALUES} keys at a time." in page
    assert value not in page
    assert response.context["rows"] is None


def verify(client, text):
    response = client.post(LEAKED, {"values": text, "verify": "Verify"})
    return response.context["verified"], response.context["rows"]


def test_revoking_leaked_keys_records_leak_url_staff_and_emails_the_owner(
    staff_client, staff, leaked, django_capture_on_commit_callbacks, mailoutbox
):
    text, values = paste(leaked)
    verified, _ = verify(staff_client, text)
    alice_key, bob_key = leaked["alice"][0], leaked["bob"][0]

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            LEAKED, {"verified": verified, "key": [alice_key.pk, bob_key.pk], "revoke": "Revoke"}
        )
    assert response.status_code == 302

    alice_key.refresh_from_db()
    bob_key.refresh_from_db()
    for key in (alice_key, bob_key):
        assert key.revocation_source == RevocationSource.LEAK
        assert key.revoked_by == staff
    assert alice_key.revocation_url == ""
    assert bob_key.revocation_url == "https://example.com/gist/1"

    events = {
        e.api_key_id: e for e in Event.objects.filter(kind=EventKind.API_KEY_REVOKED, actor=staff)
    }
    assert set(events) == {alice_key.pk, bob_key.pk}
    assert events[bob_key.pk].details["source"] == "leak"
    assert events[bob_key.pk].details["leak_url"] == "https://example.com/gist/1"
    assert events[bob_key.pk].api_key_hint == bob_key.hint

    assert sorted(m.to[0] for m in mailoutbox) == ["alice@example.com", "bob@example.com"]
    bob_mail = next(m for m in mailoutbox if m.to == ["bob@example.com"])
    assert "found in a public place" in bob_mail.body
    assert "https://example.com/gist/1" in bob_mail.body

    stored = json.dumps([list(Event.objects.values())], default=str)
    for value in values:
        assert value not in stored
        assert all(value not in m.body for m in mailoutbox)

    follow = staff_client.get(LEAKED).content.decode()
    assert "2 keys were revoked; their owners have been emailed." in follow


def test_only_ticked_keys_are_revoked(staff_client, leaked):
    verified, _ = verify(staff_client, paste(leaked)[0])
    alice_key, bob_key = leaked["alice"][0], leaked["bob"][0]
    staff_client.post(LEAKED, {"verified": verified, "key": [bob_key.pk], "revoke": "Revoke"})
    alice_key.refresh_from_db()
    bob_key.refresh_from_db()
    assert not alice_key.is_revoked
    assert bob_key.is_revoked


def test_revoke_takes_only_keys_that_were_verified(staff_client, make_user, make_key, leaked):
    other, _ = make_key(make_user("carol"))
    verified, _ = verify(staff_client, leaked["alice"][1])
    staff_client.post(LEAKED, {"verified": verified, "key": [other.pk], "revoke": "Revoke"})
    other.refresh_from_db()
    assert not other.is_revoked

    forged = staff_client.post(
        LEAKED, {"verified": verified + "x", "key": [leaked["alice"][0].pk], "revoke": "Revoke"}
    )
    assert forged.status_code == 302
    assert not ApiKey.objects.get(pk=leaked["alice"][0].pk).is_revoked
    page = staff_client.get(LEAKED).content.decode()
    assert "That verification has expired or is not valid." in page


def test_a_verification_belongs_to_the_staff_member_who_made_it(
    client, staff_client, make_user, leaked
):
    verified, _ = verify(staff_client, leaked["alice"][1])
    client.force_login(make_user("root2", is_staff=True, is_superuser=True))
    client.post(LEAKED, {"verified": verified, "key": [leaked["alice"][0].pk], "revoke": "Revoke"})
    assert not ApiKey.objects.get(pk=leaked["alice"][0].pk).is_revoked


def test_revoking_twice_does_nothing_more(
    staff_client, leaked, django_capture_on_commit_callbacks, mailoutbox
):
    verified, _ = verify(staff_client, leaked["alice"][1])
    post = {"verified": verified, "key": [leaked["alice"][0].pk], "revoke": "Revoke"}
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(LEAKED, post)
        staff_client.post(LEAKED, post)
    assert len(mailoutbox) == 1
    assert Event.objects.filter(kind=EventKind.API_KEY_REVOKED, actor__is_staff=True).count() == 1


def test_keys_acting_for_an_organization_show_it_and_are_found_by_it(
    staff_client, make_user, make_organization, make_key
):
    alice = make_user("alice")
    contoso = make_organization("Contoso", alice)
    make_key(alice, package_owner=contoso.account, name="For Contoso")
    make_key(alice, name="Own")

    response = staff_client.get(CHANGELIST, {"q": "Contoso"})

    assert listed(response) == {"For Contoso"}
    assert re.search(r'class="field-package_owner[^"]*">Contoso<', response.content.decode())
