"""Coverage counts: each nearest search counts its grid cell, day, kind filter and distance band,
and nothing else; counts are written in batches, and at a worker's exit; old days are pruned."""

import re
from datetime import date, timedelta

import h3
import pytest
import requests
import sqlalchemy as sa
from flask_migrate import upgrade
from servers import app_environment, gunicorn
from support import make_station, statements_run

from stations import create_app
from stations.core import coverage
from stations.core.db import db
from stations.core.hours import local_date, local_now
from stations.core.models import CoverageCount

NEAREST = "/api/v1/stations/nearest"
A = (22.5431, 114.0579)  # Futian, WGS-84
NORTH_600_M = (22.5485, 114.0579)  # ~598 m north of A
FAR = (22.7000, 114.3000)  # ~30 km from any station here


@pytest.fixture
def fresh_counts(app, monkeypatch):
    """No counts left over from other tests; each search written at once unless told."""
    app.extensions["stations.coverage"] = coverage._Pending()
    monkeypatch.setitem(app.config, "COVERAGE_FLUSH_S", 0)


@pytest.fixture
def stations(fresh_counts):
    """An open warm station at A (24/7), a driver's home nearby closed for good."""
    make_station("A", lat=A[0], lng=A[1], opening_hours="24/7")
    make_station(
        "C",
        lat=A[0] + 0.002,
        lng=A[1],
        kind="driver_home",
        status="temporarily_closed",
        closed_until=date(2099, 1, 1),
    )


def search(app, position, **query):
    response = app.test_client().get(
        NEAREST, query_string={"lat": position[0], "lng": position[1]} | query
    )
    assert response.status_code == 200, response.text
    return response


def stored_counts():
    """{(cell, kind, nearest_over_m): searches} of today's rows, and the days stored."""
    rows = db.session.execute(sa.select(CoverageCount)).scalars().all()
    assert {row.day for row in rows} <= {local_date(local_now())}
    return {(row.cell, row.kind, row.nearest_over_m): row.searches for row in rows}


def cell(position):
    return h3.latlng_to_cell(position[0], position[1], 8)


def test_a_scripted_set_of_searches_is_counted_exactly(app, stations):
    for _ in range(3):
        search(app, A)
    for _ in range(2):
        search(app, NORTH_600_M, limit=1)
    for _ in range(4):
        search(app, A, kind="driver_home")  # the only one is closed: no open match at all
    search(app, A, kind="warm_station,driver_home", open_now="true")
    search(app, FAR, radius_m=500)  # nothing within its radius; A is ~30 km away
    assert stored_counts() == {
        (cell(A), "", 0): 3,
        (cell(NORTH_600_M), "", 500): 2,
        (cell(A), "driver_home", 3000): 4,
        (cell(A), "driver_home,warm_station", 0): 1,
        (cell(FAR), "", 3000): 1,
    }


def test_a_position_in_another_datum_is_counted_in_its_wgs84_cell(app, stations):
    from stations.core.datum import from_wgs84

    lat, lng = from_wgs84("gcj02", lat=A[0], lng=A[1])
    search(app, (lat, lng), coord="gcj02")
    assert stored_counts() == {(cell(A), "", 0): 1}


@pytest.mark.parametrize(
    ("distance_m", "band"),
    [
        (0.0, 0),
        (250.0, 0),
        (250.1, 250),
        (1000.0, 750),
        (1000.5, 1000),
        (3000.0, 2750),
        (3000.1, 3000),
        (25_000.0, 3000),
        (None, 3000),
    ],
)
def test_distance_bands(distance_m, band):
    assert coverage.distance_band_m(distance_m) == band


def _all_rows(connection):
    """Every row of every table but PostGIS's own, by table."""
    names = sa.inspect(connection).get_table_names()
    return {
        name: sorted(map(repr, connection.exec_driver_sql(f'SELECT * FROM "{name}"').all()))
        for name in names
        if name != "spatial_ref_sys"
    }


def test_no_table_holds_a_position_finer_than_the_cell(app, stations):
    positions = [(22.5431234, 114.0579876), (22.5490417, 114.0611112), (22.6012345, 114.1198765)]
    connection = db.session.connection()
    before = _all_rows(connection)
    for lat, lng in positions:
        search(app, (lat, lng), kind="warm_station")
    after = _all_rows(connection)
    written = {name for name in after if after[name] != before.get(name)}
    assert written == {"coverage_count"}
    rows = db.session.execute(sa.select(CoverageCount.__table__)).mappings().all()
    assert len(rows) == 3
    for row in rows:
        assert set(row) == {"day", "cell", "kind", "nearest_over_m", "searches"}
        assert h3.is_valid_cell(row["cell"]) and h3.get_resolution(row["cell"]) == 8
        assert row["kind"] == "warm_station" and row["searches"] == 1
        assert isinstance(row["nearest_over_m"], int) and row["nearest_over_m"] % 250 == 0
        assert isinstance(row["day"], date)
    text = " ".join(after["coverage_count"])
    assert not re.search(r"\d+\.\d", text)  # no decimal number at all
    for lat, lng in positions:
        for digits in (f"{lat:.7f}"[3:], f"{lng:.7f}"[4:]):
            assert digits not in text


def test_counts_are_written_in_batches(app, stations, monkeypatch):
    monkeypatch.setitem(app.config, "COVERAGE_FLUSH_S", 5)
    clock = [1000.0]
    monkeypatch.setattr(coverage.time, "monotonic", lambda: clock[0])
    app.extensions["stations.coverage"] = coverage._Pending()
    with statements_run(db.session.connection()) as seen:
        for _ in range(10):
            search(app, A)
        clock[0] += 4
        search(app, A)
        assert stored_counts() == {}  # all still in memory
        clock[0] += 1  # COVERAGE_FLUSH_S since the last write: the next search writes all
        search(app, A)
    inserts = [s for s, _ in seen if s.startswith("INSERT INTO coverage_count")]
    assert len(inserts) == 1
    assert stored_counts() == {(cell(A), "", 0): 12}


def test_every_worker_writes_its_counts_in_one_order():
    # Two workers writing the same keys at once must lock their rows in the same order.
    keys = [
        coverage.SearchCount(day=date(2026, 12, day), cell=cell, kind=kind, nearest_over_m=band)
        for day in (1, 2)
        for cell in ("88411c8d", "88411c8a")
        for kind in ("", "warm_station")
        for band in (0, 750)
    ]
    one_worker = coverage.upsert_rows({key: 1 for key in keys})
    another = coverage.upsert_rows({key: 2 for key in reversed(keys)})
    order = [tuple(row[name] for name in coverage.SearchCount._fields) for row in one_worker]
    assert order == sorted(keys)
    assert [row["searches"] for row in another] == [2] * len(keys)
    assert [{k: v for k, v in row.items() if k != "searches"} for row in another] == [
        {k: v for k, v in row.items() if k != "searches"} for row in one_worker
    ]


def test_counts_the_database_cannot_take_now_are_written_later(app, stations, monkeypatch):
    execute, failures = db.session.execute, ["database is locked"]

    def busy_once(statement, *args, **kwargs):
        if failures and isinstance(statement, sa.Insert):
            raise sa.exc.OperationalError("INSERT INTO coverage_count", {}, Exception(failures[0]))
        return execute(statement, *args, **kwargs)

    monkeypatch.setattr(db.session, "execute", busy_once)
    search(app, A)
    assert failures and app.extensions["stations.coverage"].counts
    failures.clear()
    search(app, A)
    assert stored_counts() == {(cell(A), "", 0): 2}


def test_recording_can_be_switched_off(app, stations, monkeypatch):
    monkeypatch.setitem(app.config, "COVERAGE_ENABLED", False)
    search(app, A)
    assert stored_counts() == {} and not app.extensions["stations.coverage"].counts


def test_a_gap_the_bands_cannot_tell_stops_the_app():
    for gap in (0, 1100, 3250):
        with pytest.raises(RuntimeError, match="COVERAGE_GAP_M must be a multiple of 250"):
            create_app(
                {"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://", "COVERAGE_GAP_M": gap}
            )


def test_pruning_drops_days_older_than_180(app, fresh_counts):
    today = local_date(local_now())
    for age in (400, 180, 179, 0):
        row = {"cell": cell(A), "kind": "", "nearest_over_m": 0, "searches": 5}
        db.session.add(CoverageCount(day=today - timedelta(days=age), **row))
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["prune-coverage"])
    assert result.exit_code == 0, result.output
    assert result.output == "Deleted 2 coverage count row(s) older than 180 days.\n"
    days = db.session.scalars(sa.select(CoverageCount.day).order_by(CoverageCount.day)).all()
    assert days == [today - timedelta(days=179), today]


def test_gunicorn_workers_write_their_counts_when_they_exit(tmp_path):
    url = "sqlite:///" + str(tmp_path / "served.sqlite")
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        make_station("A", lat=A[0], lng=A[1], opening_hours="24/7")
    env = app_environment(DATABASE_URL=url, COVERAGE_FLUSH_S="3600", RATELIMIT_ENABLED="false")
    with gunicorn(env, workers=2) as base:
        for _ in range(6):
            answer = requests.get(base + NEAREST, params={"lat": A[0], "lng": A[1]}, timeout=30)
            assert answer.status_code == 200
        with app.app_context():
            assert db.session.scalar(sa.select(sa.func.count()).select_from(CoverageCount)) == 0
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.sum(CoverageCount.searches))) == 6
        db.engine.dispose()


@pytest.mark.parametrize(
    ("path", "phrase"),
    [
        ("/?lang=zh", "每次查找只记下：约 500 米的网格、日期、所选的站点类型"),
        ("/?lang=en", "each search records only: its ~500 m grid cell, the day"),
        ("/api/docs?lang=zh", "每次最近站点查询记下什么"),
        ("/api/docs?lang=en", "What a nearest search records"),
    ],
)
def test_riders_and_developers_are_told_what_is_recorded(client, path, phrase):
    page = client.get(path).text
    recorded = page.split('id="recorded"', 1)[1].split("</p>", 1)[0]
    assert phrase in recorded
    assert "IP" in recorded
