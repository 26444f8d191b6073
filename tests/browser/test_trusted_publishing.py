"""Trusted Publishing in a real Chromium: add a GitHub policy through the page."""

import pytest

from tests.conftest import PASSWORD
from trustedpublishing.models import Policy

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - the browser fixture skips or fails first
    expect = None

PATH = "/account/trustedpublishing"


@pytest.fixture
def owner(make_user):
    return make_user("publisher")


def test_add_a_github_policy_from_the_user_menu(page, live_server, owner, artifacts_dir):
    page.goto(live_server.url + "/users/account/LogOn?returnUrl=%2Faccount%2Fapikeys")
    page.locator("input[name=login]").fill("publisher")
    page.locator("input[name=password]").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    expect(page).to_have_url(live_server.url + "/account/apikeys")
    # The user menu is collapsed once its script has run: open it, then follow the link.
    page.locator("[data-menu-button]").click()
    page.locator("#user-menu-list").get_by_role("link", name="Trusted Publishing").click()
    expect(page).to_have_url(live_server.url + PATH)
    expect(page.get_by_role("heading", level=1)).to_have_text("Trusted Publishing")

    # GitHub is chosen: only its fields show; choosing GitLab swaps them.
    github = page.locator("fieldset[data-provider=github]")
    gitlab = page.locator("fieldset[data-provider=gitlab]")
    expect(github).to_be_visible()
    expect(gitlab).to_be_hidden()
    page.get_by_label("GitLab CI/CD").check()
    expect(gitlab).to_be_visible()
    expect(github).to_be_hidden()
    page.get_by_label("GitHub Actions").check()

    page.get_by_label("Policy Name").fill("Release from GitHub")
    page.get_by_label("Repository Owner").fill("contoso")
    page.get_by_label("Repository", exact=True).fill("widgets")
    page.get_by_label("Workflow File").fill("release.yml")
    github.get_by_label("Environment").fill("release")
    page.locator("input[name=push]").check()
    page.locator("textarea[name=globs]").fill("Contoso.*")
    page.locator("details#create form").get_by_role("button", name="Add").click()

    expect(page.get_by_text("The policy “Release from GitHub” was added.")).to_be_visible()
    policy = page.locator("li[data-policy]")
    expect(policy).to_contain_text("contoso/widgets")
    expect(policy).to_contain_text("release.yml")
    expect(policy).to_contain_text("Waiting for its first use")
    page.screenshot(path=artifacts_dir / "trusted-publishing.png", full_page=True)

    saved = Policy.objects.get()
    assert (saved.provider, saved.subject_owner, saved.subject, saved.workflow) == (
        "github",
        "contoso",
        "widgets",
        "release.yml",
    )
    assert (saved.environment, saved.actions, saved.globs) == (
        "release",
        ["package:push"],
        ["Contoso.*"],
    )
