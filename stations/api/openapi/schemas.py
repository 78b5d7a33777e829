"""The OpenAPI components: the bodies' schemas, and the references that point at them."""

from copy import deepcopy

from ...core.models import AMENITIES, CHECKIN_FACTS, KINDS, STATUSES

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
        "confirmations",
        "riders_report_otherwise",
        "may_be_out_of_date",
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
        "confirmations": {
            "type": "object",
            "description": "For the open state and each amenity riders can check in: who last "
            "confirmed what the station's data says, and what riders said lately.",
            "required": list(CHECKIN_FACTS),
            "additionalProperties": False,
            "properties": {
                fact: {"$ref": "#/components/schemas/Confirmation"} for fact in CHECKIN_FACTS
            },
        },
        "riders_report_otherwise": {
            "type": "boolean",
            "description": "At least 3 riders' devices contradicted the station's data of one "
            "fact in the last 24 hours, since its manager last confirmed it. The filters still "
            "follow the manager's data.",
        },
        "may_be_out_of_date": {
            "type": "boolean",
            "description": "Neither its manager nor riders confirmed anything here in 30 days.",
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
_RIDERS = {"type": "integer", "minimum": 0}
CONFIRMATION = {
    "type": "object",
    "description": "One fact: open now, or an amenity. Riders are counted by distinct devices.",
    "required": [
        "confirmed_at",
        "confirmed_by",
        "riders_yes_24h",
        "riders_no_24h",
        "riders_yes_7d",
        "riders_no_7d",
        "riders_otherwise",
    ],
    "additionalProperties": False,
    "properties": {
        "confirmed_at": {
            "type": ["string", "null"],
            "format": "date-time",
            "description": "When the station's data of this fact was last confirmed: by its "
            "manager (verified_at) or by a rider's check-in agreeing with it (in the last 30 "
            "days); null if never.",
        },
        "confirmed_by": {"enum": ["manager", "riders", None]},
        "riders_yes_24h": _RIDERS | {"description": "Riders who said yes in the last 24 hours."},
        "riders_no_24h": _RIDERS | {"description": "Riders who said no in the last 24 hours."},
        "riders_yes_7d": _RIDERS | {"description": "Riders who said yes in the last 7 days."},
        "riders_no_7d": _RIDERS | {"description": "Riders who said no in the last 7 days."},
        "riders_otherwise": {
            "type": "boolean",
            "description": "At least 3 riders contradicted the station's data in the last 24 "
            "hours, since its manager last confirmed it.",
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
        "Confirmation": CONFIRMATION,
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
