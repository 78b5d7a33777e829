"""The OpenAPI operations of the station endpoints: nearest, one, a box, reports, check-ins, and
the probes."""

from ...core.datum import DATUMS
from ...core.models import CHECKIN_AMENITIES, REPORT_REASONS
from ...core.reports import MAX_TEXT_LENGTH
from ..bodies import DEVICE_PATTERN
from .parameters import COORD_OR_GEOJSON, FORMAT, STATION_ID, list_parameters, nearest_parameters
from .probes import ready_operation
from .schemas import PAGING, PROBLEM_RESPONSE

_STATION_REF = {"$ref": "#/components/schemas/Station"}
_FEATURE_REF = {"$ref": "#/components/schemas/Feature"}


def station_paths():
    """The paths of the station endpoints, each with its operation."""
    return {
        "/api/v1/stations/nearest": {"get": _nearest()},
        "/api/v1/stations/{station_id}": {"get": _one()},
        "/api/v1/stations": {"get": _listing()},
        "/api/v1/stations/{station_id}/reports": {"post": _report()},
        "/api/v1/stations/{station_id}/checkins": {"post": _checkin()},
        "/api/v1/health": {"get": _health()},
        "/api/v1/ready": {"get": ready_operation()},
        "/api/v1/openapi.json": {"get": _openapi()},
    }


def _ok(description, schema, geojson_schema=None):
    content = {"application/json": {"schema": schema}}
    if geojson_schema:
        content["application/geo+json"] = {"schema": geojson_schema}
    return {"200": {"description": description, "content": content}, "400": PROBLEM_RESPONSE}


def _nearest():
    body = {
        "type": "object",
        "required": ["data", "count", "coord"],
        "properties": {
            "data": {"type": "array", "items": {"$ref": "#/components/schemas/NearestStation"}},
            "count": {"type": "integer"},
            "coord": {"type": "string", "enum": list(DATUMS)},
        },
    }
    return {
        "summary": "The nearest stations to a position",
        "description": (
            "Ascending distance_m. Filters apply before the limit. Each search is counted for "
            "the coverage map, as its ~500 m grid cell, day, kind filter and distance band to "
            "the nearest open match only: no position, address, device, IP address or key is kept."
        ),
        "operationId": "nearestStations",
        "parameters": nearest_parameters(),
        "responses": _ok("The nearest stations.", body),
    }


def _one():
    body = {"type": "object", "required": ["data"], "properties": {"data": _STATION_REF}}
    return {
        "summary": "One station",
        "operationId": "getStation",
        "parameters": [STATION_ID, COORD_OR_GEOJSON, FORMAT],
        "responses": _ok("The station.", body, _FEATURE_REF) | {"404": PROBLEM_RESPONSE},
    }


def _listing():
    body = {
        "type": "object",
        "required": ["data", "page", "per_page", "total"],
        "properties": {"data": {"type": "array", "items": _STATION_REF}} | PAGING,
    }
    collection = {
        "type": "object",
        "required": ["type", "features", "page", "per_page", "total"],
        "properties": {
            "type": {"const": "FeatureCollection"},
            "features": {"type": "array", "items": _FEATURE_REF},
        }
        | PAGING,
    }
    return {
        "summary": "Stations in a bounding box, paged, by id",
        "operationId": "listStations",
        "parameters": list_parameters(),
        "responses": _ok("A page of stations.", body, collection),
    }


def _report():
    reason = {"type": "string", "enum": list(REPORT_REASONS)}
    text = {"type": ["string", "null"], "maxLength": MAX_TEXT_LENGTH}
    request = {
        "type": "object",
        "required": ["reason"],
        "additionalProperties": False,
        "properties": {"reason": reason, "text": text},
    }
    report = {
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
    created = {"type": "object", "required": ["data"], "properties": {"data": report}}
    return {
        "summary": "Report a problem at a station",
        "description": "No login. The station's managers see the report and resolve it; until "
        "then it counts in the station's open_reports. Limited per IP address and per station "
        "(429 when exceeded, with Retry-After).",
        "operationId": "reportProblem",
    } | _rider_write(request, created, stored="The report is stored.")


def _checkin():
    amenities = {
        "type": "object",
        "description": "Amenity name: true, the station has it now; false, it does not.",
        "additionalProperties": False,
        "properties": {name: {"type": "boolean"} for name in CHECKIN_AMENITIES},
    }
    is_open = {"type": "boolean", "description": "true: open now; false: not open now."}
    device = {
        "type": "string",
        "pattern": DEVICE_PATTERN,
        "description": "A random id the rider's device keeps (the rider page keeps one in the "
        "browser's local storage); only its SHA-256 is stored, with no account, IP or key.",
    }
    request = {
        "type": "object",
        "required": ["device"],
        "additionalProperties": False,
        "description": "At least one fact: open, or an amenity in amenities.",
        "anyOf": [
            {"required": ["open"]},
            {"required": ["amenities"], "properties": {"amenities": {"minProperties": 1}}},
        ],
        "properties": {"device": device, "open": is_open, "amenities": amenities},
    }
    checkin = {
        "type": "object",
        "required": ["station_id", "amenities", "counted"],
        "properties": {
            "station_id": {"type": "integer"},
            "open": is_open,
            "amenities": amenities,
            "counted": {
                "type": "boolean",
                "description": "false when it only repeated, and replaced, this device's "
                "check-ins at this station within the last hour (counted once).",
            },
        },
    }
    created = {"type": "object", "required": ["data"], "properties": {"data": checkin}}
    return {
        "summary": "Check in: confirm or deny what a station has now",
        "description": "No login. One tap per fact: whether the station is open now, and whether "
        "it has each amenity. A device's check-ins at a station within an hour count once. "
        "Stations then show who last confirmed each fact and how many riders said yes or no "
        "(confirmations); the manager's data stays what the filters use. Not a report: a "
        "manager sees riders disagreeing with the data, but nothing is opened for them to "
        "resolve. Limited per IP address and per station (429 when exceeded, with Retry-After).",
        "operationId": "checkIn",
    } | _rider_write(request, created, stored="The check-in is stored.")


def _rider_write(request, created, *, stored):
    """The parameters, body and answers of a rider's write to a station (a report, a check-in)."""
    return {
        "parameters": [STATION_ID],
        "requestBody": {"required": True, "content": {"application/json": {"schema": request}}},
        "responses": {
            "201": {"description": stored, "content": {"application/json": {"schema": created}}},
            "400": PROBLEM_RESPONSE,
            "404": PROBLEM_RESPONSE,
            "429": PROBLEM_RESPONSE,
        },
    }


def _health():
    status = {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}}
    return {
        "summary": "Liveness probe",
        "operationId": "health",
        "responses": {
            "200": {
                "description": "The app is up",
                "content": {"application/json": {"schema": status}},
            }
        },
    }


def _openapi():
    return {
        "summary": "This document",
        "operationId": "openapi",
        "responses": {
            "200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {}}}}
        },
    }
