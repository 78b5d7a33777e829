"""/nearest against a brute-force oracle (geographiclib), on both databases."""

import random
from datetime import datetime
from math import asin, cos, radians, sin, sqrt

import pytest
import sqlalchemy as sa
from geographiclib.geodesic import Geodesic
from support import make_station

from stations.api import views
from stations.core.db import DriverStatement, db
from stations.core.geo import Position, Search, SearchRow, nearest_stations
from stations.core.hours import SHENZHEN_TZ, is_open_at
from stations.core.models import AMENITIES, KINDS, Station

NEAREST = "/api/v1/stations/nearest"
TOLERANCE = 0.005  # distances may differ by 0.5 %; so may the order of near-ties
FIXED_NOW = datetime(2026, 11, 27, 23, 30, tzinfo=SHENZHEN_TZ)


def geodesic_m(lat1, lng1, lat2, lng2):
    return Geodesic.WGS84.Inverse(lat1, lng1, lat2, lng2, Geodesic.DISTANCE)["s12"]


def rough_m(lat1, lng1, lat2, lng2):
    """Haversine, only to shortlist candidates for the exact oracle."""
    a = sin(radians(lat2 - lat1) / 2) ** 2
    a += cos(radians(lat1)) * cos(radians(lat2)) * sin(radians(lng2 - lng1) / 2) ** 2
    return 2 * 6371008.8 * asin(sqrt(a))


def oracle(stations, *, lat, lng, limit, radius_m, kinds, amenities, open_now):
    """The true nearest matching stations as [(distance_m, id)], by brute force."""
    matching = [
        s
        for s in stations
        if (not kinds or s.kind in kinds)
        and all(getattr(s, a) is True for a in amenities)
        and (
            not open_now
            or is_open_at(
                hours=s.opening_hours, status=s.status, closed_until=s.closed_until, at=FIXED_NOW
            )
            is True
        )
    ]
    shortlist = sorted(matching, key=lambda s: rough_m(lat, lng, s.lat, s.lng))[: limit + 40]
    exact = sorted((geodesic_m(lat, lng, s.lat, s.lng), s.id) for s in shortlist)
    if radius_m is not None:
        exact = [pair for pair in exact if pair[0] <= radius_m]
    return exact[:limit]


def random_query(rng):
    query = {
        "lat": round(rng.uniform(22.45, 22.85), 6),
        "lng": round(rng.uniform(113.78, 114.55), 6),
        "limit": rng.choice([1, 3, 10, 25, 50]),
    }
    if rng.random() < 0.3:
        query["radius_m"] = rng.choice([300, 1500, 5000, 20000])
    if rng.random() < 0.3:
        query["kind"] = ",".join(rng.sample(KINDS, rng.randint(1, 2)))
    if rng.random() < 0.4:
        query["amenities"] = ",".join(rng.sample(AMENITIES, rng.randint(1, 3)))
    if rng.random() < 0.3:
        query["open_now"] = "true"
    return query


@pytest.mark.parametrize("filtered", [False, True], ids=["plain", "filtered"])
def test_nearest_matches_brute_force(client, monkeypatch, filtered):
    monkeypatch.setattr(views, "local_now", lambda: FIXED_NOW)
    stations = db.session.execute(sa.select(Station)).scalars().all()
    by_id = {s.id: s for s in stations}
    rng = random.Random(2026 + filtered)
    for _ in range(200):
        query = random_query(rng)
        if not filtered:
            query = {k: query[k] for k in ("lat", "lng", "limit")}
        response = client.get(NEAREST, query_string=query)
        assert response.status_code == 200, response.get_json()
        got = response.get_json()["data"]
        expected = oracle(
            stations,
            lat=query["lat"],
            lng=query["lng"],
            limit=query["limit"],
            radius_m=query.get("radius_m"),
            kinds=query.get("kind", "").split(",") if "kind" in query else (),
            amenities=query["amenities"].split(",") if "amenities" in query else (),
            open_now="open_now" in query,
        )
        assert len(got) == len(expected), query
        for item, (true_m, _) in zip(got, expected, strict=True):
            assert item["distance_m"] == pytest.approx(true_m, rel=TOLERANCE, abs=0.1), query
            station = by_id[item["id"]]
            own_m = geodesic_m(query["lat"], query["lng"], station.lat, station.lng)
            assert item["distance_m"] == pytest.approx(own_m, rel=TOLERANCE, abs=0.1), query
        if expected:
            boundary = expected[-1][0] * (1 - TOLERANCE)
            expected_ids = {station_id for _, station_id in expected}
            for item in got:
                if item["id"] not in expected_ids:
                    assert item["distance_m"] >= boundary, query


def test_filters_are_applied_before_the_limit(client):
    query = {"lat": 22.5431, "lng": 114.0579, "limit": 5, "kind": "driver_home"}
    got = client.get(NEAREST, query_string=query).get_json()["data"]
    assert len(got) == 5 and {s["kind"] for s in got} == {"driver_home"}


def test_unknown_amenity_does_not_match(client):
    query = {"lat": 22.5431, "lng": 114.0579, "limit": 50, "amenities": "parking"}
    got = client.get(NEAREST, query_string=query).get_json()["data"]
    assert got and all(s["amenities"]["parking"] is True for s in got)


def test_open_now_excludes_unknown_and_closed(client, monkeypatch):
    monkeypatch.setattr(views, "local_now", lambda: FIXED_NOW)
    query = {"lat": 22.5431, "lng": 114.0579, "limit": 50}
    everyone = client.get(NEAREST, query_string=query).get_json()["data"]
    assert {s["open_now"] for s in everyone} == {True, False, None}
    open_only = client.get(NEAREST, query_string={**query, "open_now": "true"}).get_json()
    assert open_only["count"] == 50
    assert all(s["open_now"] is True and s["status"] == "open" for s in open_only["data"])


def test_a_station_moved_is_found_at_its_new_place(client):
    """The SQLite R*Tree follows updates (kept by triggers); PostGIS recomputes position."""
    station = db.session.execute(sa.select(Station).limit(1)).scalar_one()
    station.lat, station.lng = 22.2100, 113.5500
    db.session.commit()
    got = client.get(NEAREST, query_string={"lat": 22.21, "lng": 113.55, "limit": 1}).get_json()
    assert got["data"][0]["id"] == station.id and got["data"][0]["distance_m"] < 0.5


def test_the_ellipsoid_decides_when_the_sphere_would_not(app):
    # At Shenzhen's latitude a degree north is shorter than a great circle makes it, and one
    # east longer: twelve stations 1,003 m east are nearer "on the sphere" than one 1,000 m
    # north, which is the nearest on the ellipsoid. Reading spare rows in sphere order (or in
    # equirectangular order) would never reach it.
    lat, lng = 22.55, 114.05
    for n in range(12):
        east = Geodesic.WGS84.Direct(lat, lng, 90 + n * 0.05, 1003 + n * 0.1)
        make_station(f"E-{n}", lat=east["lat2"], lng=east["lon2"])
    north = Geodesic.WGS84.Direct(lat, lng, 0, 1000)
    make_station("N", lat=north["lat2"], lng=north["lon2"])
    got = app.test_client().get(NEAREST, query_string={"lat": lat, "lng": lng, "limit": 1})
    assert [item["external_id"] for item in got.get_json()["data"]] == ["N"]
    assert got.get_json()["data"][0]["distance_m"] == pytest.approx(1000, abs=0.1)


@pytest.mark.parametrize(
    ("query", "search"),
    [
        ({}, Search()),
        ({"limit": "3", "radius_m": "2500"}, Search(limit=3, radius_m=2500.0)),
        ({"kind": "driver_home"}, Search(kinds=("driver_home",))),
        ({"amenities": "drinking_water,wifi"}, Search(amenities=("drinking_water", "wifi"))),
        ({"open_now": "true"}, Search(open_now=True)),
        ({"open_24_7": "true"}, Search(open_24_7=True)),
    ],
)
def test_the_api_parameters_are_the_search_fields_of_the_same_names(
    client, monkeypatch, query, search
):
    """What the API answers is what nearest_stations finds for that Search, field by field."""
    monkeypatch.setattr(views, "local_now", lambda: FIXED_NOW)
    near = Position(lat=22.5431, lng=114.0579)
    answer = client.get(NEAREST, query_string={"lat": near.lat, "lng": near.lng} | query)
    found = nearest_stations(near=near, search=search, at=FIXED_NOW)
    assert [(f.station.id, round(f.distance_m, 1)) for f in found] == [
        (item["id"], item["distance_m"]) for item in answer.get_json()["data"]
    ]
    assert found  # the sample has some of each


def test_a_driver_statement_refuses_a_row_type_that_is_not_its_columns(app):
    query = sa.select(Station.__table__.c.id, Station.__table__.c.lat)
    with pytest.raises(ValueError, match="SearchRow has fields"):
        DriverStatement(query, db.engine.dialect, row=SearchRow)


@pytest.mark.parametrize(
    "bbox",
    [
        (85.1, 40.0, 94.9, 50.0),  # wide: the great-circle sides bow in by ~0.1 degree
        (113.9, 22.5, 114.1, 22.6),  # a city view
        (-180.0, -90.0, 180.0, 90.0),  # the whole earth: no index
    ],
)
def test_a_box_holds_the_stations_on_its_edges_and_none_past_them(app, bbox):
    west, south, east, north = bbox
    middle_lng, middle_lat = (west + east) / 2, (south + north) / 2
    inside = {
        "S": (south, middle_lng),
        "N": (north, middle_lng),
        "W": (middle_lat, west),
        "E": (middle_lat, east),
        "SW": (south, west),
        "NE": (north, east),
        "S+": (south + 1e-7, middle_lng),
    }
    outside = {"S-": (south - 1e-6, middle_lng), "E-": (middle_lat, east + 1e-6)}
    for name, (lat, lng) in (inside | outside).items():
        if -90 <= lat <= 90 and -180 <= lng <= 180:
            make_station(name, lat=lat, lng=lng)
    got = app.test_client().get("/api/v1/stations", query_string={"bbox": ",".join(map(str, bbox))})
    assert sorted(item["external_id"] for item in got.get_json()["data"]) == sorted(inside)
