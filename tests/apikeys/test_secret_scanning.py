"""GitHub's secret scanning endpoint: signed reports in, revocations and feedback out.

The tests sign with their own key pair and install its public half in a keys file
in GitHub's format, as an operator installs GitHub's."""

import base64
import hashlib
import json
import os

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.test import Client

from apikeys import keys, secret_scanning
from apikeys.models import ApiKey, RevocationSource
from apikeys.services import api_key_revoke
from audit.models import Event, EventKind

pytestmark = pytest.mark.django_db

URL = "/api/secret-scanning/github"
KEY_ID = "f9525bf080f75b3506ca1ead061add62b8633a346606dc5fe544e29231c6ee0d"
TYPE = "nuget_portal_api_key"
LEAK_URL = "https://github.com/octocat/Hello-World/blob/12345600b9/foo/bar.txt"


def pem(private_key) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def write_keys_file(path, entries):
    path.write_text(
        json.dumps(
            {
                "public_keys": [
                    {"key_identifier": key_id, "key": pem(private_key), "is_current": current}
                    for key_id, private_key, current in entries
                ]
            }
        )
    )


@pytest.fixture
def signing_key():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def keys_file(tmp_path, settings, signing_key):
    path = tmp_path / "github_secret_scanning_keys.json"
    write_keys_file(path, [(KEY_ID, signing_key, True)])
    settings.SECRET_SCANNING_GITHUB_KEYS_FILE = str(path)
    return path


def sign(body: bytes, private_key) -> str:
    return base64.b64encode(private_key.sign(body, ec.ECDSA(hashes.SHA256()))).decode()


def github_headers(body: bytes, private_key, key_id=KEY_ID) -> dict:
    return {
        "Github-Public-Key-Identifier": key_id,
        "Github-Public-Key-Signature": sign(body, private_key),
    }


def report(matches) -> bytes:
    return json.dumps(matches).encode()


def match(token, url=LEAK_URL, **extra):
    return {"token": token, "type": TYPE, "url": url, "source": "content", **extra}


@pytest.fixture
def post(client, keys_file, signing_key):
    def send(body: bytes, *, key_id=KEY_ID, signature=None, signer=None, client=client):
        headers = {}
        if key_id is not None:
            headers["Github-Public-Key-Identifier"] = key_id
        if signature is None:
            signature = sign(body, signer or signing_key)
        if signature:
            headers["Github-Public-Key-Signature"] = signature
        return client.post(URL, body, content_type="application/json", headers=headers)

    return send


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def events(kind):
    return list(Event.objects.filter(kind=kind).order_by("id"))


def all_event_text() -> str:
    return json.dumps(list(Event.objects.values()), default=str)


# --- A good report -------------------------------------------------------------------


def test_a_signed_report_revokes_live_keys_and_answers_feedback(
    post, make_user, make_key, django_capture_on_commit_callbacks, mailoutbox
):
    alice = make_user("alice")
    api_key, value = make_key(alice, name="Build")
    unknown = keys.generate()
    body = report([match(value), match(unknown, type="other"), match("ngk_nope")])

    with django_capture_on_commit_callbacks(execute=True):
        response = post(body)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == [
        {"token_hash": token_hash(value), "token_type": TYPE, "label": "true_positive"},
        {"token_hash": token_hash(unknown), "token_type": "other", "label": "false_positive"},
        {"token_hash": token_hash("ngk_nope"), "token_type": TYPE, "label": "false_positive"},
    ]

    api_key.refresh_from_db()
    assert api_key.is_revoked
    assert api_key.revocation_source == RevocationSource.GITHUB
    assert api_key.revocation_url == LEAK_URL
    assert api_key.revoked_by is None

    revoked = events(EventKind.API_KEY_REVOKED)
    assert len(revoked) == 1
    assert revoked[0].api_key_id == api_key.pk
    assert revoked[0].details["source"] == "github"
    assert revoked[0].details["leak_url"] == LEAK_URL
    (received,) = events(EventKind.SECRET_SCANNING_REPORT)
    assert received.details == {
        "key_identifier": KEY_ID,
        "matches": 3,
        "true_positives": 1,
        "false_positives": 2,
        "revoked": 1,
    }
    assert received.ip == "127.0.0.1"

    assert [m.to for m in mailoutbox] == [["alice@example.com"]]
    assert LEAK_URL in mailoutbox[0].body
    assert "found in a public place" in mailoutbox[0].body

    stored = all_event_text()
    for token in (value, unknown):
        assert token not in stored
        assert token not in mailoutbox[0].body


def test_keys_already_revoked_or_expired_are_ours_but_not_revoked_again(
    post, make_user, make_key, django_capture_on_commit_callbacks, mailoutbox
):
    alice = make_user("alice")
    revoked_key, revoked_value = make_key(alice, name="revoked")
    api_key_revoke(api_key=revoked_key, actor=alice, reason="rotated")
    expired_key, expired_value = make_key(alice, name="expired")
    ApiKey.objects.filter(pk=expired_key.pk).update(expires_at=expired_key.created_at)

    with django_capture_on_commit_callbacks(execute=True):
        response = post(report([match(revoked_value), match(expired_value)]))

    assert [item["label"] for item in response.json()] == ["true_positive", "true_positive"]
    revoked_key.refresh_from_db()
    assert revoked_key.revocation_source == RevocationSource.USER
    assert revoked_key.revocation_url == ""
    expired_key.refresh_from_db()
    assert not expired_key.is_revoked
    assert mailoutbox == []
    assert events(EventKind.SECRET_SCANNING_REPORT)[0].details["revoked"] == 0


def test_a_token_reported_twice_in_one_batch_is_revoked_once(
    post, user, make_key, django_capture_on_commit_callbacks, mailoutbox
):
    api_key, value = make_key(user)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(report([match(value), match(value, url="https://github.com/b")]))
    assert [item["label"] for item in response.json()] == ["true_positive"] * 2
    assert len(events(EventKind.API_KEY_REVOKED)) == 1
    assert len(mailoutbox) == 1
    api_key.refresh_from_db()
    assert api_key.revocation_url == LEAK_URL


def test_an_unsafe_url_is_not_kept(post, user, make_key):
    api_key, value = make_key(user)
    post(report([match(value, url="javascript:alert(1)")]))
    api_key.refresh_from_db()
    assert api_key.is_revoked
    assert api_key.revocation_url == ""


def test_an_empty_report_is_answered_with_no_feedback(post):
    response = post(b"[]")
    assert response.status_code == 200
    assert response.json() == []
    assert events(EventKind.SECRET_SCANNING_REPORT)[0].details["matches"] == 0


def test_a_replayed_report_changes_nothing_and_gets_the_same_answer(
    client, keys_file, signing_key, user, make_key, django_capture_on_commit_callbacks, mailoutbox
):
    api_key, value = make_key(user)
    body = report([match(value), match(keys.generate())])
    headers = github_headers(body, signing_key)

    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(URL, body, content_type="application/json", headers=headers)
    api_key.refresh_from_db()
    revoked_at = api_key.revoked_at
    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(URL, body, content_type="application/json", headers=headers)

    assert again.status_code == first.status_code == 200
    assert again.json() == first.json()
    assert len(events(EventKind.API_KEY_REVOKED)) == 1
    assert len(mailoutbox) == 1
    api_key.refresh_from_db()
    assert api_key.revoked_at == revoked_at
    # Each request that was let in is on record; the second revoked nothing.
    reports = events(EventKind.SECRET_SCANNING_REPORT)
    assert [r.details["revoked"] for r in reports] == [1, 0]


def test_csrf_does_not_apply(keys_file, signing_key):
    body = b"[]"
    response = Client(enforce_csrf_checks=True).post(
        URL,
        body,
        content_type="application/json",
        headers=github_headers(body, signing_key),
    )
    assert response.status_code == 200


def test_only_post_is_allowed(client, keys_file):
    assert client.get(URL).status_code == 405
    assert not Event.objects.exists()


# --- Refusals ---------------------------------------------------------------------


def refused_reason(response, status=401) -> str:
    assert response.status_code == status
    (event,) = events(EventKind.SECRET_SCANNING_REFUSED)
    assert not events(EventKind.SECRET_SCANNING_REPORT)
    assert not events(EventKind.API_KEY_REVOKED)
    return event.details["reason"]


@pytest.fixture
def live_key(user, make_key):
    return make_key(user)


def test_a_bad_signature_is_refused_and_audited(post, live_key, signing_key):
    api_key, value = live_key
    body = report([match(value)])
    response = post(body, signature=sign(body + b" ", signing_key))
    assert refused_reason(response) == "bad_signature"
    assert response.json() == {"error": "invalid_signature"}
    api_key.refresh_from_db()
    assert not api_key.is_revoked
    assert value not in all_event_text()


def test_a_signature_by_another_key_is_refused(post, live_key):
    body = report([match(live_key[1])])
    intruder = ec.generate_private_key(ec.SECP256R1())
    assert refused_reason(post(body, signer=intruder)) == "bad_signature"


def test_an_unknown_key_identifier_is_refused_and_audited(post, live_key):
    api_key, value = live_key
    response = post(report([match(value)]), key_id="0" * 64)
    assert refused_reason(response) == "unknown_key_identifier"
    assert response.json() == {"error": "invalid_signature"}
    event = events(EventKind.SECRET_SCANNING_REFUSED)[0]
    assert event.details["key_identifier"] == "0" * 64
    assert value not in all_event_text()
    api_key.refresh_from_db()
    assert not api_key.is_revoked


@pytest.mark.parametrize(
    ("key_id", "signature"),
    [(None, None), ("", None), (KEY_ID, "")],
    ids=["no identifier", "empty identifier", "no signature"],
)
def test_missing_headers_are_refused(post, key_id, signature):
    assert refused_reason(post(b"[]", key_id=key_id, signature=signature)) == "missing_signature"


@pytest.mark.parametrize("signature", ["not base64!", "AAAA", base64.b64encode(b"x" * 70).decode()])
def test_a_garbled_signature_is_refused(post, signature):
    assert refused_reason(post(b"[]", signature=signature)) == "bad_signature"


def test_a_key_that_is_no_longer_current_still_verifies(tmp_path, settings, client, post):
    old, new = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "rotated.json"
    write_keys_file(path, [("old-id", old, False), ("new-id", new, True)])
    settings.SECRET_SCANNING_GITHUB_KEYS_FILE = str(path)
    assert post(b"[]", key_id="old-id", signer=old).status_code == 200
    assert post(b"[]", key_id="new-id", signer=new).status_code == 200


def test_the_keys_file_is_read_again_when_it_changes(keys_file, post):
    assert post(b"[]").status_code == 200
    rotated = ec.generate_private_key(ec.SECP256R1())
    write_keys_file(keys_file, [("rotated-id", rotated, True)])
    stat = keys_file.stat()
    os.utime(keys_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert post(b"[]", key_id="rotated-id", signer=rotated).status_code == 200
    assert post(b"[]").status_code == 401


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ("unset", "keys_not_configured"),
        ("missing", "keys_file_unreadable"),
        ("not json", "keys_file_invalid"),
        ("no keys", "keys_file_invalid"),
        ("wrong curve", "keys_file_invalid"),
    ],
)
def test_without_usable_keys_the_endpoint_is_unavailable(
    setup, reason, tmp_path, settings, client, signing_key
):
    path = tmp_path / "keys.json"
    if setup == "unset":
        settings.SECRET_SCANNING_GITHUB_KEYS_FILE = ""
    else:
        settings.SECRET_SCANNING_GITHUB_KEYS_FILE = str(path)
    if setup == "not json":
        path.write_text("-----BEGIN PUBLIC KEY-----")
    elif setup == "no keys":
        path.write_text(json.dumps({"public_keys": [{"key_identifier": KEY_ID, "key": "x"}]}))
    elif setup == "wrong curve":
        write_keys_file(path, [(KEY_ID, ec.generate_private_key(ec.SECP384R1()), True)])
    body = b"[]"
    response = client.post(
        URL,
        body,
        content_type="application/json",
        headers=github_headers(body, signing_key),
    )
    assert refused_reason(response, status=503) == reason


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b'{"token": "x"}',
        b'"x"',
        b"[1]",
        b'[{"type": "t"}]',
        b'[{"token": 5}]',
        b'[{"token": null}]',
        b'[{"token": "x", "type": 5}]',
        b'[{"token": "x", "url": ["u"]}]',
        b'[{"token": "x"}, "y"]',
    ],
)
def test_a_malformed_report_is_a_400(post, body):
    response = post(body)
    assert refused_reason(response, status=400) == "malformed"


def test_optional_fields_may_be_missing(post, live_key):
    response = post(report([{"token": live_key[1]}]))
    assert response.json() == [
        {"token_hash": token_hash(live_key[1]), "token_type": "", "label": "true_positive"}
    ]


def test_a_body_over_the_limit_is_a_413_before_any_check(post, settings):
    settings.SECRET_SCANNING_MAX_BODY_SIZE = 100
    assert refused_reason(post(b"[" + b" " * 99 + b"]"), status=413) == "too_large"
    assert post(b"[" + b" " * 98 + b"]").status_code == 200


def test_the_default_limit_is_five_megabytes(post, settings):
    body = b"[" + b" " * (5 * 1024 * 1024 - 1) + b"]"
    response = post(body, signature="AAAA")
    assert refused_reason(response, status=413) == "too_large"


def test_reports_larger_than_djangos_form_limit_are_read(post, settings):
    # Django's own limit for request.body is 2.5 MB; reports up to 5 MB get through.
    body = b"[" + b" " * (3 * 1024 * 1024) + b"]"
    assert post(body).status_code == 200


def test_arrays_nested_a_hundred_thousand_deep_are_a_400(post):
    depth = 100_000
    response = post(b"[" * depth + b"]" * depth)
    assert refused_reason(response, status=400) == "malformed"
    assert response.json() == {"error": "malformed"}


# --- Floods of refusals --------------------------------------------------------------


def bad_signature(post, **headers):
    return post(b"[]", signature="AAAA", **headers)


def test_refusals_beyond_the_limit_are_429_and_only_the_first_is_audited(post, settings):
    settings.SECRET_SCANNING_REFUSAL_LIMIT = 3
    responses = [bad_signature(post) for _ in range(7)]
    assert [r.status_code for r in responses] == [401] * 3 + [429] * 4
    assert all(int(r["Retry-After"]) >= 1 for r in responses[3:])
    assert responses[3].json() == {"error": "too_many_requests"}
    refused = events(EventKind.SECRET_SCANNING_REFUSED)
    assert [e.details.get("rate_limited", False) for e in refused] == [False] * 3 + [True]
    assert refused[-1].details["reason"] == "bad_signature"


def test_every_kind_of_refusal_counts(post, settings):
    settings.SECRET_SCANNING_REFUSAL_LIMIT = 3
    settings.SECRET_SCANNING_MAX_BODY_SIZE = 10
    statuses = [
        post(b"[" + b" " * 20 + b"]").status_code,
        post(b"[]", key_id="0" * 64).status_code,
        post(b"not json").status_code,
        post(b"[]", signature="AAAA").status_code,
    ]
    assert statuses == [413, 401, 400, 429]


def test_the_default_limit_is_ten_refusals_a_minute(post):
    statuses = [bad_signature(post).status_code for _ in range(11)]
    assert statuses == [401] * 10 + [429]
    assert secret_scanning.refusal_limiter().window == 60


def test_the_limit_is_per_address(post, settings):
    settings.SECRET_SCANNING_REFUSAL_LIMIT = 2
    assert [bad_signature(post).status_code for _ in range(3)] == [401, 401, 429]
    assert bad_signature(post, client=Client(REMOTE_ADDR="192.0.2.7")).status_code == 401


def test_a_signed_report_goes_through_from_an_address_over_the_limit(post, settings, live_key):
    settings.SECRET_SCANNING_REFUSAL_LIMIT = 2
    assert [bad_signature(post).status_code for _ in range(3)] == [401, 401, 429]
    response = post(report([match(live_key[1])]))
    assert response.status_code == 200
    assert response.json()[0]["label"] == "true_positive"


def test_a_long_user_agent_is_cut_short_in_the_audit_log(post):
    bad_signature(post, client=Client(HTTP_USER_AGENT="x" * 500))
    (event,) = events(EventKind.SECRET_SCANNING_REFUSED)
    assert event.user_agent == "x" * 256


# --- A big batch --------------------------------------------------------------------


def test_a_thousand_tokens_take_a_bounded_number_of_queries(
    post, make_user, make_key, django_assert_max_num_queries
):
    alice, bob = make_user("alice"), make_user("bob")
    live = [make_key(alice, name=f"live {n}") for n in range(3)]
    dead_key, dead_value = make_key(bob, name="dead")
    api_key_revoke(api_key=dead_key, actor=bob)
    ours = [value for _, value in live] + [dead_value]
    tokens = ours + [keys.generate() for _ in range(900)] + [f"ngk_junk{n}" for n in range(96)]
    assert len(tokens) == 1000
    body = report([match(token) for token in tokens])

    # One lookup for every token, four statements per revocation (savepoint,
    # update, event, release), the report event and its savepoints.
    with django_assert_max_num_queries(1 + 4 * len(live) + 5):
        response = post(body)

    assert response.status_code == 200
    feedback = response.json()
    assert len(feedback) == 1000
    labels = [item["label"] for item in feedback]
    assert labels == ["true_positive"] * 4 + ["false_positive"] * 996
    assert [item["token_hash"] for item in feedback] == [token_hash(t) for t in tokens]
    assert ApiKey.objects.filter(revocation_source=RevocationSource.GITHUB).count() == 3
    assert events(EventKind.SECRET_SCANNING_REPORT)[0].details == {
        "key_identifier": KEY_ID,
        "matches": 1000,
        "true_positives": 4,
        "false_positives": 996,
        "revoked": 3,
    }

    # Replayed: nothing left to revoke, so the lookup and the report event only.
    with django_assert_max_num_queries(1 + 5):
        again = post(body)
    assert again.json() == feedback


def test_the_route_is_named():
    from django.urls import reverse

    assert reverse("apikeys:secret_scanning_github") == URL
    assert secret_scanning.DEFAULT_MAX_BODY_SIZE == 5 * 1024 * 1024
