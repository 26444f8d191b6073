"""gunicorn reads this file from the working directory: ``gunicorn portal.wsgi``."""

import multiprocessing
import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
# WEB_CONCURRENCY overrides; the usual rule of thumb is two workers per core, plus one.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
# gevent: a greenlet per connection, so clients that send their requests slowly hold
# no worker (README: "Slow clients, and why gevent workers").
worker_class = "gevent"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
accesslog = "-"
# Addresses of reverse proxies whose X-Forwarded-* headers gunicorn believes.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
