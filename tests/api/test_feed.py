"""The change feed and the open-data export, on both databases."""

import csv
import io
import threading
import time
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from stations import create_app
from stations.api import views
from stations.core import changes
from stations.core.changes import LIVE_FIELDS
from stations.core.db import db, utcnow
from stations.core.hours import SHENZHEN_TZ
from stations.core.models import Station, StationTombstone

CHANGES = "/api/v1/stations/changes"
EXPORT = "/api/v1/stations/export"
FIXED_NOW = datetime(2026, 11, 27, 10, 30, tzinfo=SHENZHEN_TZ)


@pytest.fixture
def frozen(monkeypatch):
    """open_now judged at one instant, so the feed and the list can be compared field by field."""
    for module in (views, changes):
        monkeypatch.setattr(module, "local_now", lambda: FIXED_NOW)


def sync(client, copy=None, cursor=None, limit=100):
    """Apply the feed from cursor to a copy {id: station}, as a partner would; (copy, cursor)."""
    copy = {} if copy is None else copy
    while True:
        query = {"limit": limit} | ({"since": cursor} if cursor is not None else {})
        response = client.get(CHANGES, query_string=query)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        seqs = [change["seq"] for change in body["changes"]]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        for change in body["changes"]:
            if change["op"] == "delete":
                copy.pop(change["id"], None)
            else:
                copy[change["id"]] = change["station"]
        cursor = body["next_cursor"]
        if not body["has_more"]:
            return copy, cursor


def listed(client):
    """The current set, as GET /api/v1/stations serves it, less the live fields: {id: station}."""
    found, page = {}, 1
    while True:
        body = client.get("/api/v1/stations", query_string={"page": page, "per_page": 500})
        body = body.get_json()
        for item in body["data"]:
            found[item["id"]] = {k: v for k, v in item.items() if k not in LIVE_FIELDS}
        if page * 500 >= body["total"]:
            return found
        page += 1


def new_station(n, **fields):
    return Station(
        external_id=f"feed-{n}",
        kind="warm_station",
        name=f"测试驿站 {n}",
        lat=22.54 + n * 0.001,
        lng=114.05,
        status="open",
        **fields,
    )


def test_replay_from_the_start_is_the_current_set(client, frozen):
    copy, cursor = sync(client, limit=97)
    assert copy == listed(client)
    assert len(copy) == 814
    again, same = sync(client, cursor=cursor)
    assert again == {} and same == cursor


def test_replay_after_creates_updates_and_deletes(client, frozen):
    before, cursor = sync(client, limit=250)
    stations = db.session.scalars(sa.select(Station).order_by(Station.id)).all()
    created = [new_station(n) for n in range(5)]
    db.session.add_all(created)
    stations[0].drinking_water = not stations[0].drinking_water
    stations[1].lat += 0.01
    stations[2].status = "closed"
    db.session.commit()
    for station in (stations[3], stations[1], created[0]):  # one updated, one brand new
        db.session.delete(station)
    db.session.commit()
    # Writers that bypass the ORM are numbered too.
    now = utcnow()
    db.session.execute(
        sa.insert(Station),
        [
            {
                "external_id": "bulk-1",
                "kind": "driver_home",
                "name": "散装",
                "lat": 22.6,
                "lng": 114.1,
                "status": "open",
                "is_sample": False,
                "created_at": now,
                "updated_at": now,
            },
        ],
    )
    db.session.execute(sa.update(Station).where(Station.id == stations[4].id).values(phone="1"))
    db.session.execute(sa.delete(Station).where(Station.id == stations[5].id))
    db.session.commit()

    current = listed(client)
    caught_up, _ = sync(client, copy=before, cursor=cursor, limit=3)
    assert caught_up == current
    from_scratch, _ = sync(client, limit=50)
    assert from_scratch == current
    assert {stations[3].id, stations[5].id, created[0].id}.isdisjoint(current)
    assert current[stations[0].id]["amenities"]["drinking_water"] == stations[0].drinking_water


def test_changes_between_pages_are_not_lost(client, frozen):
    first = client.get(CHANGES, query_string={"limit": 100}).get_json()
    delivered = first["changes"][0]["id"]
    ahead = db.session.scalars(sa.select(Station).order_by(Station.id.desc())).first()
    db.session.get(Station, delivered).name = "改过的名字"
    db.session.delete(ahead)
    db.session.commit()
    copy = {c["id"]: c["station"] for c in first["changes"]}
    copy, _ = sync(client, copy=copy, cursor=first["next_cursor"])
    assert copy == listed(client)
    assert copy[delivered]["name"] == "改过的名字" and ahead.id not in copy


def test_deletion_leaves_a_tombstone_and_the_feed_says_so(client):
    cursor = client.get(CHANGES, query_string={"limit": 1000}).get_json()["next_cursor"]
    station = db.session.scalars(sa.select(Station).limit(1)).one()
    db.session.delete(station)
    db.session.commit()
    body = client.get(CHANGES, query_string={"since": cursor}).get_json()
    seq = body["changes"][0]["seq"]  # numbers may have gaps (rolled-back writes)
    assert seq > int(cursor)
    assert body["changes"] == [
        {
            "seq": seq,
            "op": "delete",
            "id": station.id,
            "external_id": station.external_id,
            "reason": "deleted",
            "deleted_at": body["changes"][0]["deleted_at"],
        }
    ]
    tombstone = db.session.get(StationTombstone, station.id)
    assert tombstone.change_seq == seq
    assert body["next_cursor"] == str(seq) and body["has_more"] is False


def test_an_unchanged_import_adds_no_changes(client):
    from stations.cli import SAMPLE_FILE
    from stations.core.importer import import_stations

    cursor = client.get(CHANGES, query_string={"limit": 1000}).get_json()["next_cursor"]
    assert import_stations(SAMPLE_FILE, is_sample=True)["unchanged"] == 814
    assert client.get(CHANGES, query_string={"since": cursor}).get_json()["changes"] == []


def test_since_a_time_gives_what_changed_after_it(client):
    station = db.session.scalars(sa.select(Station).limit(1)).one()
    later = utcnow() + timedelta(seconds=1)
    station.name, station.updated_at = "之后改的", later + timedelta(seconds=1)
    db.session.commit()
    since = later.isoformat().replace("+00:00", "Z")
    body = client.get(CHANGES, query_string={"since": since}).get_json()
    assert [change["id"] for change in body["changes"]] == [station.id]
    in_beijing = later.astimezone(SHENZHEN_TZ).isoformat()
    assert client.get(CHANGES, query_string={"since": in_beijing}).get_json() == body


@pytest.mark.parametrize(
    ("since", "reason"),
    [
        ("yesterday", "must be a cursor from next_cursor or an ISO-8601 time"),
        ("2026-05-01T08:00:00", "must give the time zone"),
        ("2026-05-01", "must give the time zone"),
        ("2026-02-30T08:00:00Z", "must be a real date and time"),
        ("2026-05-01T08:00:00+24:00", "must be a real date and time"),
        ("20260501T080000Z", "must be a cursor from next_cursor or an ISO-8601 time"),
        ("-5", "must be a cursor from next_cursor or an ISO-8601 time"),
        ("1" * 19, "must be a cursor from next_cursor or an ISO-8601 time"),
        ("x" * 41, "must be at most 40 characters"),
        ("", "must not be empty"),
    ],
)
def test_bad_since_is_a_problem(client, since, reason):
    response = client.get(CHANGES, query_string={"since": since})
    assert response.status_code == 400
    assert response.get_json()["errors"][0]["name"] == "since"
    assert reason in response.get_json()["errors"][0]["reason"]


def test_a_cursor_ahead_of_the_feed_is_a_conflict(client):
    cursor = client.get(CHANGES, query_string={"limit": 1000}).get_json()["next_cursor"]
    response = client.get(CHANGES, query_string={"since": int(cursor) + 1})
    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"
    assert "replay the feed from the start" in response.get_json()["detail"]


def test_feed_in_gcj02(client):
    wgs = client.get(CHANGES, query_string={"limit": 1}).get_json()["changes"][0]["station"]
    body = client.get(CHANGES, query_string={"limit": 1, "coord": "gcj02"}).get_json()
    gcj = body["changes"][0]["station"]
    assert body["coord"] == "gcj02"
    assert 0.002 < abs(gcj["lng"] - wgs["lng"]) < 0.01


def test_export_geojson_has_every_station_and_the_licence(client):
    response = client.get(EXPORT)
    assert response.status_code == 200
    assert response.mimetype == "application/geo+json"
    assert 'rel="license"' in response.headers["Link"]
    assert response.headers["X-Data-License"] == "CC BY 4.0"
    body = response.get_json()
    assert body["type"] == "FeatureCollection" and body["count"] == 814
    assert body["license"]["name"] == "CC BY 4.0" and "sample" in body["license"]["notice"]
    assert len({feature["id"] for feature in body["features"]}) == 814
    assert "open_now" not in body["features"][0]["properties"]


def test_export_csv_round_trips_the_data(client):
    response = client.get(EXPORT, query_string={"format": "csv"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["Content-Disposition"]
    assert 'rel="license"' in response.headers["Link"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 814
    station = db.session.get(Station, int(rows[0]["id"]))
    assert rows[0]["name"] == station.name
    assert float(rows[0]["lat"]) == station.lat
    words = {True: "yes", False: "no", None: ""}
    assert rows[0]["drinking_water"] == words[station.drinking_water]


def test_export_is_revalidated_by_the_data_version(client):
    first = client.get(EXPORT, query_string={"format": "csv"})
    etag = first.headers["ETag"]
    again = client.get(EXPORT, query_string={"format": "csv"}, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""
    db.session.scalars(sa.select(Station).limit(1)).one().name = "新名字"
    db.session.commit()
    changed = client.get(EXPORT, query_string={"format": "csv"}, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


def test_bad_export_format(client):
    response = client.get(EXPORT, query_string={"format": "xlsx"})
    assert response.status_code == 400
    assert response.get_json()["errors"] == [
        {"name": "format", "reason": "must be one of geojson, csv"}
    ]


# Commit order, with real concurrent transactions (PostgreSQL; SQLite has one writer at a time).


@pytest.fixture
def committed_postgis(tmp_path_factory):
    """An app on its own PostGIS database whose transactions really commit."""
    from conftest import _postgis_url

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": _postgis_url("_commits")})
    with app.app_context():
        upgrade()
        yield app
        db.session.remove()
        db.engine.dispose()


def _insert(connection, n):
    now = utcnow()
    connection.execute(
        sa.insert(Station).values(
            external_id=f"c-{n}",
            kind="warm_station",
            name=f"c {n}",
            lat=22.5,
            lng=114.0,
            status="open",
            is_sample=False,
            created_at=now,
            updated_at=now,
        )
    )


def test_a_change_committed_late_is_not_skipped(committed_postgis):
    client = committed_postgis.test_client()
    engine = db.engine
    with engine.begin() as connection:
        _insert(connection, 0)
    cursor = client.get(CHANGES).get_json()["next_cursor"]
    slow = engine.connect()
    slow_transaction = slow.begin()
    _insert(slow, 1)  # takes the next number, commits later
    fast_done = threading.Event()

    def fast_writer():
        with engine.begin() as connection:
            _insert(connection, 2)
        fast_done.set()

    thread = threading.Thread(target=fast_writer)
    thread.start()
    time.sleep(0.3)
    assert not fast_done.is_set(), "a second writer must wait for the first to end"
    body = client.get(CHANGES, query_string={"since": cursor}).get_json()
    assert body["changes"] == [] and body["next_cursor"] == cursor
    slow_transaction.commit()
    slow.close()
    thread.join(timeout=10)
    body = client.get(CHANGES, query_string={"since": cursor}).get_json()
    assert [c["station"]["external_id"] for c in body["changes"]] == ["c-1", "c-2"]


def test_writers_in_opposite_orders_do_not_deadlock(committed_postgis):
    engine = db.engine
    with engine.begin() as connection:
        _insert(connection, "a")
        _insert(connection, "b")
    errors, first_has_a = [], threading.Event()

    def writer(order, wait_for_first):
        try:
            with engine.begin() as connection:
                for n, external_id in enumerate(order):
                    if n == 1 and wait_for_first:
                        time.sleep(0.3)
                    connection.execute(
                        sa.update(Station)
                        .where(Station.external_id == external_id)
                        .values(name=f"by {order}")
                    )
                    first_has_a.set()
        except sa.exc.DBAPIError as error:
            errors.append(error)

    one = threading.Thread(target=writer, args=(("c-a", "c-b"), True))
    one.start()
    first_has_a.wait(5)
    two = threading.Thread(target=writer, args=(("c-b", "c-a"), False))
    two.start()
    one.join(10)
    two.join(10)
    assert errors == []


def test_truncate_is_refused(committed_postgis):
    with pytest.raises(sa.exc.DBAPIError, match="would leave no tombstones"):
        with db.engine.begin() as connection:
            connection.exec_driver_sql("TRUNCATE station CASCADE")


@pytest.mark.parametrize(
    ("path", "module"), [(CHANGES, "stations.api.feed"), (EXPORT, "stations.api.export")]
)
def test_the_feed_and_the_export_each_have_their_own_module(path, module):
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    endpoint, _ = app.url_map.bind("localhost").match(path)
    assert app.view_functions[endpoint].__module__ == module
