"""Leaked keys: which of ours a list of values names, and revoking them as leaked.

Used by the admin's "Revoke leaked API keys" page (staff paste what they were
sent) and by the secret-scanning endpoint (GitHub posts what it found). Values
come in, hints go out: a ``LeakRow`` never holds the value, so a page, a log
line or an audit event built from rows cannot leak it again.
"""

import enum
import json
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.db import transaction
from django.views.decorators.debug import sensitive_variables

from apikeys import keys
from apikeys.models import ApiKey, RevocationSource
from apikeys.services import api_key_revoke

# At most this many digests in one ``IN (...)``: far below PostgreSQL's 65,535 bound
# parameters and SQLite's 32,766, so a batch of 1,000 values is one query even while
# a retired pepper doubles the digests.
LOOKUP_BATCH = 5000
# The longest leak URL kept; ApiKey.revocation_url holds 2,048 characters.
MAX_URL_LENGTH = 2048


class LeakStatus(enum.StrEnum):
    NOT_UNDERSTOOD = "not_understood"  # a JSON line that is not {"ApiKey": "..."}
    NOT_FOUND = "not_found"  # not a key of ours: malformed, or no such key
    FOUND = "found"


@dataclass(frozen=True)
class LeakRow:
    """One pasted line and what it turned out to be. Holds a hint, never the value."""

    line: int
    status: LeakStatus
    # The key's hint, or a masked form of a value that is not one of ours.
    shown: str = ""
    leak_url: str = ""
    api_key: ApiKey | None = None

    @property
    def can_revoke(self) -> bool:
        return self.api_key is not None and not self.api_key.is_revoked


def clean_leak_url(raw: object) -> str:
    """``raw`` if it is an absolute http(s) URL short enough to keep, else "".

    The URL ends up as a link in the admin and in the owner's email: anything but
    http(s) (``javascript:``, ``file:``) is dropped rather than passed on.
    """
    if not isinstance(raw, str):
        return ""
    url = raw.strip()
    if not url or len(url) > MAX_URL_LENGTH or any(c.isspace() for c in url):
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return ""
    return url


@sensitive_variables()
def mask(value: str) -> str:
    """What a page may show of ``value``: a key's hint, or at most its last four
    characters when it is long enough that they give nothing away."""
    if keys.parse(value) is not None:
        return keys.hint(value)
    return f"…{value[-4:]}" if len(value) >= 16 else "…"


@sensitive_variables()
def keys_for_values(values: list[str]) -> dict[int, ApiKey]:
    """The keys ``values`` name, by index in ``values``; unknown values are absent.

    Junk never reaches the database (``keys.parse`` drops it), and the digests of
    every value, under every accepted pepper, go into one query (one per
    ``LOOKUP_BATCH`` digests). A value given twice maps to the same instance, so
    revoking it once shows on both.
    """
    by_digest: dict[str, list[int]] = {}
    for index, value in enumerate(values):
        parsed = keys.parse(value)
        if parsed is None:
            continue
        for candidate in keys.digests(parsed.value):
            by_digest.setdefault(candidate, []).append(index)
    digests = list(by_digest)
    found: dict[int, ApiKey] = {}
    for start in range(0, len(digests), LOOKUP_BATCH):
        batch = digests[start : start + LOOKUP_BATCH]
        for api_key in ApiKey.objects.filter(digest__in=batch).select_related("owner"):
            for index in by_digest[api_key.digest]:
                found.setdefault(index, api_key)
    return found


@sensitive_variables()
def _parse_lines(text: str) -> list[tuple[int, str | None, str]]:
    """(line number, value or None when not understood, leak URL) per non-blank line.

    A line is either a bare value or a JSON object as nuget.org's page takes it:
    ``{"ApiKey": "...", "LeakedUrl": "..."}``.
    """
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("{"):
            entries.append((number, stripped, ""))
            continue
        try:
            data = json.loads(stripped)
        except ValueError:
            data = None
        value = data.get("ApiKey") if isinstance(data, dict) else None
        if not isinstance(value, str) or not value.strip():
            entries.append((number, None, ""))
            continue
        entries.append((number, value.strip(), clean_leak_url(data.get("LeakedUrl"))))
    return entries


@sensitive_variables()
def count_values(text: str) -> int:
    """How many values ``text`` holds: its non-blank lines."""
    return sum(1 for line in text.splitlines() if line.strip())


@sensitive_variables()
def find_leaked(text: str) -> list[LeakRow]:
    """A row per non-blank line of ``text``, in order, with the key it names if any."""
    entries = _parse_lines(text)
    values = [value for _, value, _ in entries if value is not None]
    found = keys_for_values(values)
    rows = []
    value_index = 0
    for line, value, leak_url in entries:
        if value is None:
            rows.append(LeakRow(line, LeakStatus.NOT_UNDERSTOOD))
            continue
        api_key = found.get(value_index)
        value_index += 1
        if api_key is None:
            rows.append(LeakRow(line, LeakStatus.NOT_FOUND, mask(value), leak_url))
        else:
            rows.append(LeakRow(line, LeakStatus.FOUND, api_key.hint, leak_url, api_key))
    return rows


@transaction.atomic
def revoke_leaked(
    *, rows: list[LeakRow], source: str = RevocationSource.LEAK, actor, request=None
) -> list[ApiKey]:
    """Revoke every key the rows name as leaked, with its leak URL; returns the keys
    that were not revoked yet.

    Each revocation is audited and emailed by ``api_key_revoke``, which also makes a
    key named twice (or revoked meanwhile by someone else) a no-op: the first
    revocation's record and leak URL are the ones kept.
    """
    revoked = []
    seen: set[int] = set()
    for row in rows:
        api_key = row.api_key
        if api_key is None or api_key.pk in seen or api_key.is_revoked:
            continue
        seen.add(api_key.pk)
        api_key_revoke(
            api_key=api_key, actor=actor, request=request, source=source, leak_url=row.leak_url
        )
        revoked.append(api_key)
    return revoked
