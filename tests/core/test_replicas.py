"""Read replicas (stations/core/replicas.py): public reads from a replica, writes and logged-in
pages from the primary, a failing replica left aside; on SQLite and PostGIS. Here the replica is
a second database holding an older copy (a real streaming standby: tests/deploy/test_topology.py).
"""

import logging
import math
import re
import sqlite3

import pytest
import sqlalchemy as sa
from conftest import BACKENDS, UNLIMITED_API, _postgis_url
from flask_migrate import upgrade
from servers import free_port
from support import browser, make_world

from stations import create_app
from stations.core import faults
from stations.core.db import db
from stations.core.models import CoverageCount, Report, Station, User
from stations.core.replica_lag import lag_bound, lsn_number
from stations.core.station_json import forget_stored

OLD_NAME = "驿站 A"  # as the replica has it
NEW_NAME = "驿站 A（新名）"  # as the primary has it since


def _app(primary, replicas=()):
    config = {"SQLALCHEMY_DATABASE_URI": primary, "DATABASE_REPLICA_URL": tuple(replicas)}
    config |= {"PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"} | UNLIMITED_API
    return create_app(config)


@pytest.fixture(scope="module", params=BACKENDS)
def databases(request, tmp_path_factory):
    """(primary URL, replica URL): the same world in both, then station A renamed on the primary."""
    if request.param == "sqlite":
        folder = tmp_path_factory.mktemp("replicas")
        urls = [f"sqlite:///{folder / name}.sqlite" for name in ("primary", "replica")]
    else:
        urls = [_postgis_url("_replica_primary"), _postgis_url("_replica_copy")]
    for url in urls:
        app = _app(url)
        with app.app_context():
            upgrade()
            make_world()
            db.session.remove()
            db.engine.dispose()
    app = _app(urls[0])
    with app.app_context():
        db.session.execute(
            sa.update(Station).where(Station.external_id == "A").values(name=NEW_NAME)
        )
        db.session.commit()
        db.engine.dispose()
    return urls


@pytest.fixture
def make_app():
    """_app(), its engines closed after the test."""
    forget_stored()  # station items remembered by (id, change number) from other databases
    made = []
    yield lambda *args: made.append(_app(*args)) or made[-1]
    for app in made:
        with app.app_context():
            for engine in db.engines.values():
                engine.dispose()


@pytest.fixture
def replicated(databases, make_app):
    """The app reading from the replica."""
    return make_app(databases[0], [databases[1]])


def _station_id(app):
    with app.app_context():
        return db.session.scalar(sa.select(Station.id).where(Station.external_id == "A"))


def _metric(client, name, **labels):
    """A sample's value from /metrics (0 when absent)."""
    text = client.get("/metrics").text
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    match = re.search(rf"^{name}\{{{re.escape(wanted)}\}} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_public_reads_come_from_the_replica(replicated):
    client = replicated.test_client()
    station_id = _station_id(replicated)
    before = _metric(client, "stations_public_reads_total", database="replica")
    one = client.get(f"/api/v1/stations/{station_id}")
    assert one.status_code == 200
    assert one.json["data"]["name"] == OLD_NAME
    nearest = client.get("/api/v1/stations/nearest?lat=22.5431&lng=114.0579&limit=1")
    assert [item["name"] for item in nearest.json["data"]] == [OLD_NAME]
    listed = client.get("/api/v1/stations?bbox=114.05,22.54,114.06,22.55")
    assert [item["name"] for item in listed.json["data"]] == [OLD_NAME]
    feed = client.get("/api/v1/stations/changes")
    assert OLD_NAME in [change["station"]["name"] for change in feed.json["changes"]]
    export = client.get("/api/v1/stations/export?format=csv")
    assert OLD_NAME in export.text and NEW_NAME not in export.text
    assert client.get("/").status_code == 200
    after = _metric(client, "stations_public_reads_total", database="replica")
    assert after - before == 6
    assert _metric(client, "stations_replica_in_use", replica=_label(replicated)) == 1


def _label(app):
    url = sa.make_url(app.config["DATABASE_REPLICA_URL"][0])
    if url.get_backend_name() == "sqlite":
        return url.database
    return f"{url.host}:{url.port or 5432}/{url.database}"


def test_a_logged_in_manager_reads_the_primary(replicated):
    station_id = _station_id(replicated)
    with replicated.app_context():
        manager = db.session.scalar(sa.select(User).where(User.email == "a@example.org"))
    client = browser(replicated, manager)
    page = client.get(f"/manage/stations/{station_id}")
    assert page.status_code == 200
    assert NEW_NAME in page.text
    # The API has no sessions (manage/auth.py): the manager's cookie makes its answers no
    # different from anyone's, read from the replica.
    assert client.get(f"/api/v1/stations/{station_id}").json["data"]["name"] == OLD_NAME


def test_writes_go_to_the_primary(replicated, databases):
    station_id = _station_id(replicated)
    answer = replicated.test_client().post(
        f"/api/v1/stations/{station_id}/reports", json={"reason": "closed", "text": "关门了"}
    )
    assert answer.status_code == 201
    texts = []
    for url in databases:
        engine = sa.create_engine(url)
        with engine.connect() as connection:
            texts.append(connection.scalars(sa.select(Report.text)).all())
        engine.dispose()
    assert "关门了" in texts[0]
    assert "关门了" not in texts[1]


def test_a_search_writes_its_coverage_counts_to_the_primary(databases, make_app):
    # The counts are written by the search that finds them due (an ORM bulk INSERT), inside a
    # read from the replica: to the primary all the same, and the replica stays in use.
    app = make_app(databases[0], [databases[1]])
    app.config["COVERAGE_FLUSH_S"] = 0
    counts = []
    for url in databases:
        engine = sa.create_engine(url)
        with engine.begin() as connection:
            connection.execute(sa.delete(CoverageCount))
        engine.dispose()
    client = app.test_client()
    for _ in range(2):
        assert client.get("/api/v1/stations/nearest?lat=22.5431&lng=114.0579").status_code == 200
    for url in databases:
        engine = sa.create_engine(url)
        with engine.connect() as connection:
            counts.append(connection.scalar(sa.select(sa.func.sum(CoverageCount.searches))))
        engine.dispose()
    assert counts == [2, None]
    assert _metric(client, "stations_replica_in_use", replica=_label(app)) == 1


def test_a_cursor_ahead_of_the_replica_is_answered_by_the_primary(replicated):
    client = replicated.test_client()
    with replicated.app_context():
        last = db.session.scalar(sa.select(sa.func.max(Station.change_seq)))
    # The replica's last change is last - 1 (before the renaming): from there it has nothing
    # new yet, and says so without moving the cursor past what it has.
    behind = client.get(f"/api/v1/stations/changes?since={last - 1}")
    assert behind.status_code == 200
    assert behind.json["changes"] == []
    assert behind.json["next_cursor"] == str(last - 1)
    # A cursor the primary gave, past the replica's last change: the primary answers, no 409.
    answer = client.get(f"/api/v1/stations/changes?since={last}")
    assert answer.status_code == 200
    assert answer.json["changes"] == []
    assert answer.json["next_cursor"] == str(last)
    ahead = client.get(f"/api/v1/stations/changes?since={last + 1000}")
    assert ahead.status_code == 409


def _dead_url(backend):
    if backend == "sqlite":
        return "sqlite:////nonexistent-directory/replica.sqlite"
    return f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/stations"


def test_an_unreachable_replica_is_left_aside(databases, make_app, caplog):
    backend = sa.make_url(databases[0]).get_backend_name()
    app = make_app(databases[0], [_dead_url(backend)])
    client = app.test_client()
    station_id = _station_id(app)
    before = _metric(client, "stations_public_reads_total", database="primary")
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            answer = client.get(f"/api/v1/stations/{station_id}")
            assert answer.status_code == 200
            assert answer.json["data"]["name"] == NEW_NAME
    aside = [r.getMessage() for r in caplog.records if "left aside" in r.getMessage()]
    assert len(aside) == 1, aside
    assert "it did not answer" in aside[0]
    assert _metric(client, "stations_public_reads_total", database="primary") - before == 3
    assert _metric(client, "stations_replica_in_use", replica=_label(app)) == 0
    assert _metric(client, "stations_replica_set_aside_total", replica=_label(app), reason="error")


def test_a_replica_failing_during_a_read_is_answered_by_the_primary(replicated, caplog):
    client = replicated.test_client()
    station_id = _station_id(replicated)
    assert client.get(f"/api/v1/stations/{station_id}").json["data"]["name"] == OLD_NAME
    backend = sa.make_url(replicated.config["SQLALCHEMY_DATABASE_URI"]).get_backend_name()
    with replicated.app_context():
        replica = replicated.extensions["stations.replicas"].replicas[0]
        replica.next_check = math.inf  # no check comes first: the read itself meets the failure
        working = db.engines["replica1"]
        working.dispose()
        db.engines["replica1"] = sa.create_engine(_dead_url(backend))
    with caplog.at_level(logging.WARNING):
        for path in (
            f"/api/v1/stations/{station_id}",
            "/api/v1/stations/nearest?lat=22.5431&lng=114.0579&limit=1",
        ):
            replica.next_check = math.inf
            replica.in_use = True
            answer = client.get(path)
            assert answer.status_code == 200, path
            data = answer.json["data"]
            assert (data["name"] if isinstance(data, dict) else data[0]["name"]) == NEW_NAME
    failed = [r.getMessage() for r in caplog.records if "a read failed" in r.getMessage()]
    assert len(failed) == 2, failed
    with replicated.app_context():
        db.engines["replica1"] = working  # closed with the app's


def test_without_replicas_nothing_changes(databases, make_app):
    app = make_app(databases[0])
    assert app.config["SQLALCHEMY_BINDS"] == {}
    assert "stations.replicas" not in app.extensions
    client = app.test_client()
    station_id = _station_id(app)
    assert client.get(f"/api/v1/stations/{station_id}").json["data"]["name"] == NEW_NAME


HISTORY = [(10.0, 100), (11.0, 200), (12.0, 300)]


@pytest.mark.parametrize(
    ("replayed", "history", "replay_age_s", "lag_s"),
    [
        (300, HISTORY, 3600.0, 0.0),  # at the primary's position: current, however idle
        (350, HISTORY, None, 0.0),  # past it (the primary moved on since it was read)
        (200, HISTORY, 3600.0, 1.0),  # has what the primary had at 11.0: at most 12.0 - 11.0
        (250, HISTORY, 0.4, 0.4),  # its last commit replayed 0.4 s ago: the smaller bound
        (150, HISTORY, None, 2.0),  # has what the primary had at 10.0
        (50, HISTORY, 7.5, 7.5),  # older than the history: PostgreSQL's own bound
        (50, HISTORY, None, math.inf),  # nothing known
        (50, [], 2.0, 2.0),
    ],
)
def test_lag_bound(replayed, history, replay_age_s, lag_s):
    assert lag_bound(replayed=replayed, history=history, now=12.0, replay_age_s=replay_age_s) == (
        lag_s
    )


@pytest.mark.parametrize(
    ("text", "number"), [("0/0", 0), ("0/16B3F50", 0x16B3F50), ("1A/FF", (0x1A << 32) + 0xFF)]
)
def test_lsn_number(text, number):
    assert lsn_number(text) == number


class _DriverError(Exception):
    def __init__(self, sqlstate):
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (sa.exc.OperationalError("x", None, _DriverError(None)), True),  # refused: no SQLSTATE
        (sa.exc.OperationalError("x", None, _DriverError("57P01")), True),  # admin shutdown
        (sa.exc.OperationalError("x", None, _DriverError("57P03")), True),  # starting up
        (sa.exc.OperationalError("x", None, _DriverError("08006")), True),  # connection failure
        (sa.exc.DBAPIError("x", None, _DriverError("XX000"), connection_invalidated=True), True),
        (sa.exc.OperationalError("x", None, _DriverError("55P03")), False),  # a lock: busy
        (sa.exc.ProgrammingError("x", None, _DriverError("42P01")), False),  # a bug
        (sa.exc.OperationalError("x", None, sqlite3.OperationalError("no such table")), False),
    ],
)
def test_what_sends_a_read_to_another_database(error, expected):
    # A replica (or the primary) that is down is left aside; a busy one or a bug is not.
    assert (faults.fault(error) == faults.DOWN) is expected
