"""The request id: a sane incoming X-Request-ID is kept, else one is made; it is echoed back."""

import re
import uuid

from flask import has_request_context, request

HEADER = "X-Request-ID"
# A token a proxy or client may send: anything else (too long, spaces, quotes) is replaced.
SANE = re.compile(r"[A-Za-z0-9._-]{1,64}")
_KEY = "stations.request_id"


def request_id():
    """This request's id, worked out once; None outside a request."""
    if not has_request_context():
        return None
    environ = request.environ
    found = environ.get(_KEY)
    if found is None:
        sent = environ.get("HTTP_X_REQUEST_ID", "")
        found = environ[_KEY] = sent if SANE.fullmatch(sent) else uuid.uuid4().hex
    return found


def echo(response):
    """Send the request id back in the X-Request-ID header."""
    response.headers.add(HEADER, request_id())  # no view sets it: nothing to replace
    return response
