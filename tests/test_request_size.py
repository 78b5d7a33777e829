"""Over-long URLs and header floods: the app's own 414 and 431, below gunicorn's limits."""

import runpy

import pytest
from servers import GUNICORN_CONF

from stations.api.openapi import openapi_document
from stations.request_size import MAX_HEADER_FIELDS, MAX_HEADER_VALUE_BYTES, MAX_URI_BYTES

STATIONS = "/api/v1/stations?bbox="
# The longest URL (and header value) that still passes, and one byte more.
LONGEST = STATIONS + "1" * (MAX_URI_BYTES - len(STATIONS))


@pytest.mark.parametrize(
    ("path", "headers", "status", "detail"),
    [
        (LONGEST, {}, 400, "bbox: must be at most 1000 characters"),
        (LONGEST + "1", {}, 414, f"The URL must be at most {MAX_URI_BYTES} bytes long."),
        ("/api/v1/stations/nearest?" + "x" * MAX_URI_BYTES, {}, 414, None),
        (
            "/api/v1/health",
            {"If-None-Match": "x" * (MAX_HEADER_VALUE_BYTES + 1)},
            431,
            f"Each header field must be at most {MAX_HEADER_VALUE_BYTES} bytes long.",
        ),
        (
            "/api/v1/health",
            {f"X-Flood-{n}": "1" for n in range(MAX_HEADER_FIELDS - 1)},  # and Host, User-Agent
            431,
            f"Send at most {MAX_HEADER_FIELDS} header fields.",
        ),
    ],
)
def test_oversize_api_requests_get_problems(client, path, headers, status, detail):
    response = client.get(path, headers=headers)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert response.headers["Cache-Control"] == "no-store"
    if detail:
        assert response.json["detail"] == detail


@pytest.mark.parametrize(
    "headers",
    [
        {"If-None-Match": "x" * MAX_HEADER_VALUE_BYTES},
        # With the test client's own two (Host, User-Agent): exactly at the limit.
        {f"X-Extra-{n}": "1" for n in range(MAX_HEADER_FIELDS - 2)},
    ],
)
def test_headers_up_to_the_limits_pass(client, headers):
    assert client.get("/api/v1/health", headers=headers).status_code == 200


def test_pages_get_the_error_page(client):
    response = client.get("/?" + "x" * MAX_URI_BYTES)
    assert response.status_code == 414 and response.mimetype == "text/html"


def test_gunicorn_limits_sit_above_the_apps():
    config = runpy.run_path(str(GUNICORN_CONF))
    request_line = len("GET ") + MAX_URI_BYTES + len(" HTTP/1.1")
    assert config["limit_request_line"] > request_line
    assert config["limit_request_fields"] > MAX_HEADER_FIELDS
    assert config["limit_request_field_size"] > len("X-Some-Header: ") + MAX_HEADER_VALUE_BYTES


def test_every_operation_documents_the_limits():
    for path, item in openapi_document()["paths"].items():
        for operation in item.values():
            assert {"400", "414", "431"} <= set(operation["responses"]), path
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "header":
                    assert parameter["schema"]["maxLength"] == MAX_HEADER_VALUE_BYTES, path
