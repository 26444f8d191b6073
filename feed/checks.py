"""Startup checks of the feed's settings: a typo in FEED_READ_ACCESS must stop the
server from starting, not leave a feed meant to be private failing at its first read."""

from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from feed import conf


@checks.register(checks.Tags.security)
def feed_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    errors = []
    for read in (conf.read_access, conf.auth_failure_limit, conf.auth_failure_window):
        try:
            read()
        except ImproperlyConfigured as error:
            errors.append(checks.Error(str(error), id="feed.E001"))
    return errors
