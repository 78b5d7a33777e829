"""The JSON API: shapes, formats, datums and every kind of bad input."""

import json
from datetime import timedelta

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from stations.core import datum
from stations.core.db import db
from stations.core.hours import local_date, local_now
from stations.core.models import Report, Station

NEAREST = "/api/v1/stations/nearest"
FUTIAN = {"lat": "22.5431", "lng": "114.0579"}


def schema_validator(client, name):
    """A validator for one of the OpenAPI document's component schemas."""
    document = client.get("/api/v1/openapi.json").get_json()
    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    registry = Registry().with_resource("urn:openapi", resource)
    return Draft202012Validator(
        {"$ref": f"urn:openapi#/components/schemas/{name}"}, registry=registry
    )


@pytest.mark.parametrize(
    ("query", "bad"),
    [
        ({}, {"lat", "lng"}),
        ({"lat": "22.5"}, {"lng"}),
        ({"lat": "", "lng": "114"}, {"lat"}),
        ({"lat": "  ", "lng": "114"}, {"lat"}),
        ({"lat": "abc", "lng": "114"}, {"lat"}),
        ({"lat": "nan", "lng": "114"}, {"lat"}),
        ({"lat": "NaN", "lng": "inf"}, {"lat", "lng"}),
        ({"lat": "-Infinity", "lng": "114"}, {"lat"}),
        ({"lat": "90.0001", "lng": "114"}, {"lat"}),
        ({"lat": "22.5", "lng": "-180.5"}, {"lng"}),
        ({"lat": "1e400", "lng": "114"}, {"lat"}),
        ({**FUTIAN, "coord": ""}, {"coord"}),
        ({**FUTIAN, "coord": "WGS84x"}, {"coord"}),
        ({**FUTIAN, "limit": "0"}, {"limit"}),
        ({**FUTIAN, "limit": "51"}, {"limit"}),
        ({**FUTIAN, "limit": "2.5"}, {"limit"}),
        ({**FUTIAN, "limit": "ten"}, {"limit"}),
        ({**FUTIAN, "limit": ""}, {"limit"}),
        ({**FUTIAN, "radius_m": "0"}, {"radius_m"}),
        ({**FUTIAN, "radius_m": "50001"}, {"radius_m"}),
        ({**FUTIAN, "radius_m": "-5"}, {"radius_m"}),
        ({**FUTIAN, "radius_m": "nan"}, {"radius_m"}),
        ({**FUTIAN, "kind": ""}, {"kind"}),
        ({**FUTIAN, "kind": "hotel"}, {"kind"}),
        ({**FUTIAN, "kind": "warm_station,"}, {"kind"}),
        ({**FUTIAN, "kind": "warm_station,,driver_home"}, {"kind"}),
        ({**FUTIAN, "amenities": "sauna"}, {"amenities"}),
        ({**FUTIAN, "amenities": ",drinking_water"}, {"amenities"}),
        ({**FUTIAN, "amenities": ""}, {"amenities"}),
        ({**FUTIAN, "open_now": "yes"}, {"open_now"}),
        ({**FUTIAN, "open_now": ""}, {"open_now"}),
        ({**FUTIAN, "open_24_7": "1"}, {"open_24_7"}),
        ({**FUTIAN, "colour": "red"}, {"colour"}),
        ({**FUTIAN, "kind": "x" * 1001}, {"kind"}),
        ({"lat": "2" + "0" * 1000, "lng": "114"}, {"lat"}),
        ("lat=22.5&lat=22.6&lng=114", {"lat"}),
        ("lat=22.5&lng=114&limit=5&limit=5", {"limit"}),
        ("lat=22.5&lng=%FF%FE&limit=5", {"lng"}),
        ("lat=22.5\x00&lng=114", {"lat"}),
    ],
)
def test_nearest_bad_input_is_a_problem_naming_each_parameter(client, query, bad):
    response = client.get(NEAREST, query_string=query)
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == 400 and body["title"] == "Bad Request"
    assert {error["name"] for error in body["errors"]} == bad
    assert all(error["reason"] for error in body["errors"])


def test_problem_reason_speaks_to_people(client):
    body = client.get(NEAREST, query_string={"lat": "95", "lng": "114"}).get_json()
    assert body["errors"] == [{"name": "lat", "reason": "must be a number between -90 and 90"}]
    assert body["detail"] == "lat: must be a number between -90 and 90"


@pytest.mark.parametrize(
    ("path", "status"),
    [(NEAREST + "?lat=95&lng=114", 400), ("/api/v1/stations/999999", 404), ("/api/v1/x", 404)],
)
def test_problems_carry_the_request_id_their_schema_lists(client, path, status):
    response = client.get(path, headers={"X-Request-ID": "trace-42"})
    assert (response.status_code, response.mimetype) == (status, "application/problem+json")
    body = response.get_json()
    assert body["request_id"] == "trace-42" == response.headers["X-Request-ID"]
    validator = schema_validator(client, "Problem")
    validator.validate(body)
    without = {name: value for name, value in body.items() if name != "request_id"}
    assert not validator.is_valid(without)  # listed, and required
    assert not validator.is_valid(body | {"request_id": 42})


@pytest.mark.parametrize(
    ("query", "bad"),
    [
        ({"bbox": "1,2,3"}, {"bbox"}),
        ({"bbox": "114,22,113,23"}, {"bbox"}),
        ({"bbox": "113,22,114,91"}, {"bbox"}),
        ({"bbox": "a,b,c,d"}, {"bbox"}),
        ({"bbox": "113,22,114,nan"}, {"bbox"}),
        ({"bbox": ""}, {"bbox"}),
        ({"page": "0"}, {"page"}),
        ({"page": "x"}, {"page"}),
        ({"per_page": "501"}, {"per_page"}),
        ({"per_page": "0"}, {"per_page"}),
        ({"format": "xml"}, {"format"}),
        ({"format": "geojson", "coord": "gcj02"}, {"coord"}),
    ],
)
def test_list_bad_input(client, query, bad):
    response = client.get("/api/v1/stations", query_string=query)
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert {error["name"] for error in response.get_json()["errors"]} == bad


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/v1/nothing-here", 404),
        ("GET", "/api/v2/stations/nearest", 404),
        ("GET", "/api/v1/stations/abc", 404),
        ("GET", "/api/v1/stations/99999999", 404),
        ("GET", "/api/v1/stations/2147483648", 404),
        ("GET", "/api/v1/stations/99999999999999999999", 404),
        ("GET", "/api/v1/stations/-1", 404),
        ("POST", "/api/v1/stations/nearest", 405),
        ("DELETE", "/api/v1/stations", 405),
    ],
)
def test_api_errors_are_json(client, method, path, status):
    response = client.open(path, method=method)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["status"] == status


def test_page_errors_are_html(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"


def test_nearest_answers_in_the_documented_shape(client):
    response = client.get(NEAREST, query_string={**FUTIAN, "limit": "5"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["count"] == 5 == len(body["data"]) and body["coord"] == "wgs84"
    validator = schema_validator(client, "NearestStation")
    for item in body["data"]:
        validator.validate(item)
        assert item["is_sample"] is True and item["name"].startswith("示例")
    distances = [item["distance_m"] for item in body["data"]]
    assert distances == sorted(distances)


def test_nearest_open_24_7_keeps_round_the_clock_stations_in_service(client):
    every = client.get(NEAREST, query_string={**FUTIAN, "limit": "50"}).get_json()["data"]
    query = {**FUTIAN, "limit": "50", "open_24_7": "true"}
    always = client.get(NEAREST, query_string=query).get_json()["data"]
    expected = [s["id"] for s in every if s["opening_hours"] == "24/7" and s["status"] == "open"]
    assert expected and [s["id"] for s in always][: len(expected)] == expected
    assert all(s["opening_hours"] == "24/7" and s["next_change_at"] is None for s in always)


def test_nearest_in_gcj02_takes_and_gives_gcj02(client):
    wgs = client.get(NEAREST, query_string={**FUTIAN, "limit": "3"}).get_json()["data"]
    g_lat, g_lng = datum.from_wgs84("gcj02", lat=22.5431, lng=114.0579)
    gcj = client.get(
        NEAREST, query_string={"lat": g_lat, "lng": g_lng, "coord": "gcj02", "limit": "3"}
    ).get_json()
    assert gcj["coord"] == "gcj02"
    assert [s["id"] for s in gcj["data"]] == [s["id"] for s in wgs]
    for w, g in zip(wgs, gcj["data"], strict=True):
        assert g["distance_m"] == pytest.approx(w["distance_m"], abs=0.2)
        expected = datum.from_wgs84("gcj02", lat=w["lat"], lng=w["lng"])
        assert (g["lat"], g["lng"]) == pytest.approx(expected, abs=2e-7)


def test_station_by_id_in_json_and_geojson(client):
    first = client.get(NEAREST, query_string=FUTIAN).get_json()["data"][0]
    one = client.get(f"/api/v1/stations/{first['id']}").get_json()["data"]
    schema_validator(client, "Station").validate(one)
    assert {k: v for k, v in first.items() if k != "distance_m"} == one
    response = client.get(
        f"/api/v1/stations/{first['id']}", headers={"Accept": "application/geo+json"}
    )
    assert response.mimetype == "application/geo+json"
    feature = response.get_json()
    schema_validator(client, "Feature").validate(feature)
    assert feature["geometry"]["coordinates"] == [one["lng"], one["lat"]]
    assert feature["properties"]["name"] == one["name"]


def test_bbox_pages_cover_exactly_the_stations_inside(client):
    box = (114.0, 22.5, 114.1, 22.6)
    query = {"bbox": ",".join(map(str, box)), "per_page": "40"}
    first = client.get("/api/v1/stations", query_string=query).get_json()
    total, seen, page = first["total"], [], 1
    assert total > 40
    while True:
        body = client.get("/api/v1/stations", query_string={**query, "page": page}).get_json()
        if not body["data"]:
            break
        seen += body["data"]
        page += 1
    assert len(seen) == total == len({s["id"] for s in seen})
    assert all(box[0] <= s["lng"] <= box[2] and box[1] <= s["lat"] <= box[3] for s in seen)
    everything = []
    for page in (1, 2):
        query = {"per_page": "500", "page": page}
        everything += client.get("/api/v1/stations", query_string=query).get_json()["data"]
    inside = [
        s for s in everything if box[0] <= s["lng"] <= box[2] and box[1] <= s["lat"] <= box[3]
    ]
    assert sorted(s["id"] for s in inside) == sorted(s["id"] for s in seen)


def test_list_as_geojson_feature_collection(client):
    response = client.get(
        "/api/v1/stations",
        query_string={"bbox": "114,22.5,114.1,22.6", "format": "geojson", "per_page": 500},
    )
    assert response.mimetype == "application/geo+json"
    body = response.get_json()
    assert body["type"] == "FeatureCollection" and body["total"] == len(body["features"])
    validator = schema_validator(client, "Feature")
    for feature in body["features"]:
        validator.validate(feature)
        lng, lat = feature["geometry"]["coordinates"]
        assert 114 <= lng <= 114.1 and 22.5 <= lat <= 22.6


def test_openapi_document_is_valid_and_lists_the_endpoints(client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) >= {
        "/api/v1/stations/nearest",
        "/api/v1/stations/{station_id}",
        "/api/v1/stations",
    }
    json.dumps(document)


@pytest.mark.parametrize("coord", ["wgs84", "gcj02"])
def test_nearest_items_are_the_station_items_with_a_distance(client, coord):
    # /nearest builds its items from what each process keeps of the stations (items.py); a
    # station's own URL from its row. After changes, they must still agree field for field.
    query = {"lat": 22.5431, "lng": 114.0579, "limit": 50, "coord": coord}
    first = client.get(NEAREST, query_string=query).get_json()["data"]
    closed, reported = (db.session.get(Station, item["id"]) for item in (first[0], first[1]))
    closed.status, closed.closed_reason = "temporarily_closed", "装修"
    closed.closed_until = local_date(local_now()) + timedelta(days=3)
    db.session.add(Report(station_id=reported.id, reason="no_water", text=""))
    db.session.commit()
    near = client.get(NEAREST, query_string=query).get_json()["data"]
    assert {near[0]["status"], near[1]["open_reports"]} == {"temporarily_closed", 1}
    for item in near:
        url = f"/api/v1/stations/{item['id']}"
        alone = client.get(url, query_string={"coord": coord}).get_json()["data"]
        assert {name: value for name, value in item.items() if name != "distance_m"} == alone
