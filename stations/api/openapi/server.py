"""The OpenAPI parts about the HTTP server rather than an endpoint: the request-size limits
(stations/request_size.py, then gunicorn's) and malformed requests, which every operation can
meet. `extend()` adds them to the document."""

from ...request_size import MAX_HEADER_FIELDS, MAX_HEADER_VALUE_BYTES, MAX_URI_BYTES
from .schemas import PROBLEM_JSON

# gunicorn's own refusals, for requests it will not hand to the app at all.
_SERVER_PAGE = {"schema": {"type": "string", "description": "A short HTML page."}}

RESPONSES = {
    "BadRequest": {
        "description": "The request was not understood; `errors` names each bad parameter. "
        "A request that is not well-formed HTTP is refused by the server itself, with a "
        "short HTML page.",
        "content": {"application/problem+json": PROBLEM_JSON, "text/html": _SERVER_PAGE},
    },
    "URITooLong": {
        "description": f"The URL (path and query string) is over {MAX_URI_BYTES} bytes. Far "
        "over (8 KB), the server itself refuses it, with a short HTML page.",
        "content": {"application/problem+json": PROBLEM_JSON, "text/html": _SERVER_PAGE},
    },
    "HeaderFieldsTooLarge": {
        "description": f"More than {MAX_HEADER_FIELDS} header fields, or one over "
        f"{MAX_HEADER_VALUE_BYTES} bytes. Far over (100 fields, 8 KB), the server itself refuses "
        "the request, with a short HTML page.",
        "content": {"application/problem+json": PROBLEM_JSON, "text/html": _SERVER_PAGE},
    },
}
LIMITS = (
    f" URLs over {MAX_URI_BYTES} bytes are refused with 414, more than {MAX_HEADER_FIELDS} "
    f"header fields or one over {MAX_HEADER_VALUE_BYTES} bytes with 431."
)


def extend(document):
    """Add the size limits and malformed requests to every operation of the document."""
    document["components"]["responses"] |= RESPONSES
    document["info"]["description"] += LIMITS
    for item in document["paths"].values():
        for operation in item.values():
            operation["responses"] |= {
                "400": {"$ref": "#/components/responses/BadRequest"},
                "414": {"$ref": "#/components/responses/URITooLong"},
                "431": {"$ref": "#/components/responses/HeaderFieldsTooLarge"},
            }
            if "parameters" in operation:
                operation["parameters"] = [_bounded(p) for p in operation["parameters"]]
    return document


def _bounded(parameter):
    """A header parameter says how long it may be: a longer value is refused with 431."""
    if parameter["in"] != "header":
        return parameter
    return parameter | {"schema": parameter["schema"] | {"maxLength": MAX_HEADER_VALUE_BYTES}}
