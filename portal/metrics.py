"""The ``/metrics`` view: Prometheus' text format, for allowed clients only.

The metrics themselves are defined and counted in ``audit.metrics``. gunicorn runs
several worker processes, each counting on its own; in multi-process mode
(``PROMETHEUS_MULTIPROC_DIR``, which gunicorn.conf.py sets when metrics are on)
each process writes its values to memory-mapped files in that folder, and a
scrape, whichever worker answers it, adds up every process's files.
"""

import hmac
import ipaddress
import os

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import Http404, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)

from audit.metrics import db_connections_counted, enabled


def _registry():
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # A fresh registry per scrape, as the library's multi-process mode wants:
        # it reads every worker's files each time.
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def _allowed_networks():
    networks = []
    for entry in settings.METRICS_ALLOWED_IPS:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"METRICS_ALLOWED_IPS: {entry!r} is not an address or network"
            ) from None
    return networks


def _client_allowed(request) -> bool:
    from audit.events import client_ip

    try:
        # The client as the rate limits see it: behind TRUSTED_PROXY_COUNT proxies
        # the address they report, so a proxy on loopback does not make every
        # visitor local.
        address = ipaddress.ip_address(client_ip(request) or "")
    except (ValueError, ImproperlyConfigured):
        return False
    return any(address in network for network in _allowed_networks())


def _allowed(request) -> bool:
    """A request with a bearer token is let in by the token alone (a wrong one is
    refused from any address); one without, by its address."""
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return _client_allowed(request)
    expected = settings.METRICS_TOKEN
    return bool(expected) and hmac.compare_digest(presented.strip().encode(), expected.encode())


@csrf_exempt
@never_cache
@require_GET
def metrics_view(request):
    if not enabled():
        raise Http404
    if not _allowed(request):
        response = HttpResponse("Forbidden\n", status=403, content_type="text/plain; charset=utf-8")
        response.reason_phrase = "Forbidden: metrics are not served to this client"
        return response
    # This worker's open connections as of now; the others' as of their last request.
    db_connections_counted()
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)
