"""The OpenAPI operations of the station endpoints: nearest, one, a box, reports, and the probes."""

from ...core.datum import DATUMS
from ...core.models import REPORT_REASONS
from ...core.reports import MAX_TEXT_LENGTH
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
        "parameters": [STATION_ID],
        "requestBody": {"required": True, "content": {"application/json": {"schema": request}}},
        "responses": {
            "201": {
                "description": "The report is stored.",
                "content": {"application/json": {"schema": created}},
            },
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
