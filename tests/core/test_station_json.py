"""The item store (station_json.py): stored fields reused while a station's change number holds."""

import orjson
import pytest
import sqlalchemy as sa

from stations.core import station_json
from stations.core.db import db
from stations.core.geo import Found, SearchRow
from stations.core.hours import local_now, state_at
from stations.core.models import Station
from stations.core.station_json import station_items


def found(station, distance_m, **changes):
    """What nearest_stations would give for this station (with these fields changed)."""
    values = {name: getattr(station, name) for name in SearchRow._fields[:7]}
    searched = {"open_reports": 0, "last_checkin_at": None, "rough_distance": distance_m}
    row = SearchRow(**(values | searched | changes))
    state = state_at(
        hours=row.opening_hours, status=row.status, closed_until=row.closed_until, at=local_now()
    )
    return Found(station=row, distance_m=distance_m, state=state)


def names(items):
    return [item["name"] for item in orjson.loads(orjson.dumps(items))]


def test_items_follow_changes_and_leave_out_stations_deleted_since_the_search(client):
    first, second = db.session.scalars(sa.select(Station).order_by(Station.id).limit(2))
    results = [found(first, 10.0), found(second, 20.0)]
    assert names(station_items(results, coord="wgs84")) == [first.name, second.name]
    first.name = "示例·改名"
    db.session.commit()
    db.session.delete(second)
    db.session.commit()
    # The search read both (before the delete); the store sees the new change number of one.
    stale = results[1]._replace(station=results[1].station._replace(change_seq=-1))
    assert names(station_items([found(first, 10.0), stale], coord="wgs84")) == ["示例·改名"]


def test_an_item_shows_the_state_the_search_worked_out(client):
    station = db.session.scalars(sa.select(Station).order_by(Station.id).limit(1)).one()
    result = found(station, 12.34, open_reports=3)
    shut = result.state._replace(status="temporarily_closed", open_now=False)
    [item] = orjson.loads(orjson.dumps(station_items([result._replace(state=shut)], coord="wgs84")))
    fields = ("id", "status", "open_now", "open_reports", "distance_m")
    assert [item[name] for name in fields] == [station.id, "temporarily_closed", False, 3, 12.3]


# Positions around Shenzhen where the sample's nearest lists overlap and differ.
POSITIONS = [(22.54, 114.06), (22.55, 114.10), (22.72, 114.25), (22.60, 113.90), (22.54, 114.06)]


def nearest_bodies(client):
    return [
        client.get(f"/api/v1/stations/nearest?lat={lat}&lng={lng}&limit=10").get_json()
        for lat, lng in POSITIONS
    ]


@pytest.mark.parametrize("size", [1, 3, 7])
def test_the_store_never_holds_more_than_its_size_and_answers_stay_the_same(
    client, monkeypatch, size
):
    wide = nearest_bodies(client)
    assert 0 < len(station_json._stored) <= station_json.STORE_SIZE
    station_json.forget_stored()
    monkeypatch.setattr(station_json, "STORE_SIZE", size)
    held = []
    narrow = []
    for lat, lng in POSITIONS:
        url = f"/api/v1/stations/nearest?lat={lat}&lng={lng}&limit=10"
        narrow.append(client.get(url).get_json())
        held.append(len(station_json._stored))
    assert narrow == wide
    assert held == [size] * len(POSITIONS)


def test_the_store_keeps_the_stations_shown_last(client, monkeypatch):
    monkeypatch.setattr(station_json, "STORE_SIZE", 4)
    stations = list(db.session.scalars(sa.select(Station).order_by(Station.id).limit(6)))
    for station in stations:
        station_items([found(station, 1.0)], coord="wgs84")
    station_items([found(stations[2], 1.0)], coord="wgs84")  # shown again: kept longest
    station_items([found(stations[0], 1.0)], coord="wgs84")
    assert list(station_json._stored) == [stations[i].id for i in (4, 5, 2, 0)]


def test_a_changed_station_is_read_again_even_when_the_store_is_full(client, monkeypatch):
    monkeypatch.setattr(station_json, "STORE_SIZE", 2)
    first, second, third = db.session.scalars(sa.select(Station).order_by(Station.id).limit(3))
    results = [found(first, 1.0), found(second, 2.0), found(third, 3.0)]
    assert names(station_items(results, coord="wgs84")) == [first.name, second.name, third.name]
    third.name = "示例·改名"
    db.session.commit()
    again = [found(first, 1.0), found(second, 2.0), found(third, 3.0)]
    assert names(station_items(again, coord="wgs84")) == [first.name, second.name, "示例·改名"]
    assert len(station_json._stored) == 2
