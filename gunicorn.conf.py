"""gunicorn reads this file from the working directory: ``gunicorn portal.wsgi``."""

import multiprocessing
import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
# WEB_CONCURRENCY overrides; the usual rule of thumb is two workers per core, plus one.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
# gevent: a greenlet per connection, so clients that send their requests slowly hold
# no worker (README: "Slow clients, and why gevent workers"). gunicorn's gevent worker,
# closing each client connection's database connections when it ends.
worker_class = "portal.gunicorn_worker.Worker"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
accesslog = "-"
# Addresses of reverse proxies whose X-Forwarded-* headers gunicorn believes.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# LOG_FORMAT=json makes gunicorn's own lines JSON too; HEALTH_ACCESS_LOG=false
# leaves the health checks out of the access log (portal/logging.py).
logger_class = "portal.logging.GunicornLogger"

# --- Metrics (README: "Health checks and metrics") ---------------------------------
# Each worker counts on its own; prometheus-client's multi-process mode keeps every
# worker's values in files in one folder, and a scrape adds them up. The variable
# must be set before any worker imports the library, so it is set here, in the
# master, and the workers inherit it. One folder per gunicorn instance.
_metrics_on = os.environ.get("METRICS_ENABLED", "").strip().lower() in {"1", "true", "yes", "on"}
if _metrics_on and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _here = os.path.dirname(os.path.abspath(__file__))
    _var = os.environ.get("VAR_DIR") or os.path.join(_here, "var")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.path.join(_var, "prometheus")


def on_starting(server):
    """Start from zero: the files of a previous run's workers would be added in."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        return
    os.makedirs(folder, exist_ok=True)
    # Only the library's own files, in case the folder was shared by mistake.
    for name in os.listdir(folder):
        if name.endswith(".db"):
            os.remove(os.path.join(folder, name))


def child_exit(server, worker):
    """A worker that exits stops counting towards gauges of live processes."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def worker_exit(server, worker):
    """Write the download counts the worker still holds in memory (packages/downloads.py)."""
    import sys

    downloads = sys.modules.get("packages.downloads")  # loaded with the portal
    if downloads is not None:
        downloads.flush()


def post_worker_init(worker):
    """The worker has loaded the portal: import the views now, not at the first request,
    then leave everything loaded so far out of the garbage collector's full passes.

    Python's full collection walks every object that lives in a container. A worker
    holds about 100,000 of them from the start (Django, the apps, the URLs), and a
    full collection under load stopped the worker for 50 to 200 ms: a search or a
    registration page caught behind it took that much longer. ``gc.freeze()`` moves
    them where the collector no longer looks; they would live as long as the process
    anyway. Afterwards the longest pause seen was 17 ms (benchmarks/bench_read.py's
    latencies, PostgreSQL).
    """
    import gc

    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 (imports the URLconf and every view)
    gc.freeze()
