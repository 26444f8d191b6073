"""Playwright fixtures: one Chromium per session, a fresh context for every test.

The browser is the system's Chromium (Debian: ``apt-get install -y chromium``),
never one Playwright downloads; ``CHROMIUM_PATH`` points at another binary.
Every page records its console and uncaught errors, and a test whose page
reports a Content-Security-Policy violation or a JavaScript error fails: the
policy forbids inline script and style, so a violation is a bug.
"""

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread, so Django would take
# every ORM call made by the test itself (make_user, reading mail) for one made
# from async code and refuse it with SynchronousOnlyOperation.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE.parents[1] / "test-artifacts"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# Short waits: every page is served from loopback, so a slow answer is a failure.
TIMEOUT_MS = 5_000
CSP_MARKERS = ("Content Security Policy", "Refused to")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.browser)


def _unavailable(reason, fix):
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: browser tests must run); {fix}", pytrace=False)
    pytest.skip(f"{reason}; {fix}")


def _chromium_path():
    configured = os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium"
    found = shutil.which(configured)
    return Path(found) if found else None


@pytest.fixture(scope="session")
def artifacts_dir():
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _unavailable(
            f"Playwright for Python is not importable ({exc})",
            "install it with: pip install -e '.[test]' (the browser: apt-get install -y chromium)",
        )
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright):
    executable = _chromium_path()
    if executable is None:
        wanted = os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium"
        _unavailable(
            f"Chromium not found at {wanted} (CHROMIUM_PATH names another)",
            "install it with: apt-get install -y chromium",
        )
    browser = playwright.chromium.launch(
        executable_path=str(executable), headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


@dataclass
class PageLog:
    """What a page said on its console and what it threw."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def csp_violations(self):
        return [m for m in self.console_errors if any(s in m for s in CSP_MARKERS)]

    def attach(self, page):
        def on_console(message):
            if message.type == "error":
                self.console_errors.append(message.text)

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))

    def problems(self):
        return [f"CSP: {m}" for m in self.csp_violations()] + [
            f"JavaScript error: {m}" for m in self.page_errors
        ]


@pytest.fixture
def new_page(browser, live_server):
    """Open pages in new contexts, e.g. ``new_page(java_script_enabled=False)``.

    Each page logs into ``page.log`` (a ``PageLog``); after the test, a CSP
    violation or an uncaught JavaScript error on any of them fails the test.
    """
    contexts = []
    logs = []

    def make(**context_options):
        context = browser.new_context(base_url=live_server.url, **context_options)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.log = PageLog()
        page.log.attach(page)
        logs.append(page.log)
        return page

    yield make
    for context in contexts:
        context.close()
    problems = [p for log in logs for p in log.problems()]
    if problems:
        pytest.fail("The browser reported:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture
def page(new_page):
    """A desktop-sized page in its own context, closed after the test."""
    return new_page(viewport={"width": 1280, "height": 800})
