"""The deployment for many riders, on loopback with real parts: a PostgreSQL primary (PostGIS) and
a hot standby made by `pg_basebackup -R` (streaming replication), a Redis, two gunicorn app
servers (2 workers each, one SECRET_KEY), and nginx in front with deploy/nginx.conf listing both.
Every server is the test's own (tests/pg_servers.py, tests/servers.py); skipped locally without
nginx, never in CI."""

import random
import re
import secrets
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import pytest
import requests
import sqlalchemy as sa
from flask_migrate import upgrade
from pg_servers import PostgresServer, own_postgres
from prometheus_client.parser import text_string_to_metric_families
from servers import app_environment, gunicorn, own_redis_server
from support import make_station
from test_nginx import _nginx_or_skip, nginx, self_signed

from stations import create_app
from stations.api.keys import create_key
from stations.cli import SAMPLE_FILE
from stations.core.accounts import create_user
from stations.core.db import db
from stations.core.importer import import_stations
from stations.core.models import Station, StationTombstone
from stations.core.replicas import CHECK_S

PASSWORD = "a long manager password"
MANAGER = "manager@example.org"
MAX_LAG_S = 2  # REPLICA_MAX_LAG_S of the app servers
# The origin the app sees behind nginx (Host without the test's port), for CSRF's Referer check.
ORIGIN = "https://127.0.0.1"


@dataclass
class Topology:
    https: str  # nginx
    cert: str
    servers: list  # the two app servers' own base URLs
    primary: PostgresServer
    replica: PostgresServer
    database: str  # the primary's URL
    token: str  # an API key of 5 a minute
    station_id: int  # the manager's station
    near: str  # query string of a position at that station
    logs: list  # the app servers' log files, then nginx's error log


@pytest.fixture(scope="module")
def topology(tmp_path_factory):
    _nginx_or_skip()
    folder = tmp_path_factory.mktemp("topology")
    with ExitStack() as stack:
        # Not under tmp_path: the postgres user must reach it (pytest's folder is root's only).
        pg_folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="topology-pg-"))
        primary = stack.enter_context(own_postgres(pg_folder))
        database = _create_database(primary)
        token, station_id, near = _load(database)
        replica = primary.replica(pg_folder)
        redis_url, _stop, _start = stack.enter_context(own_redis_server())
        env = app_environment(
            DATABASE_URL=database,
            DATABASE_REPLICA_URL=replica.url("stations"),
            REPLICA_MAX_LAG_S=str(MAX_LAG_S),
            REDIS_URL=redis_url,
            SECRET_KEY=secrets.token_hex(32),
            TRUSTED_PROXIES="1",
            API_LIMIT_PER_IP="100000 per minute",
            REPORT_LIMIT_PER_IP="100000 per hour",
            REPORT_LIMIT_PER_STATION="100000 per hour",
        )
        logs = [folder / "a.log", folder / "b.log"]
        servers = [stack.enter_context(gunicorn(env, log, workers=2)) for log in logs]
        logs.append(folder / "error.log")
        cert, key = self_signed(folder)
        ports = [base.rsplit(":", 1)[1] for base in servers]
        https, _http = stack.enter_context(nginx(folder, app_ports=ports, cert=cert, key=key))
        yield Topology(
            https, str(cert), servers, primary, replica, database, token, station_id, near, logs
        )


def _create_database(primary):
    admin = sa.create_engine(primary.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql("CREATE DATABASE stations")
    admin.dispose()
    return primary.url("stations")


def _load(database):
    """The schema, the sample, a key of 5 a minute and a manager: (token, station id, near)."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": database, "RATELIMIT_STORAGE_URI": "memory://"})
    with app.app_context():
        upgrade()
        import_stations(SAMPLE_FILE, is_sample=True)
        token = create_key("five a minute", per_minute=5)[1]
        station = db.session.scalar(sa.select(Station).order_by(Station.id).limit(1))
        create_user(
            MANAGER, role="manager", password=PASSWORD, stations=[station], actor=None, source="cli"
        )
        db.session.commit()
        found = station.id, f"lat={station.lat}&lng={station.lng}&limit=1"
        db.session.remove()
        db.engine.dispose()
    return token, *found


@contextmanager
def _primary_app(topology):
    """The app on the primary, in this process, for setting data up and reading it back."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": topology.database})
    with app.app_context():
        try:
            yield app
        finally:
            db.session.remove()
            db.engine.dispose()


def _nearest(base, topology, **headers):
    answer = requests.get(
        f"{base}/api/v1/stations/nearest?{topology.near}",
        headers=headers,
        verify=topology.cert,
        timeout=30,
    )
    return answer


def _scrape(base):
    """{(name, sorted label items): value} of an app server's /metrics (all its workers)."""
    text = requests.get(base + "/metrics", timeout=10).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _reads(base, database):
    return _scrape(base).get(("stations_public_reads_total", (("database", database),)), 0)


def _wait_until(condition, timeout_s, message):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(message)


@contextmanager
def _under_load(call, threads=2):
    """`call` repeated by `threads` threads until the block ends; the list of what it returned."""
    results, stop = [], threading.Event()

    def work():
        while not stop.is_set():
            results.append(call())

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    try:
        yield results
    finally:
        stop.set()
        for worker in workers:
            worker.join()


def _login(topology):
    """A requests session of the manager, through nginx."""
    browser = requests.Session()
    browser.trust_env = False  # else REQUESTS_CA_BUNDLE would win over `verify`
    browser.verify = topology.cert
    browser.headers["Referer"] = ORIGIN + "/manage/"
    login_page = browser.get(topology.https + "/login", timeout=30).text
    answer = browser.post(
        topology.https + "/login",
        data={"csrf_token": _csrf(login_page), "email": MANAGER, "password": PASSWORD},
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code == 302, answer.text
    return browser


def _csrf(html):
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def test_a_managers_save_shows_at_once_and_on_both_servers_within_the_lag(topology):
    browser = _login(topology)
    page_url = f"{topology.https}/manage/stations/{topology.station_id}"
    page = browser.get(page_url, timeout=30).text
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    phone = f"0755-{random.randrange(10**7, 10**8)}"
    for base in topology.servers * 4:  # each worker's first search reads every station: not lag
        _nearest(base, topology)
    before = [_reads(base, "replica") for base in topology.servers]
    saved = browser.post(
        f"{page_url}/phone",
        data={"csrf_token": _csrf(page), "version": version, "phone": phone},
        headers={"Accept": "application/json"},
        timeout=30,
    )
    saved_at = time.monotonic()
    assert saved.status_code == 200, saved.text
    replicated_after = _replica_shows(topology, phone, since=saved_at)
    # The manager's own page shows it at once (whichever server answers: from the primary).
    for _ in range(4):
        assert phone in browser.get(page_url, timeout=30).text
    # Anonymous /nearest, straight from each app server (from the replica): within the lag.
    seen = {}
    while len(seen) < 2 and time.monotonic() - saved_at < MAX_LAG_S + 5:
        for base in topology.servers:
            if base not in seen and _nearest(base, topology).json()["data"][0]["phone"] == phone:
                seen[base] = time.monotonic() - saved_at
        time.sleep(0.01)
    assert len(seen) == 2, "the save never reached /nearest of both servers"
    print(f"save replayed by the replica after {replicated_after:.3f} s")
    print(f"save seen in /nearest of both servers after {sorted(seen.values())} s")
    # A replica lagging more than MAX_LAG_S is left aside within a check (CHECK_S).
    assert max(seen.values()) < MAX_LAG_S + CHECK_S
    # And those answers came from the replica.
    after = [_reads(base, "replica") for base in topology.servers]
    assert all(later > earlier for earlier, later in zip(before, after, strict=True))


def _replica_shows(topology, phone, *, since):
    """Seconds from `since` until the replica itself shows the station's new phone."""
    engine = sa.create_engine(topology.replica.url("stations"))
    query = sa.select(Station.phone).where(Station.id == topology.station_id)
    try:
        with engine.connect() as connection:
            while time.monotonic() - since < MAX_LAG_S + 5:
                if connection.scalar(query) == phone:
                    return time.monotonic() - since
                connection.rollback()
                time.sleep(0.005)
    finally:
        engine.dispose()
    raise AssertionError("the replica never showed the save")


def test_a_key_of_5_a_minute_answers_5_of_20_parallel_requests_on_both_servers(topology):
    def requests_of(scraped):
        return sum(
            value
            for (name, labels), value in scraped.items()
            if name == "stations_http_requests_total" and ("endpoint", "api.nearest") in labels
        )

    before = [requests_of(_scrape(base)) for base in topology.servers]
    with ThreadPoolExecutor(20) as pool:
        answers = list(
            pool.map(
                lambda _: _nearest(topology.https, topology, **{"X-API-Key": topology.token}),
                range(20),
            )
        )
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] * 5 + [429] * 15
    after = [requests_of(_scrape(base)) for base in topology.servers]
    assert all(later > earlier for earlier, later in zip(before, after, strict=True))


def _feed_changes(topology, base, cursor):
    since = f"&since={cursor}" if cursor is not None else ""
    answer = requests.get(f"{base}/api/v1/stations/changes?limit=50{since}", timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _saves(topology, stop):
    """Station changes on the primary until `stop`: renamings, deletions, new stations."""
    with _primary_app(topology):
        ids = db.session.scalars(sa.select(Station.id).where(Station.id != topology.station_id))
        ids, made = list(ids), 0
        while not stop.is_set():
            made += 1
            if made % 7 == 0:
                make_station(f"topology-{made}", lat=22.55, lng=114.06)
            elif made % 5 == 0:
                db.session.execute(sa.delete(Station).where(Station.id == ids.pop()))
            else:
                chosen = random.choice(ids[:-20])
                name = f"改名 {made}"
                db.session.execute(sa.update(Station).where(Station.id == chosen).values(name=name))
            db.session.commit()
            time.sleep(0.02)


def test_a_feed_replay_through_both_servers_during_saves_equals_the_primary(topology):
    stop = threading.Event()
    writer = threading.Thread(target=_saves, args=(topology, stop))
    writer.start()
    copy, cursor, calls = {}, None, 0
    try:
        started = time.monotonic()
        while time.monotonic() - started < 4:
            page = _feed_changes(topology, topology.servers[calls % 2], cursor)
            calls += 1
            _apply(copy, page)
            cursor = page["next_cursor"]
    finally:
        stop.set()
        writer.join()
    with _primary_app(topology):
        stations = db.session.execute(sa.select(Station.id, Station.name)).all()
        last = max(
            db.session.scalar(sa.select(sa.func.max(Station.change_seq))),
            db.session.scalar(sa.select(sa.func.max(StationTombstone.change_seq))) or 0,
        )
    deadline = time.monotonic() + MAX_LAG_S + 5
    while int(cursor) < last or page["has_more"]:
        assert time.monotonic() < deadline, "the feed did not reach the primary's last change"
        page = _feed_changes(topology, topology.servers[calls % 2], cursor)
        calls += 1
        _apply(copy, page)
        cursor = page["next_cursor"]
    assert int(cursor) == last
    assert copy == dict(stations)


def _apply(copy, page):
    for change in page["changes"]:
        if change["op"] == "upsert":
            copy[change["id"]] = change["station"]["name"]
        else:
            copy.pop(change["id"], None)


def _replica_sql(topology, statement):
    engine = sa.create_engine(topology.replica.url("stations"))
    with engine.connect() as connection:
        connection.exec_driver_sql(statement)
    engine.dispose()


def test_a_lagging_replica_is_left_aside_until_it_catches_up(topology):
    _replica_sql(topology, "SELECT pg_wal_replay_pause()")
    try:
        phone = f"0755-{random.randrange(10**7, 10**8)}"
        with _primary_app(topology):
            db.session.execute(
                sa.update(Station).where(Station.id == topology.station_id).values(phone=phone)
            )
            db.session.commit()
        changed_at = time.monotonic()
        # The replica never shows it: once it lags over MAX_LAG_S, both servers read the primary.
        seen = {}
        while len(seen) < 2 and time.monotonic() - changed_at < MAX_LAG_S + 6:
            for base in topology.servers:
                if (
                    base not in seen
                    and _nearest(base, topology).json()["data"][0]["phone"] == phone
                ):
                    seen[base] = time.monotonic() - changed_at
            time.sleep(0.05)
        print(f"a paused replica's reads went to the primary after {sorted(seen.values())} s")
        assert len(seen) == 2
        # The bound errs early by at most a check's interval, never late by more than one.
        assert MAX_LAG_S - CHECK_S - 0.1 < min(seen.values())
        assert max(seen.values()) < MAX_LAG_S + CHECK_S + 1
        for base in topology.servers:
            lagged = [
                value
                for (name, labels), value in _scrape(base).items()
                if name == "stations_replica_set_aside_total" and ("reason", "lag") in labels
            ]
            assert sum(lagged) >= 1
    finally:
        _replica_sql(topology, "SELECT pg_wal_replay_resume()")
    _wait_for_replica_reads(topology)


def _wait_for_replica_reads(topology):
    """Wait until each app server answers public reads from the replica again, in every worker
    that has checked it (stations_replica_in_use is the smallest of the workers')."""
    for base in topology.servers:
        before = _reads(base, "replica")

        def back(base=base, before=before):
            _nearest(base, topology)
            scraped = _scrape(base)
            in_use = [v for (name, _), v in scraped.items() if name == "stations_replica_in_use"]
            replica_reads = scraped.get(("stations_public_reads_total", (("database", "replica"),)))
            return min(in_use, default=0) == 1 and (replica_reads or 0) > before

        _wait_until(back, 15, f"{base} did not read from the replica again")


def test_the_replica_stopped_under_load(topology):
    with _under_load(lambda: _nearest(topology.https, topology).status_code) as statuses:
        time.sleep(0.5)
        before = [_reads(base, "primary") for base in topology.servers]
        topology.replica.stop()
        time.sleep(3)
        during = [_reads(base, "primary") for base in topology.servers]
        topology.replica.start()
        _wait_for_replica_reads(topology)
    assert len(statuses) > 20
    assert set(statuses) == {200}, _errors(topology)
    assert all(later > earlier for earlier, later in zip(before, during, strict=True))
    for log in topology.logs[:2]:
        text = log.read_text()
        assert "left aside, its reads go to the primary" in text
        assert "back in use" in text


def _errors(topology):
    """The lines of the app servers' and nginx's logs that tell of an error (for a failure)."""
    lines = []
    for log in topology.logs:
        text = log.read_text() if log.exists() else ""
        lines += [f"{log.name}: {line}" for line in text.splitlines() if _ERROR.search(line)]
    return "\n".join(lines[-40:])


_ERROR = re.compile(r'ERROR|\[error\]|\[crit\]|\[alert\]|" 50[0-24-9] ')


def _report(topology):
    answer = requests.post(
        f"{topology.https}/api/v1/stations/{topology.station_id}/reports",
        json={"reason": "no_water", "text": ""},
        verify=topology.cert,
        timeout=30,
    )
    return answer.status_code, answer.headers.get("Content-Type"), answer.headers.get("Retry-After")


def test_the_primary_restarted_under_load(topology):
    reads = _under_load(lambda: _nearest(topology.https, topology).status_code)
    writes = _under_load(lambda: (time.monotonic(), *_report(topology)), threads=1)
    with reads as read_statuses, writes as written:
        time.sleep(0.5)
        topology.primary.stop()
        stopped = [_reads(base, "replica") for base in topology.servers]
        time.sleep(3)
        down = [_reads(base, "replica") for base in topology.servers]
        topology.primary.start()
        started = time.monotonic()
        # Each worker's first write after the restart may meet a dead pooled connection (503,
        # and the pool is renewed): recovered once four writes in a row are saved.
        _wait_until(
            lambda: (
                len(written) >= 4
                and all(at > started and status == 201 for at, status, *_ in written[-4:])
            ),
            20,
            "writes did not recover",
        )
    assert set(read_statuses) == {200}, _errors(topology)
    # Reads went on from the replica on both servers while the primary was down.
    assert all(later > earlier for earlier, later in zip(stopped, down, strict=True))
    refused = [answer for answer in written if answer[1] != 201]
    assert refused, "no write met the stopped primary"
    assert {(status, kind) for _at, status, kind, _retry in refused} == {
        (503, "application/problem+json")
    }, _errors(topology)
    assert all(int(retry) > 0 for *_, retry in refused)
