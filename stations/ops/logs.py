"""Logs: with LOG_FORMAT=json, one JSON line per request and per app event, on standard error.

A request line holds its time, level, request id, method, path (never the query string),
status, duration, client address, and the user's or API key's id when known. No header, form
field or cookie is ever logged: that is where passwords, API keys and CSRF tokens travel.
"""

import logging
import sys
from datetime import UTC, datetime

import orjson
from flask import has_request_context, request
from flask import logging as flask_logging
from gunicorn.glogging import Logger

from .request_id import request_id

FORMATS = ("text", "json")
REQUEST_LOGGER = "stations.request"
_USER = "stations.user_id"
_REQUESTS = logging.getLogger(REQUEST_LOGGER)  # looked up once: getLogger takes a lock


class JSONFormatter(logging.Formatter):
    """A log record as one JSON object: time, level, logger, message, and its `fields`."""

    def format(self, record):
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if has_request_context():
            line["request_id"] = request_id()
        line |= getattr(record, "fields", {})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


class GunicornLogger(Logger):
    """gunicorn's logger with LOG_FORMAT=json (deploy/gunicorn.conf.py): the app writes each
    request's line, so gunicorn does not even make its own (it works out every access-log
    field whenever a logging config is given, before finding its access log switched off)."""

    def access(self, resp, req, environ, request_time):
        return


class _JSONHandler(logging.StreamHandler):
    """The one handler this module adds to the root logger (so it can find and replace it)."""


def init_app(app):
    """Log as LOG_FORMAT says: text (Flask's default) or json (every logger, through the root)."""
    config = app.config
    if config["LOG_FORMAT"] not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(FORMATS)}")
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _JSONHandler)]:
        root.removeHandler(handler)  # from an app made before this one in the same process
    if config["LOG_FORMAT"] != "json":
        return
    handler = _JSONHandler(sys.stderr)
    handler.setFormatter(JSONFormatter())
    root.addHandler(handler)
    # The app's loggers reach the root's handler; Flask's own would write each event twice.
    app.logger.removeHandler(flask_logging.default_handler)
    app.logger.setLevel(logging.INFO)


def remember_user(user):
    """Note who is logged in for this request's log line (their id, never their session)."""
    if has_request_context():
        request.environ[_USER] = user.id
    return user


def log_request(response, *, duration_s, api_key_id):
    """One line for a finished request (LOG_FORMAT=json only)."""
    status = response.status_code
    fields = {
        "method": request.method,
        "path": request.path,
        "status": status,
        "duration_ms": round(duration_s * 1000, 2),
        "client": request.remote_addr,
        "user_id": request.environ.get(_USER),
        "api_key_id": api_key_id,
    }
    level = logging.ERROR if status >= 500 else logging.INFO
    message = f"{fields['method']} {fields['path']} {status}"
    _REQUESTS.log(level, message, extra={"fields": fields})
