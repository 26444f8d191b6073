"""Plain-text answers whose reason phrase carries the message, and the key refusals
that the publish endpoint and the read resources share.

NuGet clients print the HTTP reason phrase, not the body, so every refusal
carries its message there.
"""

from django.http import HttpResponse

# Our translated messages use typographic quotes; a status line cannot.
_TYPOGRAPHY = str.maketrans(
    {"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'", "\u2026": "..."}
)


def ascii_line(text: str) -> str:
    """``text`` as one line of printable ASCII, as a status line or header value must be."""
    text = " ".join(text.split()).translate(_TYPOGRAPHY)
    return "".join(c if " " <= c <= "~" else "?" for c in text)


def answer(status: int, reason: str = "", **headers) -> HttpResponse:
    """A plain-text response; ``Retry_After="5"`` sets the header ``Retry-After``."""
    response = HttpResponse(status=status, content_type="text/plain; charset=utf-8")
    if reason:
        # The status line is Latin-1 and a single line; the message may quote the
        # request (an ID from the URL), so whatever it holds comes out printable.
        response.reason_phrase = ascii_line(reason)
        response.content = (response.reason_phrase + "\n").encode()
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def too_many_failures(retry_after: int) -> HttpResponse:
    """429 for an address over the failed-key limit (``feed.ratelimit``)."""
    return answer(429, "Too many failed API key attempts.", Retry_After=str(retry_after))


def quoted(text: str) -> str:
    """``text`` as an HTTP quoted-string (a realm), printable ASCII."""
    return '"' + ascii_line(text).replace("\\", "\\\\").replace('"', '\\"') + '"'
