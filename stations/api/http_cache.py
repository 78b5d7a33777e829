"""How the API behaves over HTTP: validators and lifetimes for caches, what is compressed,
CORS, and deprecation notices."""

from datetime import UTC, datetime

import orjson
from flask import current_app, request
from flask.json.provider import DefaultJSONProvider
from flask_cors import CORS
from werkzeug.http import http_date

# Data that may change at any moment: caches keep it but ask us (cheaply, with a 304) each time.
REVALIDATE = "public, no-cache"
EXPOSED_HEADERS = [
    "ETag",
    "Last-Modified",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "RateLimit-Policy",
    "Retry-After",
    "Deprecation",
    "Sunset",
    "Link",
    "Content-Disposition",
]
REQUEST_HEADERS = [
    "X-API-Key",
    "Authorization",
    "If-None-Match",
    "If-Modified-Since",
    "Accept",
    "Content-Type",
]
# The request headers (as WSGI names them) that make a GET conditional.
_CONDITIONAL = (
    "HTTP_IF_NONE_MATCH",
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_IF_MATCH",
    "HTTP_IF_UNMODIFIED_SINCE",
)
COMPRESSED_TYPES = [
    "application/json",
    "application/geo+json",
    "application/problem+json",
    "text/csv",
    "text/html",
    "text/css",
    "text/plain",
    "text/javascript",
    "application/javascript",
    "application/manifest+json",
    "image/svg+xml",
]


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON (UTF-8, keys in order, its own dates), written by orjson: several times faster.

    Dates, datetimes and dataclasses go through Flask's `default`, as with the standard encoder;
    an indented dump (debug mode) is left to the standard encoder.
    """

    sort_keys = False
    ensure_ascii = False
    _OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
    _OPTIONS |= orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS

    def dumps(self, obj, **kwargs):
        if "indent" in kwargs:
            return super().dumps(obj, **kwargs)
        return orjson.dumps(obj, default=self.default, option=self._OPTIONS).decode()


def cacheable(response, *, last_modified, cache_control=REVALIDATE, etag=None):
    """Give a GET response its validators and lifetime; a 304 if the client's copy is current.

    The ETag is weak (the same JSON may be sent compressed or not) and, unless given, is a hash
    of the body. Last-Modified (None: not sent) must be no earlier than the last change to what
    the body shows.
    """
    if etag is None:
        response.add_etag(weak=True)
    else:
        response.set_etag(etag, weak=True)
    if last_modified is not None:
        response.last_modified = last_modified
    response.headers["Cache-Control"] = cache_control
    if not any(name in request.environ for name in _CONDITIONAL):
        return response  # nothing to compare (the server adds the Date header)
    return response.make_conditional(request)


def not_modified(*, etag, last_modified):
    """True when the request's validators match, so the body need not even be built."""
    validators = request.if_none_match
    if validators:
        return validators.contains_weak(etag)
    since = request.if_modified_since
    return since is not None and last_modified.replace(microsecond=0) <= since


def _deprecation_headers(response):
    """Deprecation (RFC 9745), Sunset (RFC 8594) and their links for endpoints being retired."""
    notice = current_app.config["API_DEPRECATIONS"].get(request.endpoint)
    if notice:
        deprecated = datetime.fromisoformat(notice["deprecated_at"]).replace(tzinfo=UTC)
        response.headers["Deprecation"] = f"@{int(deprecated.timestamp())}"
        if notice.get("sunset_at"):
            sunset = datetime.fromisoformat(notice["sunset_at"]).replace(tzinfo=UTC)
            response.headers["Sunset"] = http_date(sunset)
        response.headers.add("Link", f'<{notice["link"]}>; rel="deprecation"; type="text/html"')
    return response


def _no_store_answers(response):
    """Errors, and answers to writes, belong to one request: not something to keep."""
    if request.path.startswith("/api/") and (
        response.status_code >= 400 or request.method not in ("GET", "HEAD", "OPTIONS")
    ):
        response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app):
    """CORS on /api/ (CORS_ORIGINS), deprecation headers, no-store answers; what to compress."""
    config = app.config
    config.setdefault("COMPRESS_MIMETYPES", COMPRESSED_TYPES)  # read by compress.init_app later
    config.setdefault("API_DEPRECATIONS", {})
    app.after_request(_deprecation_headers)
    app.after_request(_no_store_answers)
    origins = [origin.strip() for origin in config["CORS_ORIGINS"].split(",") if origin.strip()]
    CORS(
        app,
        resources={r"/api/*": {}},
        origins="*" if origins in ([], ["*"]) else origins,
        send_wildcard=True,  # "*" itself for any origin, so caches need not vary by Origin
        methods=["GET", "HEAD", "POST", "OPTIONS"],
        allow_headers=REQUEST_HEADERS,
        expose_headers=EXPOSED_HEADERS,
        max_age=86400,
    )
