"""The OpenAPI 3.1 document, built from the same constants the API validates with."""

from functools import cache

from ..core.changes import LIVE_FIELDS
from ..core.datum import DATUMS
from ..core.models import AMENITIES, KINDS, REPORT_REASONS, STATUSES
from ..core.reports import MAX_TEXT_LENGTH
from ..ids import MAX_ID
from . import openapi_partner, openapi_server
from .params import BBOX_PATTERN

_PROBLEM = {"$ref": "#/components/responses/Problem"}
_NULLABLE_TEXT = {"type": ["string", "null"]}


def _param(name, description, schema, *, required=False):
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema | ({} if "maxLength" in schema else {}),
    }


def _list_of(choices):
    pattern = "^(" + "|".join(choices) + ")(,(" + "|".join(choices) + "))*$"
    return {"type": "string", "pattern": pattern, "maxLength": 1000}


_COORD = _param(
    "coord",
    "Datum of the coordinates you send and get back: wgs84 (GPS, OSM), gcj02 (Amap, Tencent) "
    "or bd09 (Baidu). Distances are always computed on the stored WGS-84 positions.",
    {"type": "string", "enum": list(DATUMS), "default": "wgs84"},
)
_FORMAT = _param(
    "format",
    "geojson for RFC 7946 GeoJSON, the same as Accept: application/geo+json. GeoJSON is "
    "WGS-84 only: with coord gcj02 or bd09 it is refused with 400, naming coord.",
    {"type": "string", "enum": ["json", "geojson"], "default": "json"},
)
# Where GeoJSON may be asked for, the datum says so too.
_COORD_OR_GEOJSON = _COORD | {
    "description": _COORD["description"] + " GeoJSON output (format=geojson, or Accept: "
    "application/geo+json) is WGS-84 only: with gcj02 or bd09 it is refused with 400."
}

_STATION = {
    "type": "object",
    "required": [
        "id",
        "external_id",
        "name",
        "kind",
        "lat",
        "lng",
        "address",
        "district",
        "phone",
        "amenities",
        "opening_hours",
        "open_now",
        "next_change_at",
        "status",
        "closed_reason",
        "closed_until",
        "open_reports",
        "verified_at",
        "updated_at",
        "is_sample",
    ],
    "properties": {
        "id": {"type": "integer"},
        "external_id": {"type": "string"},
        "name": {"type": "string"},
        "kind": {"type": "string", "enum": list(KINDS)},
        "lat": {"type": "number", "description": "Latitude in the requested datum, 7 decimals."},
        "lng": {"type": "number", "description": "Longitude in the requested datum, 7 decimals."},
        "address": _NULLABLE_TEXT,
        "district": _NULLABLE_TEXT,
        "phone": _NULLABLE_TEXT,
        "amenities": {
            "type": "object",
            "description": "true = available, false = not available, null = unknown.",
            "required": list(AMENITIES),
            "additionalProperties": False,
            "properties": {name: {"type": ["boolean", "null"]} for name in AMENITIES},
        },
        "opening_hours": {
            "type": ["string", "null"],
            "description": "OpenStreetMap opening_hours syntax; null means unknown.",
        },
        "open_now": {
            "type": ["boolean", "null"],
            "description": "Open at the time of the request (Asia/Shanghai); null when the "
            "hours are unknown. A closed or temporarily closed station is never open.",
        },
        "next_change_at": {
            "type": ["string", "null"],
            "format": "date-time",
            "description": "When the station next opens (if closed now) or closes (if open now), "
            "in Asia/Shanghai time (+08:00); null for 24/7, unknown hours or a station that "
            "is not in service.",
        },
        "status": {
            "type": "string",
            "enum": list(STATUSES),
            "description": "The status in force at the time of the request: a temporarily_closed "
            "station is open again from 00:00 Asia/Shanghai on the day after its closed_until "
            "(and then shows open, with closed_reason and closed_until null).",
        },
        "closed_reason": {
            "type": ["string", "null"],
            "description": "Why a temporarily_closed station is closed, as its manager wrote it.",
        },
        "closed_until": {
            "type": ["string", "null"],
            "format": "date",
            "description": "The last day a temporarily_closed station expects to be closed.",
        },
        "open_reports": {
            "type": "integer",
            "minimum": 0,
            "description": "Rider reports of a problem here that no manager has resolved yet.",
        },
        "verified_at": {
            "type": ["string", "null"],
            "format": "date-time",
            "description": "When a manager last confirmed that everything here is right.",
        },
        "updated_at": {
            "type": "string",
            "format": "date-time",
            "description": "The latest change to any field.",
        },
        "is_sample": {
            "type": "boolean",
            "description": "true for generated sample data, which is not a real station.",
        },
    },
}
_NEAREST_STATION = {
    "allOf": [
        {"$ref": "#/components/schemas/Station"},
        {
            "type": "object",
            "required": ["distance_m"],
            "properties": {
                "distance_m": {
                    "type": "number",
                    "description": "Geodesic distance on the WGS-84 ellipsoid, metres.",
                }
            },
        },
    ]
}
_FEATURE = {
    "type": "object",
    "required": ["type", "id", "geometry", "properties"],
    "properties": {
        "type": {"const": "Feature"},
        "id": {"type": "integer"},
        "geometry": {
            "type": "object",
            "required": ["type", "coordinates"],
            "properties": {
                "type": {"const": "Point"},
                "coordinates": {
                    "type": "array",
                    "minItems": 2,
                    "maxItems": 2,
                    "items": {"type": "number"},
                    "description": "[lng, lat]",
                },
            },
        },
        "properties": {"type": "object"},
    },
}
_PAGING = {
    "page": {"type": "integer", "minimum": 1},
    "per_page": {"type": "integer", "minimum": 1, "maximum": 500},
    "total": {"type": "integer", "minimum": 0},
}
_PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "Each bad parameter and why it is bad.",
            "items": {
                "type": "object",
                "required": ["name", "reason"],
                "properties": {"name": {"type": "string"}, "reason": {"type": "string"}},
            },
        },
    },
}


def _ok(description, schema, geojson_schema=None):
    content = {"application/json": {"schema": schema}}
    if geojson_schema:
        content["application/geo+json"] = {"schema": geojson_schema}
    return {"200": {"description": description, "content": content}, "400": _PROBLEM}


def _report_operation():
    reason = {"type": "string", "enum": list(REPORT_REASONS)}
    text = {"type": ["string", "null"], "maxLength": MAX_TEXT_LENGTH}
    request = {
        "type": "object",
        "required": ["reason"],
        "additionalProperties": False,
        "properties": {"reason": reason, "text": text},
    }
    created = {
        "type": "object",
        "required": ["data"],
        "properties": {
            "data": {
                "type": "object",
                "required": ["id", "station_id", "reason", "text", "status"],
                "properties": {
                    "id": {"type": "integer"},
                    "station_id": {"type": "integer"},
                    "reason": reason,
                    "text": text,
                    "status": {"const": "open"},
                },
            }
        },
    }
    return {
        "summary": "Report a problem at a station",
        "description": "No login. The station's managers see the report and resolve it; until "
        "then it counts in the station's open_reports. Limited per IP address and per station "
        "(429 when exceeded, with Retry-After).",
        "operationId": "reportProblem",
        "parameters": [
            {
                "name": "station_id",
                "in": "path",
                "required": True,
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
            }
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": request}},
        },
        "responses": {
            "201": {
                "description": "The report is stored.",
                "content": {"application/json": {"schema": created}},
            },
            "400": _PROBLEM,
            "404": _PROBLEM,
            "429": _PROBLEM,
        },
    }


@cache
def openapi_document():
    """The OpenAPI 3.1 document (built once)."""
    document = openapi_partner.extend(_base_document(), live_fields=LIVE_FIELDS)
    return openapi_server.extend(document)


def _base_document():
    """The station endpoints; openapi_partner adds keys, limits, caching, the feed and more."""
    station_ref = {"$ref": "#/components/schemas/Station"}
    nearest = {
        "summary": "The nearest stations to a position",
        "description": "Ascending distance_m. Filters apply before the limit.",
        "operationId": "nearestStations",
        "parameters": [
            _param(
                "lat",
                "Latitude, -90 to 90.",
                {"type": "number", "minimum": -90, "maximum": 90},
                required=True,
            ),
            _param(
                "lng",
                "Longitude, -180 to 180.",
                {"type": "number", "minimum": -180, "maximum": 180},
                required=True,
            ),
            _COORD,
            _param(
                "limit",
                "How many stations, 1 to 50.",
                {"type": "integer", "minimum": 1, "maximum": 50, "default": 10},
            ),
            _param(
                "radius_m",
                "Only stations within this many metres, 1 to 50000.",
                {"type": "number", "minimum": 1, "maximum": 50000},
            ),
            _param("kind", "Comma-separated station kinds; any of them matches.", _list_of(KINDS)),
            _param(
                "amenities",
                "Comma-separated amenities that must all be available "
                "(true); unknown does not match.",
                _list_of(AMENITIES),
            ),
            _param(
                "open_now",
                "true keeps only stations open now (Asia/Shanghai); unknown "
                "hours are excluded. false (the default) does not filter.",
                {"type": "string", "enum": ["true", "false"], "default": "false"},
            ),
            _param(
                "open_24_7",
                'true keeps only stations in service whose hours are "24/7".',
                {"type": "string", "enum": ["true", "false"], "default": "false"},
            ),
        ],
        "responses": _ok(
            "The nearest stations.",
            {
                "type": "object",
                "required": ["data", "count", "coord"],
                "properties": {
                    "data": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/NearestStation"},
                    },
                    "count": {"type": "integer"},
                    "coord": {"type": "string", "enum": list(DATUMS)},
                },
            },
        ),
    }
    one = {
        "summary": "One station",
        "operationId": "getStation",
        "parameters": [
            {
                "name": "station_id",
                "in": "path",
                "required": True,
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
            },
            _COORD_OR_GEOJSON,
            _FORMAT,
        ],
        "responses": _ok(
            "The station.",
            {"type": "object", "required": ["data"], "properties": {"data": station_ref}},
            {"$ref": "#/components/schemas/Feature"},
        )
        | {"404": _PROBLEM},
    }
    listing = {
        "summary": "Stations in a bounding box, paged, by id",
        "operationId": "listStations",
        "parameters": [
            _param(
                "bbox",
                "min_lng,min_lat,max_lng,max_lat in the coord datum, plain decimals, each "
                "minimum not above its maximum (else 400, naming bbox); all stations when "
                "absent.",
                {"type": "string", "maxLength": 1000, "pattern": BBOX_PATTERN},
            ),
            _COORD_OR_GEOJSON,
            _FORMAT,
            _param(
                "page",
                "Page number from 1; past the end gives an empty list.",
                {"type": "integer", "minimum": 1, "maximum": 1000000, "default": 1},
            ),
            _param(
                "per_page",
                "Items per page, 1 to 500.",
                {"type": "integer", "minimum": 1, "maximum": 500, "default": 100},
            ),
        ],
        "responses": _ok(
            "A page of stations.",
            {
                "type": "object",
                "required": ["data", "page", "per_page", "total"],
                "properties": {"data": {"type": "array", "items": station_ref}} | _PAGING,
            },
            {
                "type": "object",
                "required": ["type", "features", "page", "per_page", "total"],
                "properties": {
                    "type": {"const": "FeatureCollection"},
                    "features": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/Feature"},
                    },
                }
                | _PAGING,
            },
        ),
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Shenzhen rest-station locator API",
            "version": "1.0.0",
            "description": "Rest stations for outdoor workers in Shenzhen: 暖蜂驿站, 司机之家 and "
            "24-hour 党群服务中心. Positions are stored in WGS-84. Every error is "
            "application/problem+json. Unknown or repeated parameters, and values over 1000 "
            "characters, are rejected with 400.",
        },
        "servers": [{"url": "/"}],
        "paths": {
            "/api/v1/stations/nearest": {"get": nearest},
            "/api/v1/stations/{station_id}": {"get": one},
            "/api/v1/stations": {"get": listing},
            "/api/v1/stations/{station_id}/reports": {"post": _report_operation()},
            "/api/v1/health": {
                "get": {
                    "summary": "Liveness probe",
                    "operationId": "health",
                    "responses": {
                        "200": {
                            "description": "The app is up",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["status"],
                                        "properties": {"status": {"const": "ok"}},
                                    }
                                }
                            },
                        }
                    },
                }
            },
            "/api/v1/ready": {
                "get": {
                    "summary": "Readiness probe",
                    "description": "Ready when the database answers with its schema at the latest "
                    "migration, and Redis answers when the server uses it (the redis check is "
                    "present only then). Never rate limited.",
                    "operationId": "ready",
                    "responses": {
                        "200": {
                            "description": "Ready to serve",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["status", "checks"],
                                        "properties": {
                                            "status": {"const": "ready"},
                                            "checks": {
                                                "type": "object",
                                                "required": ["database", "schema"],
                                                "properties": {
                                                    "database": {"const": "ok"},
                                                    "schema": {"const": "ok"},
                                                    "redis": {"const": "ok"},
                                                },
                                            },
                                        },
                                    }
                                }
                            },
                        },
                        "503": {
                            "description": "Not ready: `detail` names what failed, `checks` "
                            "holds every check's state. Ask again after Retry-After seconds.",
                            "headers": {
                                "Retry-After": {"$ref": "#/components/headers/Retry-After"}
                            },
                            "content": {
                                "application/problem+json": {
                                    "schema": {
                                        "allOf": [
                                            {"$ref": "#/components/schemas/Problem"},
                                            {
                                                "type": "object",
                                                "required": ["checks"],
                                                "properties": {
                                                    "checks": {
                                                        "type": "object",
                                                        "properties": {
                                                            "database": {
                                                                "enum": ["ok", "unreachable"]
                                                            },
                                                            "schema": {
                                                                "enum": [
                                                                    "ok",
                                                                    "missing",
                                                                    "behind",
                                                                    "ahead",
                                                                    "unchecked",
                                                                ]
                                                            },
                                                            "redis": {
                                                                "enum": ["ok", "unreachable"]
                                                            },
                                                        },
                                                    }
                                                },
                                            },
                                        ]
                                    }
                                }
                            },
                        },
                    },
                }
            },
            "/api/v1/openapi.json": {
                "get": {
                    "summary": "This document",
                    "operationId": "openapi",
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3.1",
                            "content": {"application/json": {"schema": {}}},
                        }
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "Station": _STATION,
                "NearestStation": _NEAREST_STATION,
                "Feature": _FEATURE,
                "Problem": _PROBLEM_SCHEMA,
            },
            "responses": {
                "Problem": {
                    "description": "The request was not understood; `errors` names each bad "
                    "parameter.",
                    "content": {
                        "application/problem+json": {
                            "schema": {"$ref": "#/components/schemas/Problem"}
                        }
                    },
                },
            },
        },
    }
