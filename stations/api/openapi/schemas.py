"""The OpenAPI components: the bodies' schemas, and the references that point at them."""

from copy import deepcopy

from ...core.models import AMENITIES, KINDS, STATUSES

NULLABLE_TEXT = {"type": ["string", "null"]}
TEXT = {"type": "string"}
PROBLEM_JSON = {"schema": {"$ref": "#/components/schemas/Problem"}}
PROBLEM_BODY = {"application/problem+json": PROBLEM_JSON}
PROBLEM_RESPONSE = {"$ref": "#/components/responses/Problem"}


def header_refs(*names):
    """References to these headers of components/headers, by name."""
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


STATION = {
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
        "address": NULLABLE_TEXT,
        "district": NULLABLE_TEXT,
        "phone": NULLABLE_TEXT,
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
NEAREST_STATION = {
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
FEATURE = {
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
PAGING = {
    "page": {"type": "integer", "minimum": 1},
    "per_page": {"type": "integer", "minimum": 1, "maximum": 500},
    "total": {"type": "integer", "minimum": 0},
}
PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status", "detail", "request_id"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "request_id": {
            "type": "string",
            "description": "This request's id, as in the X-Request-ID response header and the "
            "server's logs: quote it when reporting a problem.",
        },
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


def base_schemas():
    """The schemas of the station endpoints (the partner parts add theirs)."""
    return {
        "Station": STATION,
        "NearestStation": NEAREST_STATION,
        "Feature": FEATURE,
        "Problem": PROBLEM,
    }


def station_record(station, live_fields):
    """The Station schema without the fields worked out at each request."""
    record = deepcopy(station)
    record["description"] = "A station's stored fields: " + ", ".join(live_fields) + " are live."
    record["required"] = [name for name in record["required"] if name not in live_fields]
    for name in live_fields:
        del record["properties"][name]
    return record
