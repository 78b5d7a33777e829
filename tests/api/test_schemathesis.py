"""schemathesis, every check on, against the document that gunicorn serves, as deployed
(deploy/gunicorn.conf.py, 2 workers), on both databases with the sample loaded."""

import re
from copy import deepcopy

import pytest
import requests
import schemathesis
from conftest import BACKENDS, _postgis_url
from flask_migrate import upgrade
from hypothesis import HealthCheck, settings
from servers import app_environment, gunicorn

from stations import create_app
from stations.api.openapi import openapi_document
from stations.api.params import BBOX_PATTERN
from stations.cli import SAMPLE_FILE
from stations.core.db import db
from stations.core.importer import import_stations

# Every check, as shipped, but for two settings: a 414 or 431 (documented on every operation) is
# a rejection of invalid data as much as a 400 is; and the rules between parameters that the
# document states in words (below) stand in for schemathesis's acceptance of valid data.
CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {
            "negative_data_rejection": {
                "expected-statuses": ["400", "401", "404", "405", "409", "414", "429", "431"]
            },
            "positive_data_acceptance": {"enabled": False},
        }
    }
)
DOCUMENT = openapi_document()
schema = schemathesis.openapi.from_dict(deepcopy(DOCUMENT), config=CONFIG)
# Limits stay on, high enough that schemathesis meets a 429 rarely.
HIGH_LIMITS = {
    "API_LIMIT_PER_IP": "1000000 per minute",
    "REPORT_LIMIT_PER_IP": "1000000 per hour",
    "REPORT_LIMIT_PER_STATION": "1000000 per hour",
}


@pytest.fixture(scope="module", params=BACKENDS)
def served(request, tmp_path_factory):
    """gunicorn (2 workers) on a database with the sample; its base URL."""
    if request.param == "sqlite":
        url = "sqlite:///" + str(tmp_path_factory.mktemp("served") / "served.sqlite")
    else:
        url = _postgis_url("_served")
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_STORAGE_URI": "stations+sqlite://"})
    with app.app_context():
        upgrade()
        import_stations(SAMPLE_FILE, is_sample=True)
        db.session.remove()
        db.engine.dispose()
    with gunicorn(app_environment(DATABASE_URL=url, **HIGH_LIMITS), workers=2) as base:
        # The cases come from the document as built here: the very one gunicorn serves.
        assert requests.get(base + "/api/v1/openapi.json", timeout=10).json() == DOCUMENT
        yield base


def broken_rule(case):
    """The parameter named by a rule between parameters that the case breaks, or None.

    OpenAPI states each parameter on its own, so these rules are in the parameters'
    descriptions: GeoJSON is WGS-84 only; a bbox's minimum is not above its maximum.
    """
    query = case.query or {}
    if query.get("format") == "geojson" and query.get("coord", "wgs84") != "wgs84":
        return "coord"
    box = query.get("bbox")
    if isinstance(box, str) and re.match(BBOX_PATTERN, box):
        west, south, east, north = map(float, box.split(","))
        if west > east or south > north:
            return "bbox"
    return None


@schemathesis.check
def valid_data_accepted_but_by_the_stated_rules(ctx, response, case):
    """Valid data is accepted, unless it breaks a stated rule: then it is refused, with the
    documented 400 that names the parameter."""
    rule = broken_rule(case)
    if rule is None or case.meta is None or not case.meta.generation.mode.is_positive:
        return schemathesis.checks.positive_data_acceptance(ctx, response, case)
    assert response.status_code == 400, f"{rule}: {response.status_code}, not 400"
    assert rule in [error["name"] for error in response.json()["errors"]]
    return None


@schema.parametrize()
@settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_api_keeps_its_openapi_promises(case, served):
    case.call_and_validate(
        base_url=served, additional_checks=[valid_data_accepted_but_by_the_stated_rules]
    )


def _flood(count):
    return {f"X-Flood-{number}": "1" for number in range(count)}


# Over the app's limits it answers problem+json; far over them gunicorn refuses on its own.
@pytest.mark.parametrize(
    ("query", "headers", "status", "content_type"),
    [
        ({"bbox": "1" * 4090}, {}, 414, "application/problem+json"),
        ({"bbox": "1" * 9000}, {}, 414, "text/html"),
        ({}, _flood(70), 431, "application/problem+json"),
        ({}, _flood(120), 431, "text/html"),
        ({}, {"If-None-Match": "x" * 7000}, 431, "application/problem+json"),
        ({}, {"If-None-Match": "x" * 9000}, 431, "text/html"),
        ({"bbox": "1" * 1001}, {}, 400, "application/problem+json"),
        ({"bbox": "114,22,113,23", "coord": "bd09"}, {}, 400, "application/problem+json"),
        ({"format": "geojson", "coord": "gcj02"}, {}, 400, "application/problem+json"),
    ],
)
def test_oversize_requests_get_documented_answers(served, query, headers, status, content_type):
    case = schema["/api/v1/stations"]["GET"].Case(query=query, headers=headers)
    response = case.call_and_validate(base_url=served)
    assert response.status_code == status
    assert response.headers["content-type"][0].split(";")[0] == content_type
