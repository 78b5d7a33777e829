"""The OpenAPI parts of the partner API: keys, limits, cache validators, the change feed, the
export, the guide, and the versioning policy. `extend()` adds them to the base document."""

from copy import deepcopy

from ..core.datum import DATUMS
from .keys import MAX_PER_MINUTE

# The longest lang the guide reads: RFC 5646 asks room for language tags of 35 characters.
MAX_LANG_LENGTH = 35

_PROBLEM_BODY = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
_TEXT = {"type": "string"}
# Operations answering If-None-Match (ETag), and those also answering If-Modified-Since.
ETAG_OPERATIONS = {"nearestStations", "getStation", "listStations", "exportStations"}
DATED_OPERATIONS = {"getStation", "listStations", "exportStations"}
UNLIMITED_OPERATIONS = {"health", "ready"}

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
        "schema": _TEXT,
    },
    "Cache-Control": {
        "description": "public, no-cache for data (keep it, but revalidate: a 304 is cheap); "
        "public, max-age=3600 for this document; no-store for errors and the health probe.",
        "required": True,
        "schema": _TEXT,
    },
    "RateLimit-Limit": {
        "description": "Requests allowed per window for this caller (key, or IP without a key).",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
    "RateLimit-Remaining": {
        "description": "Requests left in the current window. Under a high limit each server "
        "process counts up to 1/100 of what is left ahead, so this is then close, not exact.",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
    "RateLimit-Reset": {
        "description": "Seconds until the count goes down, so that more requests fit again "
        "(the limit is counted over a sliding window of RateLimit-Policy's w seconds).",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
    "RateLimit-Policy": {
        "description": 'The limit and its window in seconds, e.g. "600;w=60".',
        "schema": {"type": "string", "pattern": "^[0-9]+;w=[0-9]+$"},
    },
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "required": True,
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
    "Deprecation": {
        "description": "Only on deprecated endpoints: when they were deprecated (RFC 9745, "
        '"@" and Unix seconds). See the versioning policy above.',
        "schema": {"type": "string", "pattern": "^@[0-9]+$"},
    },
    "Sunset": {
        "description": "Only on deprecated endpoints: the HTTP date after which they may stop "
        "answering (RFC 8594).",
        "schema": _TEXT,
    },
    "Link": {
        "description": 'rel="deprecation" (a deprecated endpoint\'s migration notes) or '
        'rel="license" (the export\'s data licence).',
        "schema": _TEXT,
    },
    "WWW-Authenticate": {
        "description": 'Bearer realm="api", error="invalid_token"',
        "required": True,
        "schema": _TEXT,
    },
}
_RATE_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy")


def _headers(*names):
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


RESPONSES = {
    "Unauthorized": {
        "description": "The API key sent (X-API-Key or Authorization: Bearer) is not known, or "
        "has been revoked. Send no key to be served anonymously, under the per-IP limit.",
        "headers": _headers("WWW-Authenticate", "Cache-Control"),
        "content": _PROBLEM_BODY,
    },
    "TooManyRequests": {
        "description": "Over the limit: per key (its own per-minute limit), or per IP address "
        "without a key. Wait Retry-After seconds.",
        "headers": _headers("Retry-After", "Cache-Control", *_RATE_HEADERS),
        "content": _PROBLEM_BODY,
    },
    "NotModified": {
        "description": "Your copy (If-None-Match, or If-Modified-Since) is current; no body.",
        "headers": _headers("ETag", "Cache-Control"),
    },
    "CursorAhead": {
        "description": "Conflict: the cursor is ahead of the feed (the data was restored or "
        "replaced): drop your copy and replay the feed from the start.",
        "content": _PROBLEM_BODY,
    },
}

CONDITIONAL_PARAMETERS = [
    {
        "name": "If-None-Match",
        "in": "header",
        "required": False,
        "description": "The ETag of your copy: 304 with no body if it is still current.",
        "schema": _TEXT,
    },
    {
        "name": "If-Modified-Since",
        "in": "header",
        "required": False,
        "description": "The Last-Modified of your copy (ignored when If-None-Match is sent).",
        "schema": _TEXT,
    },
]

CHANGE = {
    "type": "object",
    "required": ["seq", "op", "id"],
    "properties": {
        "seq": {"type": "integer", "description": "The change number; increasing, with gaps."},
        "op": {"enum": ["upsert", "delete"]},
        "id": {"type": "integer", "description": "The station id."},
        "station": {
            "$ref": "#/components/schemas/StationRecord",
            "description": "op upsert: the station as it is now.",
        },
        "external_id": {"type": "string", "description": "op delete: its external id."},
        "reason": {
            "enum": ["deleted"],
            "description": "op delete: deleted (which is also how a station is retired).",
        },
        "deleted_at": {"type": "string", "format": "date-time"},
    },
}

CHANGES = {
    "summary": "Stations changed since a cursor or a time, deletions included",
    "description": "Replay from the start (no since), then keep calling with next_cursor: your "
    "copy then equals the current set of stations. Changes come in commit order; a station "
    "changed again is sent again. since=<time> starts from changes after that time (by the "
    "server's clock: a convenience; use next_cursor for exact, gap-free syncing).",
    "operationId": "stationChanges",
    "parameters": [
        {
            "name": "since",
            "in": "query",
            "required": False,
            "description": "A next_cursor you were given, or an RFC 3339 time with a zone.",
            "schema": {
                "anyOf": [
                    {"type": "string", "pattern": "^[0-9]{1,18}$"},
                    {"type": "string", "format": "date-time", "maxLength": 40},
                ]
            },
        },
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "description": "Changes per page, 1 to 1000.",
            "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
        },
        {
            "name": "coord",
            "in": "query",
            "required": False,
            "description": "Datum of the positions in the stations sent.",
            "schema": {"type": "string", "enum": list(DATUMS), "default": "wgs84"},
        },
    ],
    "responses": {
        "200": {
            "description": "A page of changes.",
            "headers": _headers("Cache-Control"),
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["changes", "next_cursor", "has_more", "coord"],
                        "properties": {
                            "changes": {
                                "type": "array",
                                "items": {"$ref": "#/components/schemas/Change"},
                            },
                            "next_cursor": {"type": "string", "pattern": "^[0-9]+$"},
                            "has_more": {"type": "boolean"},
                            "coord": {"enum": list(DATUMS)},
                        },
                    }
                }
            },
        },
        "400": {"$ref": "#/components/responses/Problem"},
        "409": {"$ref": "#/components/responses/CursorAhead"},
    },
}

EXPORT = {
    "summary": "Every station, as GeoJSON or CSV (open data, CC BY 4.0)",
    "description": "The data licence is in the Link header (rel=license), in X-Data-License "
    "and, for GeoJSON, in the license member. Stations marked is_sample are generated sample "
    "data. The stored fields only (StationRecord): no open_now, next_change_at or "
    "open_reports.",
    "operationId": "exportStations",
    "parameters": [
        {
            "name": "format",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "enum": ["geojson", "csv"], "default": "geojson"},
        }
    ],
    "responses": {
        "200": {
            "description": "All stations.",
            "headers": _headers("Link")
            | {
                "X-Data-License": {"description": "CC BY 4.0", "schema": _TEXT},
                "Content-Disposition": {"description": "A file name to save as.", "schema": _TEXT},
            },
            "content": {
                "application/geo+json": {
                    "schema": {
                        "type": "object",
                        "required": ["type", "license", "count", "features"],
                        "properties": {
                            "type": {"const": "FeatureCollection"},
                            "license": {"type": "object"},
                            "count": {"type": "integer"},
                            "features": {
                                "type": "array",
                                "items": {"$ref": "#/components/schemas/Feature"},
                            },
                        },
                    }
                },
                "text/csv": {"schema": _TEXT},
            },
        },
        "400": {"$ref": "#/components/responses/Problem"},
    },
}

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


def station_record(station, live_fields):
    """The Station schema without the fields worked out at each request."""
    record = deepcopy(station)
    record["description"] = "A station's stored fields: " + ", ".join(live_fields) + " are live."
    record["required"] = [name for name in record["required"] if name not in live_fields]
    for name in live_fields:
        del record["properties"][name]
    return record


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
    ok["headers"] = _headers("Cache-Control", "Deprecation", "Sunset", "Link") | ok.get(
        "headers", {}
    )
    responses["401"] = {"$ref": "#/components/responses/Unauthorized"}
    if operation["operationId"] not in UNLIMITED_OPERATIONS:
        ok["headers"] |= _headers(*_RATE_HEADERS)
        responses["429"] = {"$ref": "#/components/responses/TooManyRequests"}
    if operation["operationId"] in ETAG_OPERATIONS:
        ok["headers"] |= _headers("ETag")
        operation["parameters"] = operation.get("parameters", []) + CONDITIONAL_PARAMETERS[:1]
        responses["304"] = {"$ref": "#/components/responses/NotModified"}
    if operation["operationId"] in DATED_OPERATIONS:
        ok["headers"] |= _headers("Last-Modified")
        operation["parameters"] += CONDITIONAL_PARAMETERS[1:]
