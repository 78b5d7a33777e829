"""The OpenAPI part of the open-data export: its operation."""

from .schemas import PROBLEM_RESPONSE, TEXT, header_refs

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
            "headers": header_refs("Link")
            | {
                "X-Data-License": {"description": "CC BY 4.0", "schema": TEXT},
                "Content-Disposition": {"description": "A file name to save as.", "schema": TEXT},
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
                "text/csv": {"schema": TEXT},
            },
        },
        "400": PROBLEM_RESPONSE,
    },
}
