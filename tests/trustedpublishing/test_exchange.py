"""POST /api/v2/token: success for GitHub- and GitLab-shaped tokens, and every refusal."""

import base64
import hashlib
import hmac
import json
import re
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apikeys import keys
from apikeys.models import ApiKey
from audit.models import Event, EventKind
from tests.nupkgs import make_nupkg
from tests.trustedpublishing.issuer import new_ec_key, new_rsa_key, public_pem
from trustedpublishing.models import Policy, UsedToken

from .conftest import AUDIENCE

URL = "/api/v2/token"


def exchange(
    client,
    token,
    username="alice",
    *,
    body=None,
    content_type="application/json",
    user_agent="NuGet CI/1.0",
    authorization=None,
):
    headers = {}
    if authorization is not None:
        headers["HTTP_AUTHORIZATION"] = authorization
    elif token is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    if user_agent is not None:
        headers["HTTP_USER_AGENT"] = user_agent
    data = body if body is not None else json.dumps({"username": username, "tokenType": "ApiKey"})
    return client.post(URL, data=data, content_type=content_type, **headers)


def refused(response, status):
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert response.reason_phrase == error
    if status == 401:
        assert response["WWW-Authenticate"] == "Bearer"
    return error


def last_refusal():
    return Event.objects.filter(kind=EventKind.TP_EXCHANGE_REFUSED).latest("id")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
def alice(user):
    return user


class TestSuccess:
    def test_a_github_token_mints_a_key_that_pushes(self, client, issuer, alice, make_policy, push):
        policy = make_policy(alice, environment="release")
        before = timezone.now()
        response = exchange(client, issuer.token("github", AUDIENCE))
        assert response.status_code == 200, response.content
        data = response.json()
        assert data["tokenType"] == "ApiKey"
        # Secret scanners tell a minted key from a long-lived one by its prefix.
        assert re.fullmatch(keys.pattern(short_lived=True), data["apiKey"])
        assert not re.search(keys.pattern(), data["apiKey"])
        expires = parse_datetime(data["expires"])
        assert timedelta(minutes=14) < expires - before <= timedelta(minutes=15, seconds=5)
        api_key = ApiKey.objects.get(policy=policy)
        assert api_key.owner == alice and api_key.expires_at == expires
        assert api_key.actions == ["package:push"] and api_key.globs == ["Contoso.*"]
        assert push(make_nupkg("Contoso.Widgets", "1.0.0"), data["apiKey"]).status_code == 201
        # Outside the policy's globs: refused like any key's.
        assert push(make_nupkg("Other.Thing", "1.0.0"), data["apiKey"]).status_code == 403
        policy.refresh_from_db()
        assert (policy.subject_owner_id, policy.subject_id) == ("1001", "2002")
        event = Event.objects.get(kind=EventKind.TP_KEY_MINTED)
        assert event.api_key_id == api_key.pk and event.subject_user_id == alice.pk
        assert event.details["policy_id"] == policy.pk
        assert event.details["repository"] == "contoso/widgets"
        assert event.details["job_workflow_ref"].endswith("release.yml@refs/heads/main")
        assert event.details["run_id"] == "9876543210"
        assert event.user_agent == "NuGet CI/1.0"

    def test_a_gitlab_token_mints_a_key(self, client, issuer, alice, make_policy):
        policy = make_policy(alice, "gitlab", ref="main", environment="production")
        response = exchange(client, issuer.token("gitlab", AUDIENCE))
        assert response.status_code == 200, response.content
        assert ApiKey.objects.get(policy=policy).is_active()
        policy.refresh_from_db()
        assert (policy.subject_owner_id, policy.subject_id) == ("3003", "4004")
        details = Event.objects.get(kind=EventKind.TP_KEY_MINTED).details
        assert details["project_path"] == "contoso/widgets" and details["pipeline_id"] == "555"

    def test_an_es256_token_is_accepted(self, client, issuer, alice, make_policy):
        make_policy(alice)
        kid = issuer.add_key(new_ec_key())
        token = issuer.sign(issuer.claims("github", AUDIENCE), kid=kid, algorithm="ES256")
        assert exchange(client, token).status_code == 200

    def test_a_key_added_to_the_issuer_later_is_fetched(self, client, issuer, alice, make_policy):
        make_policy(alice)
        assert exchange(client, issuer.token("github", AUDIENCE)).status_code == 200
        issuer.kid = issuer.add_key(new_rsa_key())  # rotation: a kid the cache lacks
        time.sleep(1.1)  # the refresh cooldown after a fetch
        assert exchange(client, issuer.token("github", AUDIENCE)).status_code == 200

    def test_the_first_matching_policy_mints(self, client, issuer, alice, make_policy):
        make_policy(alice, name="other", subject="gadgets")
        first = make_policy(alice, name="first")
        make_policy(alice, name="second")
        assert exchange(client, issuer.token("github", AUDIENCE)).status_code == 200
        assert ApiKey.objects.get(policy__isnull=False).policy == first

    def test_the_lifetime_is_a_setting(self, client, issuer, alice, make_policy, settings):
        settings.TRUSTED_PUBLISHING_KEY_MINUTES = 60
        make_policy(alice)
        data = exchange(client, issuer.token("github", AUDIENCE)).json()
        lifetime = parse_datetime(data["expires"]) - timezone.now()
        assert timedelta(minutes=59) < lifetime <= timedelta(minutes=60)

    def test_a_minted_key_stops_at_its_expiry(self, client, issuer, alice, make_policy, push):
        make_policy(alice)
        value = exchange(client, issuer.token("github", AUDIENCE)).json()["apiKey"]
        ApiKey.objects.filter(policy__isnull=False).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
        assert push(make_nupkg("Contoso.Widgets", "1.0.0"), value).status_code == 403


class TestRequestShape:
    def test_no_authorization_is_401(self, client, issuer, alice):
        error = refused(exchange(client, None), 401)
        assert "Authorization header is missing" in error

    def test_another_scheme_is_401(self, client, issuer, alice):
        refused(exchange(client, None, authorization="Basic YTpi"), 401)

    def test_an_empty_bearer_is_401(self, client, issuer, alice):
        refused(exchange(client, None, authorization="Bearer "), 401)

    def test_two_authorization_values_are_401(self, client, issuer, alice):
        error = refused(exchange(client, None, authorization="Bearer a.b.c, Bearer d.e.f"), 401)
        assert "Only one" in error

    def test_a_signed_in_browser_is_refused(self, client, issuer, alice, make_policy):
        make_policy(alice)
        client.force_login(alice)
        error = refused(exchange(client, issuer.token("github", AUDIENCE)), 401)
        assert "Bearer" in error
        assert not ApiKey.objects.filter(policy__isnull=False).exists()

    def test_a_form_body_is_415(self, client, issuer, alice):
        response = exchange(
            client, "x.y.z", body="username=alice", content_type="application/x-www-form-urlencoded"
        )
        refused(response, 415)

    def test_no_user_agent_is_400(self, client, issuer, alice):
        refused(exchange(client, "x.y.z", user_agent=None), 400)
        refused(exchange(client, "x.y.z", user_agent="  "), 400)

    @pytest.mark.parametrize(
        "body",
        [
            '{"tokenType": "ApiKey"}',
            '{"username": "alice"}',
            '{"username": "alice", "tokenType": "Other"}',
            "[]",
            "not json",
            '{"username": 5, "tokenType": "ApiKey"}',
        ],
    )
    def test_a_bad_body_is_400(self, client, issuer, alice, body):
        refused(exchange(client, "x.y.z", body=body), 400)

    def test_get_is_405(self, client):
        assert client.get(URL).status_code == 405


class TestTokenRefusals:
    @pytest.fixture(autouse=True)
    def policy(self, alice, make_policy):
        return make_policy(alice)

    def check(self, client, token, code, status=401):
        refused(exchange(client, token), status)
        assert last_refusal().details["code"] == code
        assert not ApiKey.objects.filter(policy__isnull=False).exists()

    def test_wrong_audience(self, client, issuer):
        self.check(client, issuer.token("github", "https://elsewhere.test"), "audience")

    def test_two_audiences(self, client, issuer):
        self.check(client, issuer.token("github", [AUDIENCE, "https://other.test"]), "audience")

    def test_expired(self, client, issuer):
        old = issuer.claims("github", AUDIENCE, exp=int(timezone.now().timestamp()) - 120)
        self.check(client, issuer.sign(old), "expired")

    def test_not_yet_valid(self, client, issuer):
        later = int(timezone.now().timestamp()) + 600
        claims = issuer.claims("github", AUDIENCE, nbf=later, exp=later + 300)
        self.check(client, issuer.sign(claims), "not_yet_valid")

    def test_unknown_issuer(self, client, issuer, settings):
        settings.TRUSTED_PUBLISHING_ISSUERS = f"gitlab={issuer.url('gitlab')}"
        self.check(client, issuer.token("github", AUDIENCE), "issuer")

    def test_an_http_issuer_when_https_is_required(self, client, issuer, settings):
        settings.TRUSTED_PUBLISHING_REQUIRE_HTTPS = True
        settings.TRUSTED_PUBLISHING_ISSUERS = "github=https://token.actions.githubusercontent.com"
        self.check(client, issuer.token("github", AUDIENCE), "issuer")

    def test_unknown_kid(self, client, issuer):
        stranger = new_rsa_key()
        claims = issuer.claims("github", AUDIENCE)
        self.check(client, issuer.sign(claims, kid="unknown", key=stranger), "unknown_key")

    def test_a_known_kid_with_another_keys_signature(self, client, issuer):
        token = issuer.sign(issuer.claims("github", AUDIENCE), key=new_rsa_key())
        self.check(client, token, "signature")

    def test_alg_none(self, client, issuer):
        header = b64(json.dumps({"alg": "none", "kid": issuer.kid}).encode())
        payload = b64(json.dumps(issuer.claims("github", AUDIENCE)).encode())
        self.check(client, f"{header}.{payload}.", "algorithm")

    def test_hs256_signed_with_the_public_key(self, client, issuer):
        header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": issuer.kid}).encode())
        payload = b64(json.dumps(issuer.claims("github", AUDIENCE)).encode())
        secret = public_pem(issuer.keys[issuer.kid])
        signature = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        self.check(client, f"{header}.{payload}.{b64(signature)}", "algorithm")

    def test_garbage(self, client, issuer):
        self.check(client, "not-a-jwt", "malformed")

    def test_a_missing_jti(self, client, issuer):
        self.check(client, issuer.token("github", AUDIENCE, jti=None), "missing_claim")

    def test_a_replayed_jti(self, client, issuer):
        token = issuer.token("github", AUDIENCE)
        assert exchange(client, token).status_code == 200
        refused(exchange(client, token), 401)
        assert last_refusal().details["code"] == "replayed"
        assert ApiKey.objects.filter(policy__isnull=False).count() == 1
        assert UsedToken.objects.count() == 1


class TestPolicyRefusals:
    def check(self, client, token, code, status=401, username="alice"):
        error = refused(exchange(client, token, username), status)
        assert last_refusal().details["code"] == code
        assert not ApiKey.objects.filter(policy__isnull=False).exists()
        return error

    def test_wrong_repository(self, client, issuer, alice, make_policy):
        make_policy(alice)
        token = issuer.token("github", AUDIENCE, repository="contoso/other")
        error = self.check(client, token, "repository")
        assert error == "No trusted publishing policy of this user matches the token."

    def test_wrong_owner(self, client, issuer, alice, make_policy):
        make_policy(alice)
        token = issuer.token(
            "github", AUDIENCE, repository_owner="fabrikam", repository="fabrikam/widgets"
        )
        self.check(client, token, "repository")

    def test_same_names_different_ids_after_first_use(self, client, issuer, alice, make_policy):
        make_policy(alice)
        assert exchange(client, issuer.token("github", AUDIENCE)).status_code == 200
        ApiKey.objects.all().delete()
        token = issuer.token("github", AUDIENCE, repository_id="9999")
        self.check(client, token, "ids")
        token = issuer.token("github", AUDIENCE, repository_owner_id="8888")
        self.check(client, token, "ids")

    def test_gitlab_ids_lock_too(self, client, issuer, alice, make_policy):
        make_policy(alice, "gitlab")
        assert exchange(client, issuer.token("gitlab", AUDIENCE)).status_code == 200
        ApiKey.objects.all().delete()
        self.check(client, issuer.token("gitlab", AUDIENCE, project_id="1"), "ids")

    def test_wrong_workflow(self, client, issuer, alice, make_policy):
        make_policy(alice)
        ref = "contoso/widgets/.github/workflows/other.yml@refs/heads/main"
        self.check(client, issuer.token("github", AUDIENCE, job_workflow_ref=ref), "workflow")

    def test_a_workflow_of_another_repository(self, client, issuer, alice, make_policy):
        make_policy(alice)
        ref = "evil/fork/.github/workflows/release.yml@refs/heads/main"
        self.check(client, issuer.token("github", AUDIENCE, job_workflow_ref=ref), "workflow")

    def test_wrong_environment(self, client, issuer, alice, make_policy):
        make_policy(alice, environment="release")
        self.check(client, issuer.token("github", AUDIENCE, environment="test"), "environment")
        self.check(client, issuer.token("github", AUDIENCE, environment=None), "environment")

    @pytest.mark.parametrize("event", ["pull_request_target", "workflow_run"])
    def test_denied_events(self, client, issuer, alice, make_policy, event):
        make_policy(alice)
        self.check(client, issuer.token("github", AUDIENCE, event_name=event), "event")

    def test_the_deny_list_is_a_setting(self, client, issuer, alice, make_policy, settings):
        settings.TRUSTED_PUBLISHING_GITHUB_DENIED_EVENTS = "push"
        make_policy(alice)
        self.check(client, issuer.token("github", AUDIENCE), "event")

    def test_gitlab_wrong_branch(self, client, issuer, alice, make_policy):
        make_policy(alice, "gitlab", ref="main")
        self.check(client, issuer.token("gitlab", AUDIENCE, ref="dev"), "ref")
        self.check(client, issuer.token("gitlab", AUDIENCE, ref_type="tag"), "ref")

    def test_gitlab_wrong_environment(self, client, issuer, alice, make_policy):
        make_policy(alice, "gitlab", environment="production")
        self.check(client, issuer.token("gitlab", AUDIENCE, environment="staging"), "environment")

    def test_a_github_token_never_matches_a_gitlab_policy(self, client, issuer, alice, make_policy):
        make_policy(alice, "gitlab")
        self.check(client, issuer.token("github", AUDIENCE), "no_policy")

    def test_a_disabled_policy(self, client, issuer, alice, make_policy):
        from trustedpublishing.services import policy_set_enabled

        policy_set_enabled(policy=make_policy(alice), enabled=False, actor=alice)
        self.check(client, issuer.token("github", AUDIENCE), "disabled", status=403)

    def test_an_unknown_user(self, client, issuer, alice, make_policy):
        make_policy(alice)
        self.check(client, issuer.token("github", AUDIENCE), "unknown_user", username="bob")

    def test_a_deactivated_owner(self, client, issuer, alice, make_policy):
        make_policy(alice)
        alice.is_active = False
        alice.save()
        self.check(client, issuer.token("github", AUDIENCE), "owner_not_allowed", status=403)

    def test_an_owner_whose_email_is_no_longer_confirmed(self, client, issuer, alice, make_policy):
        make_policy(alice)
        alice.emailaddress_set.update(verified=False)
        self.check(client, issuer.token("github", AUDIENCE), "owner_not_allowed", status=403)

    def test_after_seven_days_unused_the_policy_must_be_rearmed(
        self, client, issuer, alice, make_policy
    ):
        from trustedpublishing.services import policy_rearm

        policy = make_policy(alice)
        Policy.objects.filter(pk=policy.pk).update(armed_at=timezone.now() - timedelta(days=8))
        error = self.check(client, issuer.token("github", AUDIENCE), "not_armed", status=403)
        assert "re-arm" in error
        policy.refresh_from_db()
        policy_rearm(policy=policy, actor=alice)
        assert exchange(client, issuer.token("github", AUDIENCE)).status_code == 200

    def test_minting_is_rate_limited_per_policy(self, client, issuer, alice, make_policy, settings):
        settings.TRUSTED_PUBLISHING_MINT_LIMIT = 2
        make_policy(alice)
        for _ in range(2):
            assert exchange(client, issuer.token("github", AUDIENCE)).status_code == 200
        refused(exchange(client, issuer.token("github", AUDIENCE)), 429)
        assert last_refusal().details["code"] == "rate_limited"

    def test_failures_are_rate_limited_per_address(self, client, issuer, alice, settings):
        settings.FEED_AUTH_FAILURE_LIMIT = 2
        for _ in range(2):
            refused(exchange(client, "not-a-jwt"), 401)
        response = exchange(client, "not-a-jwt")
        refused(response, 429)
        assert response["Retry-After"]
        assert Event.objects.filter(kind=EventKind.TP_EXCHANGE_REFUSED).count() == 3
        exchange(client, "not-a-jwt")
        assert Event.objects.filter(kind=EventKind.TP_EXCHANGE_REFUSED).count() == 3
