"""The audit log as CSV, streamed: a million events never sit in memory at once."""

import csv
from collections.abc import Iterator
from datetime import datetime

from django.db.models import TextField
from django.db.models.functions import Cast
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers

# Spreadsheets run a cell that starts with one of these as a formula, and user agents
# and refused package IDs are whatever the client sent (OWASP: CSV injection).
_FORMULA_START = frozenset("=+-@\t\r")


def defuse(text: str) -> str:
    """``text``, with a quote in front if a spreadsheet would run it as a formula."""
    return "'" + text if text[:1] in _FORMULA_START else text


def _optional_text(text: str | None) -> str:
    return "" if text is None else defuse(text)


def _time(value: datetime) -> str:
    return value.isoformat()


# (header, what to read, how to write it), in file order. The headers are the field
# names and are not translated: scripts read them, and a header that changed with the
# language would break them. Whole numbers (and None, which csv writes empty) are
# written as they come; every text cell is defused. ``details`` is read as the
# database's JSON text, not decoded and encoded again.
COLUMNS = [
    ("id", "id", None),
    ("occurred_at", "occurred_at", _time),
    ("kind", "kind", defuse),
    ("actor_id", "actor_id", None),
    ("actor_username", "actor_username", defuse),
    ("subject_user_id", "subject_user_id", None),
    ("subject_username", "subject_user__username", _optional_text),
    ("api_key_id", "api_key_id", None),
    ("api_key_hint", "api_key_hint", defuse),
    ("package_id", "package_id", defuse),
    ("package_version", "package_version", defuse),
    ("ip", "ip", _optional_text),
    ("user_agent", "user_agent", defuse),
    ("details", "details_text", defuse),
]
# Rows fetched per round trip (a server-side cursor on PostgreSQL), and written per chunk.
CHUNK_SIZE = 2_000


class _Echo:
    """A file-like object whose ``write`` hands the line back instead of keeping it."""

    def write(self, value: str) -> str:
        return value


def csv_chunks(queryset) -> Iterator[str]:
    """The header, then the events of ``queryset`` in its order, a few thousand lines a chunk."""
    writer = csv.writer(_Echo())
    yield writer.writerow([header for header, _, _ in COLUMNS])
    writes = [write for _, _, write in COLUMNS]
    rows = (
        queryset.annotate(details_text=Cast("details", TextField()))
        .values_list(*(path for _, path, _ in COLUMNS))
        .iterator(chunk_size=CHUNK_SIZE)
    )
    lines = []
    for row in rows:
        lines.append(
            writer.writerow(
                [v if write is None else write(v) for write, v in zip(writes, row, strict=True)]
            )
        )
        if len(lines) == CHUNK_SIZE:
            yield "".join(lines)
            lines = []
    if lines:
        yield "".join(lines)


def events_csv_response(queryset) -> StreamingHttpResponse:
    """A download of ``queryset`` as CSV, written while it is sent."""
    response = StreamingHttpResponse(csv_chunks(queryset), content_type="text/csv; charset=utf-8")
    filename = f"events-{timezone.now():%Y%m%dT%H%M%SZ}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    # The audit log names users and addresses: no shared cache may keep a copy.
    add_never_cache_headers(response)
    return response
