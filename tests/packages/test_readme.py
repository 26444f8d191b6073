"""The readme renderer and sanitizer against hostile Markdown and HTML."""

from html.parser import HTMLParser

import pytest

from packages import readme


def rendered(text: str) -> str:
    return str(readme.render(text))


class _Elements(HTMLParser):
    """Every element, attribute and comment of a fragment, as a browser would see them."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.attributes, self.comments = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes += [(tag, name, value or "") for name, value in attrs]

    handle_startendtag = handle_starttag

    def handle_comment(self, data):
        self.comments.append(data)


FORBIDDEN_TAGS = {"script", "svg", "math", "iframe", "object", "embed", "style", "form",
                  "input", "meta", "base", "link", "body"}  # fmt: skip


def assert_inert(html: str) -> None:
    """No active content: whatever text is left is only text."""
    found = _Elements()
    found.feed(html)
    found.close()
    assert not FORBIDDEN_TAGS & set(found.tags), html
    assert not found.comments, html
    for tag, name, value in found.attributes:
        assert not name.startswith("on") and name != "style", html
        if name in ("href", "src", "action", "xlink:href"):
            squeezed = "".join(c for c in value if c > " ").lower()
            assert not squeezed.startswith(("javascript:", "vbscript:", "data:")), html
            if tag == "img":
                assert squeezed.startswith("https://") or not squeezed.startswith("http"), html


HOSTILE = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    '<img src="https://ok.example/a.png" onload="alert(1)">',
    '<a href="#" onclick="alert(1)">click</a>',
    "<body onload=alert(1)>",
    '<div onmouseover="alert(1)">hover</div>',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](  javascript:alert(1)  )",
    "[click](<javascript:alert(1)>)",
    "[click](java&#x09;script:alert(1))",
    "[click](&#106;avascript:alert(1))",
    "[ref]\n\n[ref]: javascript:alert(1)",
    "<javascript:alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    '<a href="java\tscript:alert(1)">x</a>',
    '<a href="vbscript:msgbox(1)">x</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    '<img src="data:image/png;base64,iVBORw0KGgo=">',
    "<svg><script>alert(1)</script></svg>",
    '<svg onload="alert(1)"><circle r="4"/></svg>',
    '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
    "<!-- <script>alert(1)</script> -->",
    "<!--><img src=x onerror=alert(1)>-->",
    '<iframe src="https://evil.example"></iframe>',
    '<object data="https://evil.example/x.swf"></object>',
    "<style>body { display: none }</style>",
    '<p style="background:url(javascript:alert(1))">x</p>',
    "<form action=https://evil.example><input name=q></form>",
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="javascript:alert(1)//">',
    "```html\n<script>alert(1)</script>\n```",
    "<scr<script>ipt>alert(1)</script>",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_readmes_come_out_inert(text):
    assert_inert(rendered(text))


def test_code_blocks_keep_their_text_escaped():
    html = rendered("```html\n<script>alert(1)</script>\n```")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_markdown_renders():
    html = rendered("# Title\n\n*a* **b** `c`\n\n| x | y |\n|---|---|\n| 1 | 2 |\n\n~~old~~")
    assert "<h1>Title</h1>" in html
    assert "<em>a</em> <strong>b</strong> <code>c</code>" in html
    assert "<table>" in html and "<td>1</td>" in html
    assert "<s>old</s>" in html


def test_links_are_nofollow_noopener():
    html = rendered(
        "[docs](https://docs.example.com) <a href='http://x.example' rel='opener'>x</a>"
    )
    assert '<a href="https://docs.example.com" rel="nofollow noopener">docs</a>' in html
    assert '<a href="http://x.example" rel="nofollow noopener">x</a>' in html


@pytest.mark.parametrize(
    ("src", "kept"),
    [
        ("https://img.shields.io/badge/x-y-green.svg", True),
        ("/static/packages/default-icon.svg", True),
        ("images/logo.png", True),
        ("http://insecure.example/a.png", False),
        ("//evil.example/a.png", False),
        ("/\\evil.example/a.png", False),
        ("data:image/png;base64,AAAA", False),
        ("javascript:alert(1)", False),
        ("ftp://files.example/a.png", False),
    ],
)
def test_images_only_from_https_or_our_own_origin(src, kept):
    html = rendered(f'<img src="{src}" alt="a"> ![b]({src})')
    assert (f'src="{src}"' in html) is kept, html


def test_images_from_site_url_over_http(settings):
    settings.SITE_URL = "http://nuget.internal:8000"
    html = rendered("![a](http://nuget.internal:8000/a.png) ![b](http://other.internal/b.png)")
    assert 'src="http://nuget.internal:8000/a.png"' in html
    assert "other.internal" not in html


def test_a_text_readme_is_preformatted_and_escaped():
    html = str(readme.render_bytes(b"\xef\xbb\xbf<b>bold</b>\n# not a heading", markdown=False))
    assert html == "<pre>&lt;b&gt;bold&lt;/b&gt;\n# not a heading</pre>"


def test_invalid_utf8_does_not_fail():
    assert "caf" in str(readme.render_bytes(b"caf\xe9"))
