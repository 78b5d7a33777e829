"""The OpenAPI parameters of the station endpoints, with the limits the API checks them against."""

from ...core.datum import DATUMS
from ...core.models import AMENITIES, KINDS
from ...ids import MAX_ID
from ..params import BBOX_PATTERN, MAX_VALUE_LENGTH

COORD_SCHEMA = {"type": "string", "enum": list(DATUMS), "default": "wgs84"}
STATION_ID = {
    "name": "station_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
}


def query(name, description, schema, *, required=False):
    """A query parameter."""
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    }


def list_of(choices):
    """The schema of a comma-separated list of some of `choices`."""
    pattern = "^(" + "|".join(choices) + ")(,(" + "|".join(choices) + "))*$"
    return {"type": "string", "pattern": pattern, "maxLength": MAX_VALUE_LENGTH}


COORD = query(
    "coord",
    "Datum of the coordinates you send and get back: wgs84 (GPS, OSM), gcj02 (Amap, Tencent) "
    "or bd09 (Baidu). Distances are always computed on the stored WGS-84 positions.",
    COORD_SCHEMA,
)
FORMAT = query(
    "format",
    "geojson for RFC 7946 GeoJSON, the same as Accept: application/geo+json. GeoJSON is "
    "WGS-84 only: with coord gcj02 or bd09 it is refused with 400, naming coord.",
    {"type": "string", "enum": ["json", "geojson"], "default": "json"},
)
# Where GeoJSON may be asked for, the datum says so too.
COORD_OR_GEOJSON = COORD | {
    "description": COORD["description"] + " GeoJSON output (format=geojson, or Accept: "
    "application/geo+json) is WGS-84 only: with gcj02 or bd09 it is refused with 400."
}
_TRUE_OR_FALSE = {"type": "string", "enum": ["true", "false"], "default": "false"}


def nearest_parameters():
    """The parameters of /stations/nearest."""
    return [
        query(
            "lat",
            "Latitude, -90 to 90.",
            {"type": "number", "minimum": -90, "maximum": 90},
            required=True,
        ),
        query(
            "lng",
            "Longitude, -180 to 180.",
            {"type": "number", "minimum": -180, "maximum": 180},
            required=True,
        ),
        COORD,
        query(
            "limit",
            "How many stations, 1 to 50.",
            {"type": "integer", "minimum": 1, "maximum": 50, "default": 10},
        ),
        query(
            "radius_m",
            "Only stations within this many metres, 1 to 50000.",
            {"type": "number", "minimum": 1, "maximum": 50000},
        ),
        query("kind", "Comma-separated station kinds; any of them matches.", list_of(KINDS)),
        query(
            "amenities",
            "Comma-separated amenities that must all be available (true); unknown does not match.",
            list_of(AMENITIES),
        ),
        query(
            "open_now",
            "true keeps only stations open now (Asia/Shanghai); unknown hours are excluded. "
            "false (the default) does not filter.",
            _TRUE_OR_FALSE,
        ),
        query(
            "open_24_7",
            'true keeps only stations in service whose hours are "24/7".',
            _TRUE_OR_FALSE,
        ),
    ]


def list_parameters():
    """The parameters of /stations."""
    return [
        query(
            "bbox",
            "min_lng,min_lat,max_lng,max_lat in the coord datum, plain decimals, each minimum "
            "not above its maximum (else 400, naming bbox); all stations when absent.",
            {"type": "string", "maxLength": MAX_VALUE_LENGTH, "pattern": BBOX_PATTERN},
        ),
        COORD_OR_GEOJSON,
        FORMAT,
        query(
            "page",
            "Page number from 1; past the end gives an empty list.",
            {"type": "integer", "minimum": 1, "maximum": 1000000, "default": 1},
        ),
        query(
            "per_page",
            "Items per page, 1 to 500.",
            {"type": "integer", "minimum": 1, "maximum": 500, "default": 100},
        ),
    ]
