"""Prometheus metrics: every metric the portal exports, counted here.

At the bottom of the layers, beside the audit log, so that every app can report
to it; the ``/metrics`` view that serves them is ``portal.metrics``.

Built on the official client library (prometheus-client). gunicorn runs several
worker processes, each counting on its own; in multi-process mode
(``PROMETHEUS_MULTIPROC_DIR``, which gunicorn.conf.py sets when metrics are on)
each process writes its values to memory-mapped files in that folder, and a
scrape, whichever worker answers it, adds up every process's files. Without the
variable (``runserver``, the test suite) the values live in the process.

Other modules call one small function each (``push_counted``, ``download_counted``,
``key_checked``, ``key_refused``, ``trusted_publishing_exchanged``); the request counts and the
latency come from ``portal.middleware``; the database connections are followed through
Django's signals, and ``db_connections_counted``, which the gunicorn worker calls once it
has closed a client connection's database connections. With ``METRICS_ENABLED`` off
every one of them returns at once and ``/metrics`` answers 404.

``key_checked`` also leaves the presented key's owner and hint (never its value)
in the request's log fields (``audit.logfields``).
"""

import functools
import threading
import time
import weakref

from django.conf import settings
from django.core.signals import request_finished
from django.db.backends.signals import connection_created
from prometheus_client import Counter, Gauge, Histogram

from audit.logfields import note_key

# Labels take only values from fixed sets: a label value made from the request
# (a raw path, a made-up method) would let any client create series without end.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUESTS = Counter(
    "portal_http_requests_total",
    "HTTP requests answered, by route (URL pattern name), method and status.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "portal_http_request_duration_seconds",
    "Time from the request reaching Django to its response leaving it, by route.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
IN_PROGRESS = Gauge(
    "portal_http_requests_in_progress",
    "Requests being answered now, all workers together (each holds at most one "
    "database connection).",
    multiprocess_mode="livesum",
)
PUSHES = Counter(
    "portal_pushes_total",
    "Package pushes that reached the publish service, by result.",
    ["result"],
)
DOWNLOADS = Counter("portal_downloads_total", "Package (.nupkg) downloads counted.")
KEY_CHECKS = Counter(
    "portal_key_checks_total",
    "API keys presented to the feed, by outcome: ok, malformed, unknown, expired, revoked, "
    "owner_inactive, not_member (an organization-scoped key whose owner left it), "
    "rate_limited (refused by the failure limit) and refused (a valid key not allowed "
    "that package or action, counted besides its ok).",
    ["outcome"],
)
TRUSTED_PUBLISHING = Counter(
    "portal_trusted_publishing_exchanges_total",
    "Trusted-publishing token exchanges, by result.",
    ["result"],
)
DB_CONNECTIONS = Counter(
    "portal_db_connections_opened_total",
    "Database connections opened: one per client connection that uses the database "
    "(kept up to CONN_MAX_AGE seconds), the connection load the database sees.",
    ["alias", "vendor"],
)
DB_CONNECTIONS_OPEN = Gauge(
    "portal_db_connections_open",
    "Database connections open now, all workers together: one per client connection "
    "that has used the database, closed when the client goes (or at a request once "
    "older than CONN_MAX_AGE).",
    ["alias", "vendor"],
    multiprocess_mode="livesum",
)

# What each exception a push can raise means, by class name: the publish code
# sits above this module, which therefore does not import its exceptions.
_PUSH_RESULTS = {
    "Refused": "refused",
    "VersionExists": "exists",
    "InvalidPackage": "invalid",
    "BadUpload": "invalid",
    "TooLarge": "too_large",
    "LengthRequired": "length_required",
}


def enabled() -> bool:
    return bool(getattr(settings, "METRICS_ENABLED", False))


def request_observed(*, route: str, method: str, status: int, seconds: float) -> None:
    if not enabled():
        return
    method = method if method in _METHODS else "other"
    REQUESTS.labels(route, method, str(status)).inc()
    LATENCY.labels(route, method).observe(seconds)


def push_counted(push):
    """Decorate the push service: count each call by how it ended."""

    @functools.wraps(push)
    def wrapper(*args, **kwargs):
        try:
            pushed = push(*args, **kwargs)
        except Exception as error:
            if enabled():
                PUSHES.labels(_PUSH_RESULTS.get(type(error).__name__, "error")).inc()
            raise
        if enabled():
            PUSHES.labels("pushed").inc()
        return pushed

    return wrapper


def download_counted() -> None:
    if enabled():
        DOWNLOADS.inc()


def key_checked(outcome, *, request=None, rate_limited: bool = False) -> None:
    """Count one check of a presented key (``apikeys.authentication.Outcome``). The
    key's owner and hint, never its value, go to the request's log line."""
    key = outcome.key
    if request is not None:
        if key is not None:
            note_key(request, owner_id=key.owner_id, hint=key.hint)
        else:
            note_key(request, hint=outcome.hint)
    if enabled():
        label = "rate_limited" if rate_limited else str(outcome.failure or "ok")
        KEY_CHECKS.labels(label).inc()


def key_refused() -> None:
    """A valid key was not allowed the package or action it was presented for."""
    if enabled():
        KEY_CHECKS.labels("refused").inc()


def trusted_publishing_exchanged(result: str) -> None:
    if enabled():
        TRUSTED_PUBLISHING.labels(result).inc()


# Every database connection wrapper of this process that has connected (one per alias
# and thread, or greenlet under gevent), forgotten once garbage. Django has no signal
# for a close: a wrapper whose ``connection`` is None again has closed its connection.
_WRAPPERS: weakref.WeakSet = weakref.WeakSet()
_WRAPPERS_LOCK = threading.Lock()
_OPEN_LABELS: set[tuple[str, str]] = set()


def db_connections_counted(**kwargs) -> None:
    """Set ``DB_CONNECTIONS_OPEN`` to the connections this process holds open now.

    Called when a connection opens, when a request has finished (after Django's own
    receiver has closed the connections that were too old or broken), when the
    gunicorn worker has closed a client connection's connections, and before a scrape.
    """
    if not enabled():
        return
    with _WRAPPERS_LOCK:
        wrappers = list(_WRAPPERS)
        counts = dict.fromkeys(_OPEN_LABELS, 0)
        for wrapper in wrappers:
            labels = (wrapper.alias, wrapper.vendor)
            counts[labels] = counts.get(labels, 0) + (wrapper.connection is not None)
        _OPEN_LABELS.update(counts)
    for labels, count in counts.items():
        DB_CONNECTIONS_OPEN.labels(*labels).set(count)


def _connection_opened(sender, connection, **kwargs) -> None:
    if enabled():
        DB_CONNECTIONS.labels(connection.alias, connection.vendor).inc()
        with _WRAPPERS_LOCK:
            _WRAPPERS.add(connection)
        db_connections_counted()


connection_created.connect(_connection_opened, dispatch_uid="audit.metrics.connection_opened")
# Connected after django.db's close_old_connections (connected when django.db is
# imported), so it counts what that left open.
request_finished.connect(db_connections_counted, dispatch_uid="audit.metrics.db_connections")


class InProgress:
    """Counts a request in ``IN_PROGRESS`` while it is answered."""

    def __enter__(self):
        self.counted = enabled()
        if self.counted:
            IN_PROGRESS.inc()
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.started
        if self.counted:
            IN_PROGRESS.dec()
