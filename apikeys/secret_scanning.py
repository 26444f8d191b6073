"""GitHub secret scanning: GitHub posts the keys it found in public places, we
revoke the live ones and tell GitHub which were ours.

The protocol is GitHub's secret scanning partner program:

- ``POST /api/secret-scanning/github`` with a JSON array of
  ``{"token", "type", "url", "source"}`` objects, one per match;
- signed: ``Github-Public-Key-Signature`` is a base64 ASN.1/DER ECDSA P-256 SHA-256
  signature of the raw body, made with the key that ``Github-Public-Key-Identifier``
  names among the keys GitHub publishes at
  https://api.github.com/meta/public_keys/secret_scanning;
- answered with feedback, one object per match:
  ``{"token_hash": sha256 hex, "token_type": type, "label": "true_positive" | "false_positive"}``.

The portal has no internet access, so the operator installs GitHub's keys file and
points ``SECRET_SCANNING_GITHUB_KEYS_FILE`` at it; the file is read when used and
read again whenever it changes.

A token is a true positive when it is one of our keys, whatever its state: an
expired or already revoked key still leaked, and the label measures whether the
pattern found a real key, not whether the key still works. Only live keys are
revoked (with source "github" and the URL where the key was found); their owners
are emailed. Revoking is idempotent, so a replayed or repeated batch revokes
nothing more, emails nobody and gets the same answer; it is still recorded as a
report, since the audit log records every request that was let in.
"""

import base64
import binascii
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.db import transaction
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_POST

from apikeys import leaks
from apikeys.models import RevocationSource
from audit.events import client_ip, record
from audit.models import EventKind
from audit.ratelimit import Limiter

logger = logging.getLogger(__name__)

# GitHub sends batches of matches; 5 MB holds tens of thousands of them.
DEFAULT_MAX_BODY_SIZE = 5 * 1024 * 1024
# GitHub's own requests are not refused; whoever is, is refused this often per
# address and window before getting 429s (and only the first of those is audited).
DEFAULT_REFUSAL_LIMIT = 10
DEFAULT_REFUSAL_WINDOW = 60
KEY_ID_HEADER = "Github-Public-Key-Identifier"
SIGNATURE_HEADER = "Github-Public-Key-Signature"
TRUE_POSITIVE = "true_positive"
FALSE_POSITIVE = "false_positive"
# Audit details keep only this much of what the caller sent (identifiers, not tokens).
_DETAIL_MAX = 128


class Refusal(Exception):
    """A request we will not act on: ``reason`` goes to the audit log, ``status``
    and a generic error code to the caller."""

    def __init__(self, reason: str, status: int, error: str):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.error = error


def _signature_refusal(reason: str) -> Refusal:
    # One answer for every signature problem: which check failed is the audit
    # log's business, not the caller's.
    return Refusal(reason, 401, "invalid_signature")


def _unavailable(reason: str) -> Refusal:
    # The operator's problem, not GitHub's: 503 makes GitHub retry later.
    return Refusal(reason, 503, "unavailable")


@dataclass(frozen=True)
class Match:
    """One match GitHub reported."""

    token: str = field(repr=False)
    type: str
    url: str
    source: str


# --- Settings ----------------------------------------------------------------


def keys_file() -> str:
    return getattr(settings, "SECRET_SCANNING_GITHUB_KEYS_FILE", "") or ""


def max_body_size() -> int:
    return getattr(settings, "SECRET_SCANNING_MAX_BODY_SIZE", DEFAULT_MAX_BODY_SIZE)


def refusal_limiter() -> Limiter:
    return Limiter(
        "secret-scanning:refusals",
        getattr(settings, "SECRET_SCANNING_REFUSAL_LIMIT", DEFAULT_REFUSAL_LIMIT),
        getattr(settings, "SECRET_SCANNING_REFUSAL_WINDOW", DEFAULT_REFUSAL_WINDOW),
    )


# --- GitHub's public keys ----------------------------------------------------

# path -> ((mtime_ns, size, inode), {key_identifier: public key})
_loaded: dict[str, tuple[tuple[int, int, int], dict[str, ec.EllipticCurvePublicKey]]] = {}


def parse_keys_file(data: object) -> dict[str, ec.EllipticCurvePublicKey]:
    """The usable P-256 keys of a file in GitHub's format, by key identifier.

    Every listed key is accepted, current or not: GitHub keeps signing with a key
    for a while after it stops being current.
    """
    entries = data.get("public_keys") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        return {}
    found = {}
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        identifier, pem = entry.get("key_identifier"), entry.get("key")
        if not isinstance(identifier, str) or not identifier or not isinstance(pem, str):
            continue
        try:
            public_key = serialization.load_pem_public_key(pem.encode("ascii"))
        except (ValueError, UnicodeEncodeError, TypeError):
            logger.warning("secret scanning keys file: key %s is not a PEM public key", identifier)
            continue
        if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
            public_key.curve, ec.SECP256R1
        ):
            logger.warning(
                "secret scanning keys file: key %s is not an ECDSA P-256 key", identifier
            )
            continue
        found[identifier] = public_key
    return found


def public_keys() -> dict[str, ec.EllipticCurvePublicKey]:
    """GitHub's keys from the configured file, read again when the file changes."""
    path = keys_file()
    if not path:
        raise _unavailable("keys_not_configured")
    try:
        stat = os.stat(path)
    except OSError:
        logger.error("SECRET_SCANNING_GITHUB_KEYS_FILE %s cannot be read", path)
        raise _unavailable("keys_file_unreadable") from None
    stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
    cached = _loaded.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read())
    except (OSError, ValueError):
        logger.error("SECRET_SCANNING_GITHUB_KEYS_FILE %s is not a JSON file", path)
        raise _unavailable("keys_file_invalid") from None
    found = parse_keys_file(data)
    if not found:
        logger.error("SECRET_SCANNING_GITHUB_KEYS_FILE %s holds no usable key", path)
        raise _unavailable("keys_file_invalid")
    _loaded[path] = (stamp, found)
    return found


@sensitive_variables()
def verify(body: bytes, key_identifier: str, signature: str) -> None:
    """Return if ``signature`` is GitHub's signature of ``body``; raise Refusal if not."""
    if not key_identifier or not signature:
        raise _signature_refusal("missing_signature")
    public_key = public_keys().get(key_identifier)
    if public_key is None:
        raise _signature_refusal("unknown_key_identifier")
    try:
        der = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise _signature_refusal("bad_signature") from None
    try:
        public_key.verify(der, body, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise _signature_refusal("bad_signature") from None


# --- The report ----------------------------------------------------------------


@sensitive_variables()
def parse_report(body: bytes) -> list[Match]:
    """The matches in ``body``; Refusal (400) unless it is a JSON array of objects
    each with a string ``token`` (``type``, ``url`` and ``source``, when present,
    strings too)."""
    malformed = Refusal("malformed", 400, "malformed")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        # RecursionError: arrays nested thousands deep ("[[[[..."), which no
        # report of GitHub's is.
        raise malformed from None
    if not isinstance(data, list):
        raise malformed
    matches = []
    for item in data:
        if not isinstance(item, dict):
            raise malformed
        token = item.get("token")
        others = [item.get(name, "") for name in ("type", "url", "source")]
        if not isinstance(token, str) or not all(isinstance(v, str) for v in others):
            raise malformed
        matches.append(Match(token, *others))
    return matches


@sensitive_variables()
def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@sensitive_variables()
@transaction.atomic
def handle_report(matches: list[Match], *, key_identifier: str, request=None) -> list[dict]:
    """Revoke the live keys among ``matches``; return GitHub's feedback array.

    One lookup for every token (see ``leaks.keys_for_values``), then one revocation
    per live key found, then one report event: the query count grows with the
    number of live keys of ours in the batch, not with the size of the batch.
    """
    ours = leaks.keys_for_values([match.token for match in matches])
    now = timezone.now()
    live = [
        leaks.LeakRow(
            line=index,
            status=leaks.LeakStatus.FOUND,
            shown=api_key.hint,
            leak_url=leaks.clean_leak_url(matches[index].url),
            api_key=api_key,
        )
        for index, api_key in ours.items()
        if api_key.is_active(now)
    ]
    revoked = leaks.revoke_leaked(
        rows=live, source=RevocationSource.GITHUB, actor=None, request=request
    )
    record(
        EventKind.SECRET_SCANNING_REPORT,
        request=request,
        details={
            "key_identifier": key_identifier[:_DETAIL_MAX],
            "matches": len(matches),
            "true_positives": len(ours),
            "false_positives": len(matches) - len(ours),
            "revoked": len(revoked),
        },
    )
    return [
        {
            "token_hash": token_hash(match.token),
            "token_type": match.type,
            "label": TRUE_POSITIVE if index in ours else FALSE_POSITIVE,
        }
        for index, match in enumerate(matches)
    ]


def _refuse(request, refusal: Refusal, key_identifier: str = "") -> HttpResponse:
    """Answer a refusal and audit it, or, from an address over the refusal limit,
    answer 429 and audit only the first such refusal of the window: every
    refusal writing a row would let anyone fill the audit log."""
    details = {"reason": refusal.reason}
    if key_identifier:
        details["key_identifier"] = key_identifier[:_DETAIL_MAX]
    ip = client_ip(request)
    limiter = refusal_limiter()
    wait = limiter.hit(ip)
    if wait:
        if limiter.first_over_limit(ip):
            record(
                EventKind.SECRET_SCANNING_REFUSED,
                request=request,
                details={**details, "rate_limited": True},
            )
        response = JsonResponse({"error": "too_many_requests"}, status=429)
        response["Retry-After"] = str(wait)
        return response
    record(EventKind.SECRET_SCANNING_REFUSED, request=request, details=details)
    logger.warning("secret scanning report refused: %s", refusal.reason)
    return JsonResponse({"error": refusal.error}, status=refusal.status)


@sensitive_variables()
def _read_body(request) -> bytes:
    """The raw body, at most ``max_body_size()`` bytes; Refusal (413) beyond.

    Read from the stream rather than ``request.body``, which stops at Django's
    DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) with a 400.
    """
    limit = max_body_size()
    try:
        declared = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        raise Refusal("malformed", 400, "malformed") from None
    too_large = Refusal("too_large", 413, "too_large")
    if declared > limit:
        raise too_large
    body = request.read(limit + 1)
    if len(body) > limit:
        raise too_large
    return body


@csrf_exempt
@never_cache
@require_POST
@sensitive_variables()
def github_report(request):
    key_identifier = request.headers.get(KEY_ID_HEADER, "")
    try:
        body = _read_body(request)
        verify(body, key_identifier, request.headers.get(SIGNATURE_HEADER, ""))
        matches = parse_report(body)
    except Refusal as refusal:
        return _refuse(request, refusal, key_identifier)
    feedback = handle_report(matches, key_identifier=key_identifier, request=request)
    return JsonResponse(feedback, safe=False)
