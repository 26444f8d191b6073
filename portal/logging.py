"""Log lines: plain text by default, one JSON object per line with ``LOG_FORMAT=json``.

A request's fields (its ID, method, path, route, status, user, key hint) are kept
in one dict that ``portal.middleware`` fills in. The dict is reachable two ways:
through a context variable while Django handles the request (gevent gives each
greenlet its own), so every record logged meanwhile carries the request ID; and
through the WSGI environ, where gunicorn's access log, written after the
response has gone out, finds it.

Only named fields are written. A key's hint (``ngk_…abcd``) may appear, its value
never: nothing here reads headers, bodies or query strings, and a path that
carries a one-time token (a password reset or email confirmation link) is logged
as its URL pattern.
"""

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime

from gunicorn import glogging

from audit.logfields import ENVIRON_KEY
from portal.env import env_bool, env_str

# The fields a line may carry beside time, level, logger and message, in order.
FIELDS = (
    "request_id",
    "method",
    "path",
    "route",
    "status",
    "duration",
    "user_id",
    "key_hint",
    "remote_addr",
)

_request_fields: ContextVar[dict | None] = ContextVar("portal_request_fields", default=None)


def json_format() -> bool:
    return (env_str("LOG_FORMAT", "plain") or "plain").strip().lower() == "json"


# --- The request's fields -------------------------------------------------------


def request_begin(request, request_id: str) -> None:
    """Start the request's fields. They stay current until Django has finished
    with the response: its own line about a 4xx or 5xx answer comes after every
    middleware has returned."""
    fields = {"request_id": request_id, "method": request.method, "path": request.path}
    request.META[ENVIRON_KEY] = fields
    _request_fields.set(fields)


def request_end(**kwargs) -> None:
    """Receives ``request_finished`` (connected in portal.middleware: connecting a
    signal reads Django's settings, which gunicorn's master, loading this module
    for its logger class, does not have)."""
    _request_fields.set(None)


# --- Formatting -----------------------------------------------------------------


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "portal_fields", None) or _request_fields.get() or {}
        line.update((name, fields[name]) for name in FIELDS if fields.get(name) is not None)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


# --- gunicorn -------------------------------------------------------------------


class GunicornLogger(glogging.Logger):
    """gunicorn's logger, with JSON lines under ``LOG_FORMAT=json`` and, with
    ``HEALTH_ACCESS_LOG=false``, no access lines for the health checks."""

    def setup(self, cfg):
        super().setup(cfg)
        self._json = json_format()
        self._health_lines = env_bool("HEALTH_ACCESS_LOG", True)
        if self._json:
            for log in (self.error_log, self.access_log):
                for handler in log.handlers:
                    handler.setFormatter(JsonFormatter())

    def access(self, resp, req, environ, request_time):
        if not self._health_lines and environ.get("PATH_INFO", "").startswith("/health/"):
            return
        if not self._json:
            super().access(resp, req, environ, request_time)
            return
        if not self.access_log_enabled:
            return
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        fields = {
            "method": environ.get("REQUEST_METHOD"),
            # The path alone: a query string is never logged.
            "path": environ.get("PATH_INFO"),
            **environ.get(ENVIRON_KEY, {}),
            "status": int(status),
            "duration": round(request_time.total_seconds(), 6),
            "remote_addr": environ.get("REMOTE_ADDR"),
        }
        try:
            self.access_log.info(
                "%s %s %s",
                fields["method"],
                fields["path"],
                fields["status"],
                extra={"portal_fields": fields},
            )
        except Exception:
            self.error_log.exception("Could not write an access log line")
