"""Running it as a service: request ids, timing, metrics and logs of every request; readiness."""

import time

from flask import request

_STARTED = "stations.started"
# Probes asked every few seconds: counted in the metrics, but not logged line by line.
QUIET_ENDPOINTS = {"api.health", "api.ready", "metrics.metrics"}


def _start():
    request.environ[_STARTED] = time.perf_counter()


def init_app(app):
    """Time, count and (LOG_FORMAT=json) log each request; echo its id; serve /metrics.

    Call it before any other before-request hook is registered: it times them too.
    """
    from . import logs, metrics, readiness, request_id

    logs.init_app(app)
    metrics.init_app(app)
    readiness.init_app(app)
    log_json = app.config["LOG_FORMAT"] == "json"

    def finish(response):
        environ = request.environ
        duration_s = time.perf_counter() - environ.get(_STARTED, time.perf_counter())
        endpoint = request.endpoint
        metrics.observe(endpoint, response.status_code, duration_s)
        request_id.echo(response)
        if log_json and endpoint not in QUIET_ENDPOINTS:
            logs.log_request(response, duration_s=duration_s, api_key_id=_api_key_id())
        return response

    app.before_request(_start)
    app.after_request(finish)  # the first registered runs last: the others are timed too


def _api_key_id():
    """The id of the valid API key the request came with, if any (worked out by limits.py)."""
    from ..api.limits import current_caller

    environ = request.environ
    if not environ["PATH_INFO"].startswith("/api/"):
        return None
    if "HTTP_X_API_KEY" not in environ and "HTTP_AUTHORIZATION" not in environ:
        return None
    return current_caller().key_id
