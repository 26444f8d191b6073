"""Verifying a CI system's OIDC token: issuer, signature, audience, time, algorithm.

PyJWT does the cryptography and the registered-claim checks; its ``PyJWKClient``
fetches and caches each issuer's key set (found through the issuer's discovery
document) and fetches it again, at most every so often, when a token names a key
it does not hold. Nothing here is hand-rolled crypto. ``verify()`` returns the
token's claims or raises ``InvalidToken`` with a reason for the audit log and a
message for the caller; it never logs or returns the token itself.
"""

import json
import threading
import time
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

import jwt
from django.views.decorators.debug import sensitive_variables

from trustedpublishing import conf

# Asymmetric only: "none" and the HMAC family are never accepted, so a token
# "signed" with an issuer's public key as an HMAC secret is refused.
ALGORITHMS = ("RS256", "ES256")
REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "jti")
_MAX_TOKEN_LENGTH = 16 * 1024
_MAX_DOCUMENT = 256 * 1024
# An unknown kid fetches the key set again, at most once a second per issuer and
# process: a rotated key is found at once, and a flood of made-up kids (already
# slowed by the per-address failure limit) costs the issuer one request a second.
_REFRESH_COOLDOWN = 1


class InvalidToken(Exception):
    """``code`` for the audit log; ``message`` is safe to show the caller."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class VerifiedToken:
    provider: str
    issuer: str
    claims: dict


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirect)
_clients: dict[str, tuple[float, jwt.PyJWKClient]] = {}
_clients_lock = threading.Lock()


def _https_ok(url: str) -> bool:
    return urlsplit(url).scheme == "https" or (
        not conf.require_https() and urlsplit(url).scheme == "http"
    )


def _discover(issuer: str) -> str:
    """The issuer's ``jwks_uri``, from its discovery document."""
    url = f"{issuer}/.well-known/openid-configuration"
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    try:
        with _opener.open(request, timeout=conf.http_timeout()) as response:
            document = json.loads(response.read(_MAX_DOCUMENT))
    except (OSError, ValueError) as error:
        raise InvalidToken(
            "discovery_failed", "The token's issuer could not be reached; try again later."
        ) from error
    jwks_uri = document.get("jwks_uri") if isinstance(document, dict) else None
    if (
        not isinstance(jwks_uri, str)
        or document.get("issuer", "").rstrip("/") != issuer
        or not _https_ok(jwks_uri)
    ):
        raise InvalidToken("discovery_invalid", "The token's issuer published no usable keys.")
    return jwks_uri


def _client(issuer: str) -> jwt.PyJWKClient:
    now = time.monotonic()
    with _clients_lock:
        cached = _clients.get(issuer)
    if cached is not None and cached[0] > now:
        return cached[1]
    client = jwt.PyJWKClient(
        _discover(issuer),
        lifespan=conf.jwks_ttl(),
        timeout=conf.http_timeout(),
        cooldown_duration=_REFRESH_COOLDOWN,
    )
    with _clients_lock:
        _clients[issuer] = (now + conf.jwks_ttl(), client)
    return client


def forget_issuers() -> None:
    """Drop every cached discovery document and key set."""
    with _clients_lock:
        _clients.clear()


def _provider_of(issuer: str) -> str | None:
    for provider, urls in conf.issuers().items():
        if issuer in urls:
            return provider
    return None


@sensitive_variables()
def verify(token: str, *, audience: str) -> VerifiedToken:
    """The token's claims once every check passed; raises InvalidToken."""
    if not token or len(token) > _MAX_TOKEN_LENGTH:
        raise InvalidToken("malformed", "The bearer token is not a valid JSON web token.")
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise InvalidToken("malformed", "The bearer token is not a valid JSON web token.") from None
    if header.get("alg") not in ALGORITHMS:
        raise InvalidToken(
            "algorithm", "The token's signing algorithm is not accepted (RS256 or ES256 only)."
        )
    issuer = unverified.get("iss")
    if not isinstance(issuer, str):
        raise InvalidToken("issuer", "The token's issuer is not trusted.")
    issuer = issuer.rstrip("/")
    provider = _provider_of(issuer)
    if provider is None or not _https_ok(issuer):
        raise InvalidToken("issuer", "The token's issuer is not trusted.")
    aud = unverified.get("aud")
    if isinstance(aud, list):
        if len(aud) != 1:
            raise InvalidToken("audience", "The token must name exactly one audience.")
        aud = aud[0]
    if aud != audience:
        raise InvalidToken("audience", "The token's audience is not this server.")
    try:
        signing_key = _client(issuer).get_signing_key_from_jwt(token)
    except jwt.PyJWKClientConnectionError:
        raise InvalidToken(
            "jwks_failed", "The token's issuer could not be reached; try again later."
        ) from None
    except jwt.PyJWKClientError:
        raise InvalidToken("unknown_key", "The token was signed with an unknown key.") from None
    try:
        claims = jwt.decode(
            token,
            signing_key.key,
            algorithms=list(ALGORITHMS),
            audience=audience,
            issuer=unverified["iss"],
            leeway=conf.leeway(),
            options={"require": list(REQUIRED_CLAIMS)},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("expired", "The token has expired.") from None
    except jwt.ImmatureSignatureError:
        raise InvalidToken("not_yet_valid", "The token is not valid yet.") from None
    except jwt.InvalidAudienceError:
        raise InvalidToken("audience", "The token's audience is not this server.") from None
    except jwt.MissingRequiredClaimError as missing:
        raise InvalidToken(
            "missing_claim", f"The token lacks the required claim “{missing.claim}”."
        ) from None
    except jwt.InvalidSignatureError:
        raise InvalidToken("signature", "The token's signature is not valid.") from None
    except jwt.PyJWTError:
        raise InvalidToken("invalid", "The token is not valid.") from None
    if not isinstance(claims.get("jti"), str) or not claims["jti"]:
        raise InvalidToken("missing_claim", "The token lacks the required claim “jti”.")
    return VerifiedToken(provider=provider, issuer=issuer, claims=claims)
