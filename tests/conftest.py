"""Shared fixtures: users in every state, and guards that keep CI honest."""

import os

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core.cache import cache

from accounts.models import Membership
from accounts.services import organization_create
from apikeys.scopes import Action
from apikeys.services import api_key_create
from packages import downloads
from packages.models import Package

PASSWORD = "correct horse battery staple"

_skipped: list[str] = []


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Rate limits live in the cache; one test's attempts must not count in the next.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _no_download_counts_carried_over():
    # Counts a test gathered in memory belong to its rolled-back rows.
    downloads.discard()
    yield
    downloads.discard()


@pytest.fixture
def make_user(db):
    """Create a user who signs in with ``PASSWORD``; ``confirmed`` sets their email's state."""
    counter = iter(range(1, 10_000))

    def make(username=None, *, email=None, confirmed=True, password=PASSWORD, **extra):
        n = next(counter)
        username = username or f"user{n}"
        email = email or f"{username.lower()}@example.com"
        user = get_user_model().objects.create_user(
            username=username, email=email, password=password, **extra
        )
        EmailAddress.objects.create(user=user, email=email, primary=True, verified=confirmed)
        return user

    return make


@pytest.fixture
def user(make_user):
    return make_user("alice")


@pytest.fixture
def signed_in_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def make_organization(db):
    """Create the organization ``name`` through ``organization_create``, ``admin`` its
    first administrator; ``members`` maps further users to roles ("admin" or
    "collaborator"), added directly (no invitation). Returns the Organization."""

    def make(name, admin, members=None, *, email=None):
        organization = organization_create(
            name=name, email=email or f"{name.lower()}@example.com", actor=admin
        )
        for member, role in (members or {}).items():
            Membership.objects.create(organization=organization, user=member, role=role)
        return organization

    return make


@pytest.fixture
def make_package(db):
    """Create the package ``name`` owned by ``owners``."""

    def make(name, *owners):
        package = Package.objects.create(name=name)
        package.owners.add(*owners)
        return package

    return make


@pytest.fixture
def make_key(db):
    """Create a key through ``api_key_create``; returns ``(api_key, plaintext)``.

    Defaults: a push key for every ID ("*") that lasts 365 days. Passing
    ``package_ids`` without ``globs`` gives a key for those packages only.
    """

    def make(owner, **overrides):
        arguments = {
            "owner": owner,
            "name": "CI key",
            "actions": [Action.PUSH.value],
            "package_ids": [],
            "globs": [] if overrides.get("package_ids") else ["*"],
            "expiration_days": 365,
            "actor": owner,
            **overrides,
        }
        return api_key_create(**arguments)

    return make


def pytest_runtest_logreport(report):
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    # In CI a skipped test is a test that did not run: the database leg or the
    # browser was missing. That must fail the run, not pass it quietly.
    if os.environ.get("CI") == "true" and _skipped and exitstatus == 0:
        session.exitstatus = 1
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"CI=true: {len(_skipped)} test(s) skipped, which CI does not allow: "
                + ", ".join(_skipped[:5]),
                red=True,
            )
