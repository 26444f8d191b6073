"""Health checks for load balancers, orchestrators and systemd.

``/health/live``: the process answers; it touches nothing else, so a database
outage does not get healthy workers restarted. ``/health/ready``: the database,
the cache and the package storage answer, each within ``HEALTH_CHECK_TIMEOUT``
seconds; 503 names the ones that did not, so a load balancer stops sending
requests to a server that could not serve them.

Both are cheap: no session, no cookie, no CSRF token, no template, no rate limit,
never cached. Readiness costs one ``SELECT 1``, one cache read and one small file
written and deleted in the package storage.
"""

import contextlib
import logging
import secrets

from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from packages.storage import package_storage

logger = logging.getLogger(__name__)

_PROBE_KEY = "portal:health:probe"


@contextlib.contextmanager
def _time_limit(seconds: float):
    """Cut a check off after ``seconds`` under gunicorn's gevent workers, where
    every network wait (psycopg, Redis, an object store's HTTP) yields to the hub.
    Elsewhere (``runserver``, tests) each check relies on its own timeouts."""
    try:
        from gevent import Timeout
        from gevent.monkey import is_module_patched
    except ImportError:  # pragma: no cover - gevent is a dependency
        yield
        return
    if not is_module_patched("socket"):
        yield
        return
    with Timeout(seconds, TimeoutError(f"no answer within {seconds:g} s")):
        yield


def _check_database() -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except BaseException:
        # A connection cut off mid-query is in no state for the next request (one
        # inside a transaction is its owner's to end: only tests get here so).
        if not connection.in_atomic_block:
            with contextlib.suppress(Exception):
                connection.close()
        raise


def _check_cache() -> None:
    cache.get(_PROBE_KEY)


def _check_storage() -> None:
    storage = package_storage()
    # A write, not an existence check: a missing or read-only folder, or a bucket
    # without write access, answers "does not exist" to a read.
    name = storage.save(f".health-{secrets.token_hex(8)}", ContentFile(b"ok"))
    storage.delete(name)


CHECKS = {"database": _check_database, "cache": _check_cache, "storage": _check_storage}


def _timeout() -> float:
    return float(getattr(settings, "HEALTH_CHECK_TIMEOUT", 2))


@csrf_exempt
@never_cache
@require_http_methods(["GET", "HEAD"])
def live(request):
    return HttpResponse("ok\n", content_type="text/plain; charset=utf-8")


@csrf_exempt
@never_cache
@require_http_methods(["GET", "HEAD"])
def ready(request):
    results = {}
    for name, check in CHECKS.items():
        try:
            with _time_limit(_timeout()):
                check()
        except Exception as error:
            # The reason goes to the log only: the answer names the check and
            # says nothing of hosts or paths.
            logger.warning(
                "Readiness check %s failed: %s: %s", name, type(error).__name__, str(error)[:200]
            )
            results[name] = "failed"
        else:
            results[name] = "ok"
    failed = [name for name, result in results.items() if result != "ok"]
    response = JsonResponse(
        {"status": "failed" if failed else "ok", "checks": results},
        status=503 if failed else 200,
    )
    if failed:
        response.reason_phrase = f"Service Unavailable: {', '.join(failed)} not reachable"
    return response
