import pytest

from tests.feed.conftest import _package_files, push  # noqa: F401 - fixtures
from tests.trustedpublishing.issuer import LocalIssuer
from trustedpublishing import oidc

AUDIENCE = "https://nuget.test"


@pytest.fixture(scope="session")
def local_issuer():
    issuer = LocalIssuer()
    yield issuer
    issuer.close()


@pytest.fixture
def issuer(local_issuer, settings):
    """The local issuer, trusted for GitHub and GitLab, with a fresh cache."""
    settings.TRUSTED_PUBLISHING_REQUIRE_HTTPS = False
    settings.TRUSTED_PUBLISHING_ISSUERS = local_issuer.setting()
    settings.TRUSTED_PUBLISHING_AUDIENCE = AUDIENCE
    oidc.forget_issuers()
    kid = local_issuer.kid
    keys = dict(local_issuer.keys)
    yield local_issuer
    local_issuer.keys.clear()
    local_issuer.keys.update(keys)
    local_issuer.kid = kid
    oidc.forget_issuers()


@pytest.fixture
def make_policy(db):
    from trustedpublishing.services import policy_create

    def make(owner, provider="github", **fields):
        defaults = {
            "name": f"{provider} release",
            "provider": provider,
            "subject_owner": "contoso",
            "subject": "widgets",
            "workflow": "release.yml" if provider == "github" else "",
            "ref": "",
            "environment": "",
            "actions": ["package:push"],
            "package_ids": [],
            "globs": ["Contoso.*"],
        }
        defaults.update(fields)
        return policy_create(owner=owner, actor=owner, **defaults)

    return make
