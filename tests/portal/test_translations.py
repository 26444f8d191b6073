"""The Italian catalog is complete and current, and templates mark every visible string.

None of this needs GNU gettext: the catalog is read with Babel, templates are
turned into gettext calls by Django's own ``templatize`` (what makemessages
feeds xgettext) and those, like the Python sources, are read by Babel's Python
extractor with makemessages' keywords. So the check runs, and cannot be
skipped, on a machine without xgettext.
"""

import io
import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract
from babel.messages.pofile import read_po
from django.template.base import Lexer, TokenType
from django.utils.translation.template import templatize

ROOT = Path(__file__).resolve().parents[2]
PO_FILE = ROOT / "locale" / "it" / "LC_MESSAGES" / "django.po"

# The folders makemessages is run without (README: --ignore=...), and what is not source.
NOT_SCANNED = {
    ".venv",
    "venv",
    "var",
    "tests",
    "benchmarks",
    "fuzz",
    "test-artifacts",
    "locale",
    "static",
    "build",
    "dist",
    "node_modules",
}
TEMPLATE_SUFFIXES = {".html", ".txt"}

# makemessages' keywords for the django domain, on top of xgettext's defaults.
KEYWORDS = {
    **DEFAULT_KEYWORDS,
    "gettext_noop": None,
    "gettext_lazy": None,
    "ngettext_lazy": (1, 2),
    "pgettext": ((1, "c"), 2),
    "pgettext_lazy": ((1, "c"), 2),
    "npgettext": ((1, "c"), 2, 3),
    "npgettext_lazy": ((1, "c"), 2, 3),
}

PLACEHOLDER = re.compile(r"%\(\w+\)[sdfi]|%[sdfi]")


def _catalog():
    with PO_FILE.open("rb") as po:
        return read_po(po, locale="it", domain="django")


def _source_files():
    for path in sorted(ROOT.rglob("*")):
        relative = path.relative_to(ROOT)
        if any(part in NOT_SCANNED or part.startswith(".") for part in relative.parts[:-1]):
            continue
        if path.is_file() and (path.suffix == ".py" or path.suffix in TEMPLATE_SUFFIXES):
            yield path


def _extracted():
    """{(context, msgid): "file:line"} for every string the sources mark."""
    found = {}
    for path in _source_files():
        text = path.read_text(encoding="utf-8")
        if path.suffix in TEMPLATE_SUFFIXES:
            if "{%" not in text:
                continue
            text = templatize(text, origin=str(path))
        messages = extract("python", io.BytesIO(text.encode("utf-8")), keywords=KEYWORDS)
        for lineno, message, _comments, context in messages:
            msgid = message if isinstance(message, str) else tuple(message)
            key = msgid[0] if isinstance(msgid, tuple) else msgid
            if key:
                found.setdefault((context, key), f"{path.relative_to(ROOT)}:{lineno}")
    return found


def test_the_catalog_is_for_italian_with_two_plural_forms():
    catalog = _catalog()
    assert str(catalog.locale) == "it"
    assert catalog.num_plurals == 2
    assert not catalog.fuzzy, "the header is still marked fuzzy"


def test_every_message_has_an_italian_translation():
    problems = []
    for message in _catalog():
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy:
            problems.append(f"fuzzy: {message.id!r}")
        elif not all(strings):
            problems.append(f"untranslated: {message.id!r}")
    assert not problems, "\n".join(problems)


def test_translations_keep_the_placeholders():
    problems = []
    for message in _catalog():
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = set(PLACEHOLDER.findall(ids[-1]))
        for string in strings:
            # A singular form may say "one" instead of its number (English does too).
            got = set(PLACEHOLDER.findall(string))
            if got - wanted or (len(strings) == 1 and got != wanted):
                problems.append(f"{message.id!r}: {string!r}")
    assert not problems, "\n".join(problems)


def test_the_catalog_holds_every_marked_string():
    in_catalog = {
        (message.context, message.id if isinstance(message.id, str) else message.id[0])
        for message in _catalog()
        if message.id
    }
    missing = {key: where for key, where in _extracted().items() if key not in in_catalog}
    assert not missing, (
        "Strings marked for translation but missing from locale/it/LC_MESSAGES/django.po; run "
        "manage.py makemessages -l it (README) and translate them:\n"
        + "\n".join(f"{where}: {msgid!r}" for (_ctx, msgid), where in sorted(missing.items()))
    )


def test_the_extractor_finds_template_and_python_strings():
    # Guards the check above against finding nothing and so passing.
    extracted = _extracted()
    assert (None, "Skip to content") in extracted  # templates/base.html, {% translate %}
    assert (None, "%(name)s, a self-hosted NuGet gallery.") in extracted  # blocktranslate
    assert (None, "The key name is required.") in extracted  # apikeys/forms.py
    assert (None, "Expires in %(days)s day") in extracted  # a plural


# --- Templates: no visible text outside {% translate %} -------------------------

TEMPLATES_DIR = ROOT / "templates"

# Text that is the same in every language: brand and product names, code and
# command samples, symbols. Each is allowed wherever it appears.
ALLOWED_TEXT = {
    "NuGet",
    "UTC",  # a time zone's name, after a date in emails
    "nuget push",
    "dotnet nuget push",
    # The push command sample on the home and Manage Packages pages, around its URL.
    "dotnet nuget push MyPackage.1.0.0.nupkg --source",
    "/v3/index.json --api-key YOUR_KEY",
    "--api-key YOUR_KEY",
}
# {% block NAME %} whose content is not text: the admin's <body> class names.
NOT_TEXT_BLOCKS = {"bodyclass"}
# Attributes a user sees or hears; their values must be translated too.
VISIBLE_ATTRIBUTES = ("title", "aria-label", "placeholder", "alt", "aria-description")

_TRANSLATE_BLOCKS = {"blocktranslate": "endblocktranslate", "blocktrans": "endblocktrans"}
_SKIPPED_BLOCKS = {"comment": "endcomment", "verbatim": "endverbatim"}
_SLOT = "\x00"
_ATTRIBUTE = re.compile(
    r"""\s(""" + "|".join(VISIBLE_ATTRIBUTES) + r""")\s*=\s*(?:"([^"]*)"|'([^']*)')"""
)  # where a {{ variable }} or {% tag %} stood


def _visible_skeleton(source: str) -> str:
    """The template's literal text, with every tag, variable and translation as a slot."""
    parts = []
    closing = None
    for token in Lexer(source).tokenize():
        if closing is not None:
            if token.token_type == TokenType.BLOCK and token.split_contents()[0] == closing:
                closing = None
            continue
        if token.token_type == TokenType.TEXT:
            parts.append(token.contents)
        elif token.token_type in (TokenType.VAR, TokenType.BLOCK):
            if token.token_type == TokenType.BLOCK:
                name = token.split_contents()[0]
                closing = _TRANSLATE_BLOCKS.get(name) or _SKIPPED_BLOCKS.get(name)
                if name == "block" and token.split_contents()[1] in NOT_TEXT_BLOCKS:
                    closing = "endblock"
            parts.append(_SLOT)
    return "".join(parts)


def _unmarked(source: str, *, html: bool) -> list[str]:
    text = _visible_skeleton(source)
    found = []
    if html:
        text = re.sub(r"<!--.*?-->", " ", text, flags=re.S)
        text = re.sub(r"<(script|style)\b.*?</\1>", " ", text, flags=re.S | re.I)
        for tag in re.findall(r"<[^>]*>", text):
            for name, double, single in _ATTRIBUTE.findall(tag):
                found.extend(f'{name}="{run}"' for run in _letter_runs(double or single))
        text = re.sub(r"<[^>]*>", _SLOT, text)
        text = re.sub(r"&[#\w]+;", " ", text)
    return found + _letter_runs(text)


def _letter_runs(text: str) -> list[str]:
    runs = []
    for run in text.split(_SLOT):
        run = " ".join(run.split())
        if re.search(r"[^\W\d_]", run) and run not in ALLOWED_TEXT:
            runs.append(run)
    return runs


def _templates():
    return sorted(p for p in TEMPLATES_DIR.rglob("*") if p.suffix in TEMPLATE_SUFFIXES)


@pytest.mark.parametrize("path", _templates(), ids=lambda p: str(p.relative_to(TEMPLATES_DIR)))
def test_templates_mark_every_visible_string(path):
    unmarked = _unmarked(path.read_text(encoding="utf-8"), html=path.suffix == ".html")
    assert not unmarked, (
        f"{path.relative_to(ROOT)} shows text outside {{% translate %}}: {unmarked!r}"
    )


@pytest.mark.parametrize(
    "source, unmarked",
    [
        ("<p>Hello</p>", ["Hello"]),
        ('<p>{% translate "Hello" %}</p>', []),
        ("{% blocktranslate %}Hi {{ x }}{% endblocktranslate %}", []),
        ('<button title="Close">{% translate "x" %}</button>', ['title="Close"']),
        ('<button aria-label="{% translate "Close" %}">x</button>', ["x"]),
        ('<option value="a"{% if b %} selected{% endif %}>{{ a }}</option>', []),
        ("<!-- a comment --><code>nuget push</code>", []),
        ("{% comment %}Not shown{% endcomment %}", []),
        ("<p>{{ name }}: 3 &middot; 4</p>", []),
    ],
)
def test_the_unmarked_text_finder(source, unmarked):
    assert _unmarked(source, html=True) == unmarked
