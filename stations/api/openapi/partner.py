"""The OpenAPI parts of the partner API: keys, limits, cache validators, the guide and the
versioning policy; with the change feed and the export. `extend()` adds them to the document."""

from copy import deepcopy

from ..keys import MAX_PER_MINUTE
from .export import EXPORT
from .feed import CHANGE, CHANGES
from .schemas import PROBLEM_BODY, TEXT, header_refs, station_record

# The longest lang the guide reads: RFC 5646 asks room for language tags of 35 characters.
MAX_LANG_LENGTH = 35

# Operations answering If-None-Match (ETag), and those also answering If-Modified-Since.
ETAG_OPERATIONS = {"nearestStations", "getStation", "listStations", "exportStations"}
DATED_OPERATIONS = {"getStation", "listStations", "exportStations"}
UNLIMITED_OPERATIONS = {"health", "ready"}

_DIGITS = {"type": "string", "pattern": "^[0-9]+$"}
HEADERS = {
    "ETag": {
        "description": "A weak validator of the body; send it back as If-None-Match.",
        "required": True,
        "schema": {"type": "string", "pattern": '^W/".+"$'},
    },
    "Last-Modified": {
        "description": "When what the body shows last changed (its data, or a station opening "
        "or closing); send it back as If-Modified-Since.",
        "required": True,
        "schema": TEXT,
    },
    "Cache-Control": {
        "description": "public, no-cache for data (keep it, but revalidate: a 304 is cheap); "
        "public, max-age=3600 for this document; no-store for errors and the health probe.",
        "required": True,
        "schema": TEXT,
    },
    "RateLimit-Limit": {
        "description": "Requests allowed per window for this caller (key, or IP without a key).",
        "schema": _DIGITS,
    },
    "RateLimit-Remaining": {
        "description": "Requests left in the current window. Under a high limit each server "
        "process counts up to 1/100 of what is left ahead, so this is then close, not exact.",
        "schema": _DIGITS,
    },
    "RateLimit-Reset": {
        "description": "Seconds until the count goes down, so that more requests fit again "
        "(the limit is counted over a sliding window of RateLimit-Policy's w seconds).",
        "schema": _DIGITS,
    },
    "RateLimit-Policy": {
        "description": 'The limit and its window in seconds, e.g. "600;w=60".',
        "schema": {"type": "string", "pattern": "^[0-9]+;w=[0-9]+$"},
    },
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "required": True,
        "schema": _DIGITS,
    },
    "Deprecation": {
        "description": "Only on deprecated endpoints: when they were deprecated (RFC 9745, "
        '"@" and Unix seconds). See the versioning policy above.',
        "schema": {"type": "string", "pattern": "^@[0-9]+$"},
    },
    "Sunset": {
        "description": "Only on deprecated endpoints: the HTTP date after which they may stop "
        "answering (RFC 8594).",
        "schema": TEXT,
    },
    "Link": {
        "description": 'rel="deprecation" (a deprecated endpoint\'s migration notes) or '
        'rel="license" (the export\'s data licence).',
        "schema": TEXT,
    },
    "WWW-Authenticate": {
        "description": 'Bearer realm="api", error="invalid_token"',
        "required": True,
        "schema": TEXT,
    },
}
_RATE_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy")


RESPONSES = {
    "Unauthorized": {
        "description": "The API key sent (X-API-Key or Authorization: Bearer) is not known, or "
        "has been revoked. Send no key to be served anonymously, under the per-IP limit.",
        "headers": header_refs("WWW-Authenticate", "Cache-Control"),
        "content": PROBLEM_BODY,
    },
    "TooManyRequests": {
        "description": "Over the limit: per key (its own per-minute limit), or per IP address "
        "without a key. Wait Retry-After seconds.",
        "headers": header_refs("Retry-After", "Cache-Control", *_RATE_HEADERS),
        "content": PROBLEM_BODY,
    },
    "NotModified": {
        "description": "Your copy (If-None-Match, or If-Modified-Since) is current; no body.",
        "headers": header_refs("ETag", "Cache-Control"),
    },
    "CursorAhead": {
        "description": "Conflict: the cursor is ahead of the feed (the data was restored or "
        "replaced): drop your copy and replay the feed from the start.",
        "content": PROBLEM_BODY,
    },
}

CONDITIONAL_PARAMETERS = [
    {
        "name": "If-None-Match",
        "in": "header",
        "required": False,
        "description": "The ETag of your copy: 304 with no body if it is still current.",
        "schema": TEXT,
    },
    {
        "name": "If-Modified-Since",
        "in": "header",
        "required": False,
        "description": "The Last-Modified of your copy (ignored when If-None-Match is sent).",
        "schema": TEXT,
    },
]

DOCS = {
    "summary": "The developer guide (HTML), in English or Chinese",
    "operationId": "guide",
    "security": [{}],
    "parameters": [
        {
            "name": "lang",
            "in": "query",
            "required": False,
            "description": "en or zh; anything else: the language from Accept-Language. "
            f"At most {MAX_LANG_LENGTH} characters.",
            "schema": {"type": "string", "maxLength": MAX_LANG_LENGTH},
        }
    ],
    "responses": {"200": {"description": "The guide.", "content": {"text/html": {"schema": {}}}}},
}

SECURITY_SCHEMES = {
    "ApiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "A key from `flask --app app create-api-key NAME`: its own per-minute "
        f"limit (up to {MAX_PER_MINUTE}).",
    },
    "Bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "The same key, as a Bearer token.",
    },
}

POLICY = (
    " Keys are optional: without one you share your IP address's limit. "
    "Versioning: /api/v1 stays compatible: fields and endpoints may be added, never removed or "
    "changed in meaning. A breaking change gets /api/v2; the v1 endpoints it replaces then send "
    "Deprecation (RFC 9745) and Sunset (RFC 8594) headers and a Link rel=deprecation to the "
    "migration notes, at least six months before the sunset date."
)


def extend(document, *, live_fields):
    """Add security, limits, validators, the feed, the export and the guide to the document."""
    components = document["components"]
    components["schemas"]["Change"] = deepcopy(CHANGE)
    components["schemas"]["StationRecord"] = station_record(
        components["schemas"]["Station"], live_fields
    )
    components["responses"] |= deepcopy(RESPONSES)
    components["headers"] = deepcopy(HEADERS)
    components["securitySchemes"] = deepcopy(SECURITY_SCHEMES)
    document["security"] = [{}, {"ApiKey": []}, {"Bearer": []}]
    document["info"]["description"] += POLICY
    paths = document["paths"]
    paths["/api/v1/stations/changes"] = {"get": deepcopy(CHANGES)}
    paths["/api/v1/stations/export"] = {"get": deepcopy(EXPORT)}
    for item in paths.values():
        for operation in item.values():
            _extend_operation(operation)
    paths["/api/docs"] = {"get": deepcopy(DOCS)}
    return document


def _extend_operation(operation):
    responses = operation["responses"]
    ok = responses.get("200") or responses["201"]
    ok["headers"] = header_refs("Cache-Control", "Deprecation", "Sunset", "Link") | ok.get(
        "headers", {}
    )
    responses["401"] = {"$ref": "#/components/responses/Unauthorized"}
    if operation["operationId"] not in UNLIMITED_OPERATIONS:
        ok["headers"] |= header_refs(*_RATE_HEADERS)
        responses["429"] = {"$ref": "#/components/responses/TooManyRequests"}
    if operation["operationId"] in ETAG_OPERATIONS:
        ok["headers"] |= header_refs("ETag")
        operation["parameters"] = operation.get("parameters", []) + CONDITIONAL_PARAMETERS[:1]
        responses["304"] = {"$ref": "#/components/responses/NotModified"}
    if operation["operationId"] in DATED_OPERATIONS:
        ok["headers"] |= header_refs("Last-Modified")
        operation["parameters"] += CONDITIONAL_PARAMETERS[1:]
