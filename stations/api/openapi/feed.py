"""The OpenAPI parts of the change feed: its operation and the Change schema."""

from ...core.datum import DATUMS
from ..feed import MAX_SINCE_LENGTH
from .parameters import COORD_SCHEMA, query
from .schemas import PROBLEM_RESPONSE, header_refs

_A_TIME = {"type": "string", "format": "date-time", "maxLength": MAX_SINCE_LENGTH}

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
        query(
            "since",
            "A next_cursor you were given, or an RFC 3339 time with a zone.",
            {"anyOf": [{"type": "string", "pattern": "^[0-9]{1,18}$"}, _A_TIME]},
        ),
        query(
            "limit",
            "Changes per page, 1 to 1000.",
            {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
        ),
        query("coord", "Datum of the positions in the stations sent.", COORD_SCHEMA),
    ],
    "responses": {
        "200": {
            "description": "A page of changes.",
            "headers": header_refs("Cache-Control"),
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
        "400": PROBLEM_RESPONSE,
        "409": {"$ref": "#/components/responses/CursorAhead"},
    },
}
