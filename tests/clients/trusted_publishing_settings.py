"""The portal's settings with plain-HTTP OIDC issuers allowed, for the gunicorn that
``test_trusted_publishing_client.py`` starts: its local issuer serves loopback HTTP.
No environment variable turns this check off, so production cannot."""

from portal.settings import *  # noqa: F403

TRUSTED_PUBLISHING_REQUIRE_HTTPS = False
