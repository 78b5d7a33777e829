"""Rider reports through the API: checked, stored, rate-limited, counted in the station JSON."""

import pytest
import sqlalchemy as sa
from support import make_station, statements_run

from stations.core.db import db
from stations.core.models import Report
from stations.core.reports import create_report

NEAREST = "/api/v1/stations/nearest?lat=22.5431&lng=114.0579&limit=50"


def report_url(station_id):
    return f"/api/v1/stations/{station_id}/reports"


def reports_at(station_id):
    db.session.expire_all()
    return db.session.scalars(sa.select(Report).where(Report.station_id == station_id)).all()


def test_a_report_is_stored_and_counted(app):
    station = make_station("A")
    client = app.test_client()
    answer = client.post(report_url(station.id), json={"reason": "no_water", "text": " 没水了 "})
    assert answer.status_code == 201
    body = answer.get_json()["data"]
    assert body == {
        "id": body["id"],
        "station_id": station.id,
        "reason": "no_water",
        "text": "没水了",
        "status": "open",
    }
    [stored] = reports_at(station.id)
    assert (stored.reason, stored.text, stored.resolved_at) == ("no_water", "没水了", None)
    client.post(report_url(station.id), json={"reason": "other"})
    one = client.get(f"/api/v1/stations/{station.id}").get_json()["data"]
    assert one["open_reports"] == 2
    assert client.get("/api/v1/stations").get_json()["data"][0]["open_reports"] == 2
    assert client.get(NEAREST).get_json()["data"][0]["open_reports"] == 2


@pytest.mark.parametrize(
    ("body", "bad"),
    [
        ({}, {"reason"}),
        ({"reason": "sauna"}, {"reason"}),
        ({"reason": "other", "text": "长" * 201}, {"text"}),
        ({"reason": "other", "text": 5}, {"text"}),
        ({"reason": "other", "colour": "red"}, {"colour"}),
        ([], {"body"}),
        ("closed", {"body"}),
    ],
)
def test_bad_reports_are_problems_naming_each_field(app, body, bad):
    station = make_station("A")
    answer = app.test_client().post(report_url(station.id), json=body)
    assert answer.status_code == 400
    assert answer.mimetype == "application/problem+json"
    assert {error["name"] for error in answer.get_json()["errors"]} == bad
    assert reports_at(station.id) == []


def test_a_report_needs_json_and_a_real_station(app):
    station = make_station("A")
    client = app.test_client()
    not_json = client.post(report_url(station.id), data="reason=closed")
    assert not_json.status_code == 400
    for station_id in (999999, 2**31, 10**22):  # past the id column's range too: not a 500
        missing = client.post(report_url(station_id), json={"reason": "closed"})
        assert (missing.status_code, missing.mimetype) == (404, "application/problem+json")


def test_200_characters_of_text_are_fine(app):
    station = make_station("A")
    answer = app.test_client().post(
        report_url(station.id), json={"reason": "other", "text": "长" * 200}
    )
    assert answer.status_code == 201


def test_reports_are_limited_per_address(app, monkeypatch):
    monkeypatch.setitem(app.config, "REPORT_LIMIT_PER_IP", "2 per hour")
    a, b = make_station("A"), make_station("B", lat=22.6)
    client = app.test_client()
    for station in (a, b):
        assert client.post(report_url(station.id), json={"reason": "closed"}).status_code == 201
    refused = client.post(report_url(a.id), json={"reason": "closed"})
    assert refused.status_code == 429
    assert refused.mimetype == "application/problem+json"
    assert int(refused.headers["Retry-After"]) > 0
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "10.0.0.2"
    assert other.post(report_url(a.id), json={"reason": "closed"}).status_code == 201
    assert len(reports_at(a.id)) == 2


def test_reports_are_limited_per_station(app, monkeypatch):
    monkeypatch.setitem(app.config, "REPORT_LIMIT_PER_STATION", "3 per hour")
    a, b = make_station("A"), make_station("B", lat=22.6)
    for n in range(3):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"10.0.1.{n}"
        assert client.post(report_url(a.id), json={"reason": "closed"}).status_code == 201
    late = app.test_client()
    late.environ_base["REMOTE_ADDR"] = "10.0.1.99"
    assert late.post(report_url(a.id), json={"reason": "closed"}).status_code == 429
    assert late.post(report_url(b.id), json={"reason": "closed"}).status_code == 201


def test_nearest_counts_open_reports_in_its_search_not_per_station(app):
    stations = [make_station(f"S-{n}", lat=22.5431 + n * 0.001) for n in range(12)]
    for station in stations[::3]:
        create_report(station.id, reason="closed", text="")
    db.session.commit()
    with statements_run(db.engine) as seen:
        body = app.test_client().get(NEAREST).get_json()
    statements = [statement for statement, _ in seen]
    assert body["count"] == 12
    assert sum(item["open_reports"] for item in body["data"]) == 4
    # No statement of its own, let alone one per station: the count is a column of the search.
    counting = [statement for statement in statements if "report" in statement]
    assert counting
    assert all("station.change_seq" in statement for statement in counting)


def test_the_api_documents_reports(app):
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    operation = document["paths"]["/api/v1/stations/{station_id}/reports"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema["properties"]["reason"]["enum"] == [
        "closed",
        "no_water",
        "heating_broken",
        "charging_broken",
        "wrong_location",
        "other",
    ]
    # 401: a bad key; 414 and 431: a URL or headers too long
    assert set(operation["responses"]) == {"201", "400", "401", "404", "414", "429", "431"}
    station = document["components"]["schemas"]["Station"]
    assert {"open_reports", "closed_reason", "closed_until"} <= set(station["required"])
