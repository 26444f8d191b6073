"""The user admin shows each user's API keys, and cannot change them."""

import re

import pytest
from django.utils import timezone

from apikeys.models import ApiKey
from apikeys.services import api_key_revoke

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(make_user):
    return make_user("root1", is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(client, root):
    client.force_login(root)
    return client


@pytest.fixture
def alice_keys(make_user, make_key):
    alice = make_user("alice")
    active, _ = make_key(alice, name="Deploy")
    revoked, _ = make_key(alice, name="Old laptop")
    api_key_revoke(api_key=revoked, actor=alice)
    expired, _ = make_key(alice, name="Nightly")
    ApiKey.objects.filter(pk=expired.pk).update(expires_at=timezone.now())
    make_key(make_user("bob"), name="Bob's key")
    return alice, active, revoked, expired


def page(client, user):
    response = client.get(f"/admin/auth/user/{user.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_user_page_lists_their_keys(staff_client, alice_keys):
    alice, active, revoked, expired = alice_keys
    html = page(staff_client, alice)
    for key in (active, revoked, expired):
        assert key.name in html
        assert key.hint in html
        assert f"/admin/apikeys/apikey/{key.pk}/change/" in html
    assert "Bob&#x27;s key" not in html and "Bob's key" not in html
    assert "Push new packages and package versions" in html
    statuses = re.findall(r'<td class="field-status">\s*<p>(\w+)</p>', html)
    assert statuses == ["Expired", "Revoked", "Active"]  # newest first


def test_the_keys_cannot_be_added_changed_or_deleted_there(staff_client, alice_keys):
    alice, active, *_ = alice_keys
    html = page(staff_client, alice)
    assert 'name="api_keys-0-name"' not in html
    assert "api_keys-0-DELETE" not in html
    # The inline script offers "Add another" only below the maximum, which is none.
    assert 'name="api_keys-MAX_NUM_FORMS" value="0"' in html
    assert active.digest not in html


def test_saving_the_user_leaves_their_keys_alone(staff_client, alice_keys):
    alice, active, *_ = alice_keys
    joined = timezone.localtime(alice.date_joined)
    form = {
        "username": "alice", "first_name": "Alice", "last_name": "", "email": alice.email,
        "is_active": "on", "date_joined_0": joined.strftime("%Y-%m-%d"),
        "date_joined_1": joined.strftime("%H:%M:%S"), "last_login_0": "", "last_login_1": "",
        "api_keys-TOTAL_FORMS": "3", "api_keys-INITIAL_FORMS": "3",
        "api_keys-MIN_NUM_FORMS": "0", "api_keys-MAX_NUM_FORMS": "1000",
        "api_keys-0-id": str(active.pk), "api_keys-0-owner": str(alice.pk),
        "api_keys-0-name": "Renamed", "api_keys-0-DELETE": "on",
    }  # fmt: skip
    response = staff_client.post(f"/admin/auth/user/{alice.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    alice.refresh_from_db()
    assert alice.first_name == "Alice"
    active.refresh_from_db()
    assert active.name == "Deploy"
    assert ApiKey.objects.filter(owner=alice).count() == 3


def test_the_user_list_still_renders(staff_client, alice_keys):
    response = staff_client.get("/admin/auth/user/", {"q": "alice"})
    assert response.status_code == 200
    assert "alice" in response.content.decode()
