"""The OpenAPI 3.1 document, built from the same constants the API validates with.

Its parts: `schemas` (the bodies), `parameters`, `stations` (the station endpoints), `feed` and
`export`, `partner` (keys, limits, caching, the guide, versioning) and `server` (size limits,
malformed requests).
"""

from functools import cache

from ...core.changes import LIVE_FIELDS
from ..params import MAX_VALUE_LENGTH
from . import partner, server
from .schemas import PROBLEM_BODY, base_schemas
from .stations import station_paths

DESCRIPTION = (
    "Rest stations for outdoor workers in Shenzhen: 暖蜂驿站, 司机之家 and 24-hour 党群服务中心. "
    "Positions are stored in WGS-84. Every error is application/problem+json. Unknown or "
    f"repeated parameters, and values over {MAX_VALUE_LENGTH} characters, are rejected with 400."
)


@cache
def openapi_document():
    """The OpenAPI 3.1 document (built once)."""
    document = partner.extend(_base_document(), live_fields=LIVE_FIELDS)
    return server.extend(document)


def _base_document():
    """The station endpoints; `partner` adds keys, limits, caching, the feed and more."""
    problem = {
        "description": "The request was not understood; `errors` names each bad parameter.",
        "content": PROBLEM_BODY,
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Shenzhen rest-station locator API",
            "version": "1.0.0",
            "description": DESCRIPTION,
        },
        "servers": [{"url": "/"}],
        "paths": station_paths(),
        "components": {"schemas": base_schemas(), "responses": {"Problem": problem}},
    }
