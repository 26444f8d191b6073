"""Download counts: kept in memory per process, written in one transaction a while.

A download adds one to a count in this process's memory: no query, no lock
in the database, so a download costs what serving the file costs. Every
``PACKAGES_DOWNLOAD_FLUSH_SECONDS`` (30) seconds a background thread (a greenlet under gunicorn's
gevent workers) writes what has gathered to ``PackageVersion.download_count``,
``Package.download_count`` and the search ranking, in ONE transaction, whatever
the number of downloads; gunicorn's ``worker_exit`` hook (gunicorn.conf.py)
writes the rest when a worker stops.

Counts therefore lag by up to that interval. A graceful stop of
gunicorn loses nothing; a process that crashes (killed, out of memory, power
cut), or a server without the hook (``runserver``), loses at most its last
interval of downloads. A write that fails (database down)
keeps the counts in memory for the next one.
"""

import logging
import os
import threading
import time
from collections import Counter

from django.db import connection, transaction
from django.db.models import F

from audit import metrics
from packages import conf
from packages.models import Package, PackageVersion
from packages.search import search_downloads_add

logger = logging.getLogger(__name__)

# (version pk, package pk) -> downloads not yet written. The lock guards the
# Counter against real threads (runserver, tests); under gevent it costs nothing.
_pending: Counter = Counter()
_pending_lock = threading.Lock()
# One write at a time, so that a worker's last flush waits for one under way.
_flush_lock = threading.Lock()
_flusher_started = False


def record(version: PackageVersion) -> None:
    """Count one download of ``version`` (needs its ``pk`` and ``package_id``)."""
    with _pending_lock:
        _pending[version.pk, version.package_id] += 1
    metrics.download_counted()
    if not _flusher_started and conf.download_flush_seconds():
        _start_flusher()


def flush() -> int:
    """Write the downloads counted in this process; returns how many were written."""
    global _pending
    with _flush_lock:
        with _pending_lock:
            taken, _pending = _pending, Counter()
        if not taken:
            return 0
        try:
            _write(taken)
        except BaseException:
            # Kept for the next flush: a failed write loses nothing.
            with _pending_lock:
                _pending.update(taken)
            raise
        return sum(taken.values())


def discard() -> None:
    """Forget the counts not written yet: for a process whose database work was
    rolled back (the test suite, between tests)."""
    global _pending
    with _pending_lock:
        _pending = Counter()


def _write(taken: Counter) -> None:
    by_package: Counter = Counter()
    with transaction.atomic():
        for (version_pk, package_pk), count in sorted(taken.items()):
            PackageVersion.objects.filter(pk=version_pk).update(
                download_count=F("download_count") + count
            )
            by_package[package_pk] += count
        for package_pk, count in sorted(by_package.items()):
            Package.objects.filter(pk=package_pk).update(download_count=F("download_count") + count)
            search_downloads_add(package_pk=package_pk, count=count)


def _start_flusher() -> None:
    global _flusher_started
    with _pending_lock:
        if _flusher_started:
            return
        _flusher_started = True
    threading.Thread(target=_flush_every_interval, name="download-counts", daemon=True).start()


def _flush_every_interval() -> None:
    while True:
        time.sleep(conf.download_flush_seconds() or 1)
        try:
            flush()
        except Exception:
            logger.exception("Download counts could not be written; they are kept for the next try")
        finally:
            # No request cycle closes this thread's connection: close it between flushes.
            connection.close()


def _forget_in_child() -> None:
    """A forked child counts its own downloads: its parent writes the ones it has,
    and the parent's flusher thread does not exist in the child."""
    global _pending, _pending_lock, _flush_lock, _flusher_started
    _pending, _flusher_started = Counter(), False
    # A lock held by another thread at the fork would stay held in the child.
    _pending_lock, _flush_lock = threading.Lock(), threading.Lock()


os.register_at_fork(after_in_child=_forget_in_child)
