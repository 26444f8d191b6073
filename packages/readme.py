"""A package's readme as HTML that is safe to put in our pages.

The readme is Markdown written by whoever pushed the package, so nothing in it is
trusted. markdown-it-py renders it (CommonMark, plus GitHub's tables and
strikethrough; raw HTML is kept because readmes use it for badges and layout), then
nh3 (the Rust ammonia sanitizer) keeps only an allow-list of tags and attributes:
no script, style, SVG, forms or frames, no event handlers, no ``style``, no URL
scheme but http, https and mailto, links marked ``rel="nofollow noopener"``, and
images only from https URLs or our own origin. The sanitizer runs last, on
everything the renderer made, so a trick that fools the Markdown parser still
meets the allow-list.
"""

import hashlib
from functools import lru_cache
from urllib.parse import urlsplit

import nh3
from django.conf import settings
from django.core.cache import cache
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

# Larger readmes are not shown on the page: rendering costs about half a millisecond
# per KB (markdown-it-py; nh3 adds a tenth of that) the first time a version's readme
# is viewed, and the untrusted input should not set what a page view costs.
MAX_README_BYTES = 256 * 1024
# A version's readme never changes once pushed, so its HTML is rendered once and kept
# in the cache (Redis or the database) under the package file's digest. The version
# number changes when rendering or the allow-list does, so no stale HTML outlives it.
CACHE_VERSION = 1
CACHE_SECONDS = 30 * 24 * 3600
LINK_REL = "nofollow noopener"
_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "details", "div",
    "dl", "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd",
    "li", "ol", "p", "pre", "q", "s", "samp", "small", "span", "strike", "strong", "sub",
    "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "u", "ul",
}  # fmt: skip
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height", "align"},
    "ol": {"start"},
    "td": {"align", "colspan", "rowspan"},
    "th": {"align", "colspan", "rowspan", "scope"},
    "div": {"align"},
    "p": {"align"},
    "h1": {"align"},
    "h2": {"align"},
    "h3": {"align"},
}
_URL_SCHEMES = {"http", "https", "mailto"}


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def _site_origin() -> tuple[str, str] | None:
    site = urlsplit(settings.SITE_URL or "")
    return (site.scheme.lower(), site.netloc.lower()) if site.netloc else None


def image_source_allowed(src: str) -> bool:
    """An image may come from an https URL or from our own origin (a path on this site,
    or ``SITE_URL``'s origin); never http, data:, another scheme or a protocol-relative
    URL, which would follow the page's scheme."""
    value = src.strip()
    # Browsers read "\" as "/", so "/\evil.example" is another host.
    if "\\" in value or any(ord(c) < 0x20 for c in value):
        return False
    parts = urlsplit(value)
    if parts.scheme:
        if parts.scheme.lower() == "https" and parts.netloc:
            return True
        return (parts.scheme.lower(), parts.netloc.lower()) == _site_origin()
    return not parts.netloc and not value.startswith("//")


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    if tag == "img" and attribute == "src":
        return value if image_source_allowed(value) else None
    return value


def sanitize(html: str) -> SafeString:
    """``html`` reduced to the allow-list; the result may go into a page as it is."""
    cleaned = nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        attribute_filter=_attribute_filter,
        url_schemes=_URL_SCHEMES,
        link_rel=LINK_REL,
        strip_comments=True,
    )
    return mark_safe(cleaned)  # noqa: S308 (sanitized just above)


def render(markdown_text: str) -> SafeString:
    """The readme ``markdown_text`` as sanitized HTML."""
    return sanitize(_markdown().render(markdown_text))


def render_bytes(data: bytes, *, markdown: bool = True) -> SafeString:
    """A readme file's bytes (UTF-8, a BOM allowed) as sanitized HTML; a ``.txt`` readme
    (``markdown=False``) is shown as preformatted text."""
    text = data.decode("utf-8-sig", errors="replace")
    if not markdown:
        return mark_safe(f"<pre>{escape(text)}</pre>")  # noqa: S308 (escaped)
    return render(text)


class Readme:
    """What the package page shows for a version's readme."""

    def __init__(self, html: SafeString | None = None, *, too_large: bool = False):
        self.html = html
        self.too_large = too_large


def version_readme(version) -> Readme | None:
    """The readme of ``version`` (a PackageVersion) rendered, from the cache when it was
    rendered before; ``None`` when the version has no readme or it cannot be read."""
    from packages import contents

    if not version.readme_path or not version.file_name:
        return None
    digest = hashlib.sha256(f"{version.sha512}\0{version.readme_path}".encode()).hexdigest()
    key = f"packages:readme:{CACHE_VERSION}:{digest}"
    cached = cache.get(key)
    if cached is not None:
        return Readme(mark_safe(cached)) if cached else Readme(too_large=True)  # noqa: S308
    try:
        data = contents.read_member(version.file_name, version.readme_path, limit=MAX_README_BYTES)
    except contents.TooLarge:
        return _remember(key, "")
    if data is None:
        return None
    markdown = contents.extension(version.readme_path) != ".txt"
    return _remember(key, str(render_bytes(data, markdown=markdown)))


def _remember(key: str, html: str) -> Readme:
    cache.set(key, html, CACHE_SECONDS)
    return Readme(mark_safe(html)) if html else Readme(too_large=True)  # noqa: S308
