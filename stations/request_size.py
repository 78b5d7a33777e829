"""Refuse over-long URLs (414) and header floods (431) in the app's own error envelope.

The limits sit below gunicorn's (deploy/gunicorn.conf.py), so that a client over them hears
why in problem+json on /api (the error page elsewhere), not in gunicorn's bare HTML.
"""

from flask import request
from werkzeug.exceptions import RequestHeaderFieldsTooLarge, RequestURITooLarge

# The request target (path and query string, as sent): every valid API request fits in well
# under half of this (the longest, nearest with every filter, is about 2,200 bytes).
MAX_URI_BYTES = 4096
# Header fields: a browser sends about 15, a chain of proxies adds a few.
MAX_HEADER_FIELDS = 60
# One header field's value (duplicates count together): room for a browser's full 4 KB cookie.
MAX_HEADER_VALUE_BYTES = 6144


def _uri_bytes(environ):
    """The length of the request target as the client sent it."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw is not None:
        return len(raw)
    query = environ.get("QUERY_STRING", "")
    return len(environ.get("PATH_INFO", "")) + (len(query) + 1 if query else 0)


def _header_values(environ):
    """The header field values of the request (WSGI keeps two outside HTTP_*)."""
    return [
        value
        for key, value in environ.items()
        if key.startswith("HTTP_") or key in ("CONTENT_TYPE", "CONTENT_LENGTH")
    ]


def refuse_oversize():
    """414 for an over-long URL, 431 for too many or too large header fields."""
    environ = request.environ
    if _uri_bytes(environ) > MAX_URI_BYTES:
        raise RequestURITooLarge(f"The URL must be at most {MAX_URI_BYTES} bytes long.")
    values = _header_values(environ)
    if len(values) > MAX_HEADER_FIELDS:
        raise RequestHeaderFieldsTooLarge(f"Send at most {MAX_HEADER_FIELDS} header fields.")
    # WSGI gives the bytes as latin-1 text: one character per byte.
    if any(len(value) > MAX_HEADER_VALUE_BYTES for value in values):
        raise RequestHeaderFieldsTooLarge(
            f"Each header field must be at most {MAX_HEADER_VALUE_BYTES} bytes long."
        )


def init_app(app):
    """Check sizes before anything else looks at the request (keys, limits, the view)."""
    app.before_request(refuse_oversize)
