"""The file facts of the versions a process served lately, kept on PostgreSQL.

Every download needs one row: its version's file name, digest and size
(``services.stored_file``). On PostgreSQL, asking for it is a round trip that costs
a download more than anything else it does but sending the file (the download
benchmark in benchmarks/bench_read.py). And those facts do not change while the row
lives: a pushed version's file is never replaced in place; a version goes away only
with its package (the admin), or by hand.

So each process keeps the facts it looked up, for ``PACKAGES_DOWNLOAD_CACHE_SECONDS``
(60) at most, and forgets all of them whenever PostgreSQL says one may have changed.
Triggers on the two tables (migration 0010) NOTIFY on ``CHANNEL`` when a row is
deleted, a table truncated, or a kept column updated; each process LISTENs on a
connection of its own, opened by a background thread (a greenlet under gunicorn's
gevent workers) at its first download. A deleted package thus stops downloading
within moments on every server; the minute is the limit only when a notification
cannot arrive (a connection dropped without a word, a pooler in transaction mode).

Nothing is kept while that connection is down or being opened, so a change made
then cannot leave a stale fact behind; and nothing is kept or read inside a
transaction, whose rows may still be rolled back. SQLite has no notifications and
needs none: its lookup is a function call, not a round trip.
"""

import logging
import os
import threading
import time
from collections.abc import Callable, Hashable

import psycopg
from django.db import DEFAULT_DB_ALIAS, connection, connections

from packages import conf

logger = logging.getLogger(__name__)

CHANNEL = "packages_stored_files"
# What the listening connection calls itself in pg_stat_activity.
APPLICATION_NAME = "portal stored-file changes"
# At most this many versions per process, the oldest dropped first: some MB.
MAX_ENTRIES = 10_000
# Seconds before the listener connects again after losing its connection, doubling.
RETRY_FIRST, RETRY_MOST = 1, 30

# Guards the entries, the generation and ``_listening`` together: an entry is kept
# only if no notification came while it was looked up.
_lock = threading.Lock()
_entries: dict = {}  # key -> (monotonic expiry, facts)
_generation = 0  # counts notifications and changes of _listening
_listening = False
_listener_started = False


def cached(key: Hashable, look_up: Callable):
    """What ``look_up()`` returns for ``key``, from this process's memory while it
    may be; a None (nothing found) is never kept."""
    seconds = conf.download_cache_seconds()
    if not seconds or connection.vendor != "postgresql" or connection.in_atomic_block:
        return look_up()
    if not _listener_started:
        _start_listener()
    now = time.monotonic()
    entry = _entries.get(key)
    if entry is not None and entry[0] > now:
        return entry[1]
    generation = _generation
    found = look_up()
    if found is not None:
        with _lock:
            if _listening and _generation == generation:
                _entries.pop(key, None)
                if len(_entries) >= MAX_ENTRIES:
                    del _entries[next(iter(_entries))]
                _entries[key] = (now + seconds, found)
    return found


def _forget(*, listening: bool) -> None:
    global _generation, _listening
    with _lock:
        _entries.clear()
        _generation += 1
        _listening = listening


def _start_listener() -> None:
    global _listener_started
    with _lock:
        if _listener_started:
            return
        _listener_started = True
    threading.Thread(target=_listen, name="stored-file-changes", daemon=True).start()


def _listen() -> None:
    delay = RETRY_FIRST
    while True:
        try:
            with _connect() as listener:
                listener.execute(f"LISTEN {CHANNEL}")
                _forget(listening=True)
                delay = RETRY_FIRST
                for _notification in listener.notifies():
                    _forget(listening=True)
        except Exception as error:  # whatever it was, listen again
            logger.warning(
                "Stopped listening for stored-file changes (%s); downloads look their "
                "files up until it listens again, in %d s",
                str(error).strip() or type(error).__name__,
                delay,
            )
        finally:
            _forget(listening=False)
        time.sleep(delay)
        delay = min(delay * 2, RETRY_MOST)


def _connect() -> psycopg.Connection:
    """A connection of its own, made as Django makes the request's ones (same server,
    credentials and options), in autocommit: LISTEN takes effect at once."""
    params = connections[DEFAULT_DB_ALIAS].get_connection_params()
    params["application_name"] = APPLICATION_NAME
    return psycopg.connect(**params, autocommit=True)


def _forget_in_child() -> None:
    """A forked child has no listener thread: it starts its own and keeps nothing
    of its parent's (whose notifications it would never hear of)."""
    global _lock, _listener_started
    # A lock held by another thread at the fork would stay held in the child.
    _lock = threading.Lock()
    _listener_started = False
    _forget(listening=False)


os.register_at_fork(after_in_child=_forget_in_child)
