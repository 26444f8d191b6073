"""The portal's settings with one extra, benchmarks-only URL: ``bench/empty``.

``bench_http.py`` starts gunicorn with ``DJANGO_SETTINGS_MODULE`` pointing here, so
that an empty view, the ceiling every other row is compared with, goes through the
same middleware without the product's URLconf knowing about it.
"""

from portal.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.urls_ceiling"

# Pages render {% static %}; without a collectstatic run there is no manifest for
# the hashed-name storage, so the plain storage names the files, as in tests/settings.py.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
