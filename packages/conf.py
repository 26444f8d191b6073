"""The packages settings and their defaults, in one place.

Every value is read from ``django.conf.settings`` when it is used, never at import
time, so tests can change it with pytest-django's ``settings`` fixture.
"""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

MiB = 1024**2
GiB = 1024**3

# nuget.org's own limit for a pushed .nupkg.
DEFAULT_MAX_PACKAGE_SIZE = 250 * MiB
# The sum of the sizes the zip's directory declares for its files. We never
# extract the package (only the nuspec, under its own limit), so this does not
# protect the server's memory; it refuses zip bombs that would hurt whoever does
# extract them: the clients that install the package. 1 GiB is four times the
# largest accepted upload, while real packages (DLLs, PDBs, XML docs) deflate by
# about 2-3x and native binaries that are already compressed by less, so honest
# packages stay far below it; bombs claim ratios of hundreds to one.
DEFAULT_MAX_UNCOMPRESSED_SIZE = 1 * GiB
# Large SDK and runtime packages hold a few thousand files. The limit also
# bounds the memory the zip directory takes (about 500 bytes an entry).
DEFAULT_MAX_ENTRIES = 20_000
# Real nuspecs are a few KiB; the whole file is held in memory and parsed.
DEFAULT_MAX_NUSPEC_SIZE = 1 * MiB


def _positive_int(name: str, default: int) -> int:
    value = getattr(settings, name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        # Operator-facing, like Django's own ImproperlyConfigured messages: not translated.
        raise ImproperlyConfigured(f"{name} must be a positive integer.")
    return value


def max_package_size() -> int:
    """The largest .nupkg accepted, in bytes."""
    return _positive_int("PACKAGES_MAX_SIZE", DEFAULT_MAX_PACKAGE_SIZE)


def max_uncompressed_size() -> int:
    """The largest total of the declared uncompressed sizes of a package's files."""
    return _positive_int("PACKAGES_MAX_UNCOMPRESSED_SIZE", DEFAULT_MAX_UNCOMPRESSED_SIZE)


def max_entries() -> int:
    """The most files (zip entries) a package may hold."""
    return _positive_int("PACKAGES_MAX_ENTRIES", DEFAULT_MAX_ENTRIES)


def max_nuspec_size() -> int:
    """The largest nuspec read, in bytes; it bounds the memory a push can make us use."""
    return _positive_int("PACKAGES_MAX_NUSPEC_SIZE", DEFAULT_MAX_NUSPEC_SIZE)


def download_redirect() -> int:
    """Seconds a signed download URL lives when .nupkg downloads redirect to the
    storage backend's ``url()``; 0 (the default) serves the file through the portal."""
    value = getattr(settings, "PACKAGES_DOWNLOAD_REDIRECT", 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ImproperlyConfigured("PACKAGES_DOWNLOAD_REDIRECT must be 0 or a number of seconds.")
    return value


# Downloads are counted in each process's memory and written this often.
DEFAULT_DOWNLOAD_FLUSH_SECONDS = 30


def download_flush_seconds() -> int:
    """Seconds between writes of the download counts a process has gathered; 0 starts
    no background writer (the counts are then written only by ``downloads.flush()``
    and gunicorn's worker_exit hook)."""
    value = getattr(settings, "PACKAGES_DOWNLOAD_FLUSH_SECONDS", DEFAULT_DOWNLOAD_FLUSH_SECONDS)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ImproperlyConfigured(
            "PACKAGES_DOWNLOAD_FLUSH_SECONDS must be 0 or a number of seconds."
        )
    return value


# Each process keeps the file facts of the versions it served for this long at most
# (PostgreSQL only; see packages/stored_file_cache.py).
DEFAULT_DOWNLOAD_CACHE_SECONDS = 60


def download_cache_seconds() -> int:
    """Seconds a process may serve a version's file facts from memory without asking
    the database; 0 asks for every download."""
    value = getattr(settings, "PACKAGES_DOWNLOAD_CACHE_SECONDS", DEFAULT_DOWNLOAD_CACHE_SECONDS)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ImproperlyConfigured(
            "PACKAGES_DOWNLOAD_CACHE_SECONDS must be 0 or a number of seconds."
        )
    return value
