"""schemathesis against /api/v1/openapi.json, with every check on, on both databases."""

import schemathesis
from hypothesis import HealthCheck, settings

from stations import create_app, keys

# The document the app serves (it needs no database), for generating the cases.
schema = schemathesis.openapi.from_wsgi(
    "/api/v1/openapi.json", create_app({"RATELIMIT_STORAGE_URI": "stations+sqlite://"})
)


@schema.hook
def filter_query(context, query):
    """Rules between parameters, which OpenAPI cannot state (their descriptions do)."""
    if not query:
        return True
    if query.get("format") == "geojson" and query.get("coord", "wgs84") != "wgs84":
        return False  # RFC 7946 GeoJSON is WGS-84 only
    box = query.get("bbox")
    if isinstance(box, str) and box.count(",") == 3:
        try:
            west, south, east, north = map(float, box.split(","))
        except ValueError:
            return True
        return west <= east and south <= north  # each minimum not above its maximum
    return True


@schema.parametrize()
@settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_api_keeps_its_openapi_promises(case, sample_app):
    sample_app.extensions["stations.key_usage"] = keys._Usage()
    # Uncompressed: the WSGI transport hands schemathesis the bytes as sent.
    case.call_and_validate(app=sample_app, headers={"Accept-Encoding": "identity"})
