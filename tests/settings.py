"""The portal's settings, with what a test run needs instead of collected files."""

from portal.settings import *  # noqa: F403

# Tests render pages without running collectstatic first.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Serve static files from the source folders, as in development.
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True

# On SQLite, test on a file as production does, not in shared-cache memory: the
# concurrency tests need real file locking (WAL, IMMEDIATE, busy timeout).
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}  # noqa: F405

# Download counts are written by downloads.flush() in the tests that look at them,
# never by a background thread in the middle of another test.
PACKAGES_DOWNLOAD_FLUSH_SECONDS = 0
# No listener thread holding a connection to the test database, which could then not
# be dropped: the cache of download facts is tested under gunicorn
# (tests/soak/test_stored_file_cache.py). Inside TestCase's transactions it would
# keep nothing anyway.
PACKAGES_DOWNLOAD_CACHE_SECONDS = 0
