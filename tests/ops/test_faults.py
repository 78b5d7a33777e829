"""Faults on real services, through gunicorn with two workers on loopback, each bounded in time:
PostgreSQL restarted, Redis stopped and started, a worker killed, a SQLite disk full or
read-only. Whatever happens, no caller waits past CLIENT_TIMEOUT_S, none gets a 500 or an HTML
page from the API, and everything answers 200 again once the fault is gone."""

import contextlib
import errno
import os
import re
import secrets
import signal
import sqlite3
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import redis
import requests
import sqlalchemy as sa
from conftest import BACKENDS
from flask_migrate import upgrade
from ops_support import CHEAP_HASH, app_on, ops_database, samples, unreachable_url
from pg_servers import own_postgres
from servers import app_environment, gunicorn, own_redis_server
from support import PASSWORD, csrf_token, make_user

from stations.api.limit_storage import LEASE_MAX
from stations.api.limits import RETRY_STORAGE_S
from stations.cli import SAMPLE_FILE
from stations.core.db import db
from stations.core.importer import import_stations
from stations.core.models import Station

CLIENT_TIMEOUT_S = 10  # no answer may take longer: a hang is a failure
NEAREST = "/api/v1/stations/nearest?lat=22.5431&lng=114.0579&limit=5"
STATION = "/api/v1/stations/1"
READY = "/api/v1/ready"
PROBLEM = "application/problem+json"


@dataclass
class Answer:
    """One request of a client: when it started (time.monotonic()), how long it took, and what
    came back (`error` when nothing did: a reset, a refused connection, a timeout)."""

    path: str
    started: float
    elapsed_s: float
    status: int | None = None
    mimetype: str = ""
    retry_after: str | None = None
    body: object = None
    error: str | None = None


def ask(base, path, method="GET", session=None, **options):
    """An Answer to one request (redirects not followed)."""
    started = time.monotonic()
    send = (session or requests).request
    try:
        reply = send(
            method, base + path, timeout=CLIENT_TIMEOUT_S, allow_redirects=False, **options
        )
    except requests.RequestException as error:
        return Answer(path, started, time.monotonic() - started, error=repr(error))
    mimetype = reply.headers.get("Content-Type", "").split(";")[0]
    body = reply.json() if mimetype.endswith("json") else reply.text
    return Answer(
        path,
        started,
        time.monotonic() - started,
        reply.status_code,
        mimetype,
        reply.headers.get("Retry-After"),
        body,
    )


class Load:
    """Client threads asking for `paths` in turn, one request at a time each, until stopped."""

    def __init__(self, base, paths, threads=3):
        self.base, self.paths = base, paths
        self.answers = []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(n,)) for n in range(threads)]

    def _run(self, offset):
        turn = offset
        while not self.stopping.is_set():
            self.answers.append(ask(self.base, self.paths[turn % len(self.paths)]))
            turn += 1

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stopping.set()
        for thread in self.threads:
            thread.join(CLIENT_TIMEOUT_S + 5)
        assert not any(thread.is_alive() for thread in self.threads), "a client hangs"

    def between(self, start, end):
        """The answers to requests that began at or after `start` and ended before `end`."""
        return [a for a in self.answers if a.started >= start and a.started + a.elapsed_s < end]


def assert_unavailable(answer, retry_after):
    """A 503 problem+json, with Retry-After and the request's id."""
    assert (answer.status, answer.mimetype) == (503, PROBLEM), answer
    assert answer.retry_after == retry_after, answer
    assert answer.body["status"] == 503 and answer.body["request_id"], answer
    assert answer.body["title"] == "Service Unavailable", answer


def assert_all_answered(answers):
    """Every request got an answer in time, none a 500."""
    assert answers
    assert [a for a in answers if a.error] == []
    assert max(a.elapsed_s for a in answers) < CLIENT_TIMEOUT_S
    assert [a for a in answers if a.status not in (200, 503)] == []


def workers_of(base):
    """The pids of the gunicorn workers serving `base` (the master's children)."""
    bound = "127.0.0.1:" + base.rsplit(":", 1)[1]
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError):
            continue  # not a process, or gone meanwhile
        if "gunicorn" in str(command) and bound.encode() in command:
            found[int(entry.name)] = parent
    return {pid for pid, parent in found.items() if parent in found}


def until(condition, timeout_s, every_s=0.1):
    """Wait for condition() to be true; whether it became so in time."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every_s)
    return condition()


def served_env(url, **settings):
    """An app server's environment on the database at `url`, with no rate limit."""
    defaults = {"SECRET_KEY": secrets.token_hex(32), "RATELIMIT_ENABLED": "false"}
    return app_environment(DATABASE_URL=url, **(defaults | settings))


def database_errors(base):
    """stations_database_errors_total, every class summed, as /metrics shows it."""
    found = samples(requests.get(base + "/metrics", timeout=CLIENT_TIMEOUT_S).text)
    return sum(v for (name, _), v in found.items() if name == "stations_database_errors_total")


# In process: no server needed to see what a database that does not answer gives.


@pytest.mark.parametrize("backend", BACKENDS)
def test_pages_on_a_database_that_does_not_answer_are_503_with_the_reason(backend, tmp_path):
    with app_on(unreachable_url(backend, tmp_path)) as app:
        client = app.test_client()
        token = csrf_token(client.get("/login").text)
        form = {"csrf_token": token, "email": "a@example.org", "password": "x" * 12}
        login = client.post("/login", data=form)
        api = client.get("/api/v1/stations/1")
    assert (login.status_code, login.mimetype) == (503, "text/html")
    assert login.headers["Retry-After"] == "5"
    assert "数据库暂时无法连接" in login.text
    assert (api.status_code, api.mimetype) == (503, "application/problem+json")
    assert api.json["detail"] == "The database is not answering. Try again later."


# PostgreSQL restarted under load: a server of the test's own, never the shared one.

BACK_WITHIN_S = 5


def sample_on(server):
    """A database with PostGIS, the migrations and the sample, on a PostgresServer: its URL."""
    admin = server.url().replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute("CREATE DATABASE stations")
    url = server.url("stations")
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as connection:
        connection.execute("CREATE EXTENSION postgis")
    with app_on(url) as app, app.app_context():
        upgrade()
        import_stations(SAMPLE_FILE, is_sample=True)
        db.session.commit()
    return url


def test_a_postgresql_restart_under_load_is_503_then_200_again(tmp_path):
    with own_postgres(tmp_path) as server:
        url = sample_on(server)
        with gunicorn(served_env(url), tmp_path / "gunicorn.log", workers=2) as base:
            workers = workers_of(base)
            assert len(workers) == 2
            with Load(base, (NEAREST, STATION, READY)) as load:
                time.sleep(1)
                stopping_at = time.monotonic()
                server.stop("fast")
                down_at = time.monotonic()
                time.sleep(1.5)
                ready = ask(base, READY)
                returning_at = time.monotonic()
                server.start()
                back_at = time.monotonic()
                time.sleep(BACK_WITHIN_S + 1)
            after = [ask(base, path) for path in (NEAREST, STATION, READY)]
            errors = database_errors(base)
            assert workers_of(base) == workers  # no worker was restarted, nor timed out
    assert_all_answered(load.answers)
    for answer in load.answers:
        if answer.status == 503:
            assert_unavailable(answer, "5")
    before = load.between(0, stopping_at)
    assert before and {a.status for a in before} == {200}
    outage = load.between(down_at, returning_at)
    assert {a.path for a in outage} == {NEAREST, STATION, READY}
    assert {a.status for a in outage} == {503}
    assert_unavailable(ready, "5")
    assert ready.body["checks"] == {"database": "unreachable", "schema": "unchecked"}
    late = load.between(back_at + BACK_WITHIN_S, float("inf"))
    assert {a.path for a in late} == {NEAREST, STATION, READY}
    assert [a for a in late if a.status != 200] == []
    assert [a.status for a in after] == [200, 200, 200]
    assert after[2].body["checks"] == {"database": "ok", "schema": "ok"}
    assert errors >= len(outage)  # counted (the outage's requests, and any of the ping)


# Redis and a worker: on either database, which these tests only read.


@pytest.fixture(scope="module", params=BACKENDS)
def served_database(request, tmp_path_factory):
    """The URL of a database with the sample (the tests' rolled-back ones cannot be served)."""
    return ops_database(request.param, tmp_path_factory, "_faults").url


def counted_in_redis(client):
    """Every rate-limit count Redis holds, summed."""
    return sum(int(client.get(name) or 0) for name in client.scan_iter("LIMITS:*"))


def test_redis_stopped_and_started_under_load(served_database, tmp_path):
    log = tmp_path / "gunicorn.log"
    with own_redis_server() as (redis_url, stop_redis, start_redis):
        counts = redis.Redis.from_url(redis_url)
        env = served_env(
            served_database,
            REDIS_URL=redis_url,
            RATELIMIT_ENABLED="true",
            API_LIMIT_PER_IP="100000 per minute",  # counted, never refused
        )
        with gunicorn(env, log, workers=2) as base:
            with Load(base, (NEAREST, STATION)) as load:
                time.sleep(0.5)
                counted_before = counted_in_redis(counts)
                stop_redis()
                down_at = time.monotonic()
                time.sleep(1.5)
                ready = ask(base, READY)
                returning_at = time.monotonic()
                start_redis()
                time.sleep(RETRY_STORAGE_S + 1)  # each worker tries Redis again after a pause
            counted_after = counted_in_redis(counts)
            # More than each worker can hold counted ahead (its lease): Redis must count more.
            more = [ask(base, STATION) for _ in range(2 * LEASE_MAX + 1)]
            counted_at_last = counted_in_redis(counts)
            ready_again = ask(base, READY)
    assert_all_answered(load.answers)
    assert {a.status for a in load.answers} == {200}
    outage = load.between(down_at, returning_at)
    assert len(outage) > 10
    assert max(a.elapsed_s for a in outage) < 2, "a dead Redis must not hold requests"
    assert counted_before > 0
    # Redis came back empty (it keeps nothing on disk): what it holds was counted since.
    assert counted_after > 0
    assert {a.status for a in more} == {200}
    assert counted_at_last > counted_after
    # Said once per outage by each worker that met it, not once per request.
    text = log.read_text()
    assert 1 <= text.count("Rate limit storage unreachable") <= 2
    assert text.count("Rate limit storage unreachable") == text.count("storage answers again")
    assert_unavailable(ready, "5")
    assert ready.body["checks"] == {"database": "ok", "schema": "ok", "redis": "unreachable"}
    assert ready_again.status == 200


def answered_by(metrics):
    """The pids of the workers that have answered a request: each counts it in files of its own
    (prometheus_client's multiprocess mode), made as it counts its first."""
    return {int(m.group(1)) for m in map(COUNTS_OF.match, os.listdir(metrics)) if m}


def test_a_worker_killed_under_load_is_replaced(served_database, tmp_path):
    metrics = tmp_path / "metrics"
    env = served_env(served_database, PROMETHEUS_MULTIPROC_DIR=str(metrics))
    with gunicorn(env, tmp_path / "gunicorn.log", workers=2) as base:
        first = workers_of(base)
        assert len(first) == 2
        with Load(base, (NEAREST, STATION), threads=4) as load:
            time.sleep(0.5)
            victim = min(first)
            os.kill(victim, signal.SIGKILL)
            replaced = until(lambda: len(workers_of(base) - first) == 1, timeout_s=20)
            replaced_at = time.monotonic()
            now = workers_of(base)
            # The new worker loads the app, then takes its share of the load.
            serving = until(lambda: now <= answered_by(metrics), timeout_s=20)
        more = [ask(base, path) for path in (NEAREST, STATION) * 5]
    assert replaced and serving and len(now) == 2 and victim not in now
    # A sync worker holds one request at a time: at most that one is lost.
    failed = [a for a in load.answers if a.error or a.status != 200]
    assert len(failed) <= 1, failed
    assert {a.status for a in load.between(replaced_at, float("inf"))} == {200}
    assert [a.status for a in more] == [200] * 10


COUNTS_OF = re.compile(r"counter_(\d+)\.db$")


# A SQLite deployment's disk, full or read-only: mounted for the test (root only).

MANAGER = "manager@example.org"
VERSION = re.compile(r'name="version" value="(\d+)"')
NOTHING_SAVED_API = (
    "The database cannot store anything now: its disk is full or read-only. "
    "Nothing was saved. Try again later."
)


def needs_root():
    """Mounting a file system needs root: skip without it (fail in CI, where it must run)."""
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            raise AssertionError("the disk fault tests mount file systems: run them as root")
        pytest.skip("mounting a small or read-only disk needs root")


def mount(*args):
    subprocess.run(["mount", *args], check=True, capture_output=True)


@contextlib.contextmanager
def small_disk(path, size_mb=16):
    """A file system of its own at `path`, of `size_mb` (tmpfs), unmounted afterwards."""
    path.mkdir()
    mount("-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(path))
    try:
        yield path
    finally:
        subprocess.run(["umount", "--lazy", str(path)], check=True)


@contextlib.contextmanager
def read_only_view(source, path):
    """`source` seen read-only at `path` (a read-only bind mount), unmounted afterwards."""
    path.mkdir()
    mount("--bind", str(source), str(path))
    try:
        mount("-o", "remount,bind,ro", str(path))
        yield path
    finally:
        subprocess.run(["umount", "--lazy", str(path)], check=True)


def fill(disk, keeper):
    """Fill the disk to its last byte; the database's write-ahead log emptied first, so that no
    save can reuse room it already had."""
    busy, _, _ = keeper.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    assert busy == 0
    block = bytes(1 << 16)
    with open(disk / "filler", "wb", buffering=0) as filler:
        with pytest.raises(OSError) as full:
            while True:
                filler.write(block)
    assert full.value.errno == errno.ENOSPC


def manager_database(path):
    """The sample and a manager of its first station, in a SQLite file: the station's id."""
    with app_on(f"sqlite:///{path}", **CHEAP_HASH) as app, app.app_context():
        upgrade()
        import_stations(SAMPLE_FILE, is_sample=True)
        station = db.session.scalars(sa.select(Station).order_by(Station.id).limit(1)).one()
        make_user(MANAGER, "manager", [station])
        return station.id


def stored(keeper, station_id):
    """What the database holds of the station, its audit trail and the rider reports."""
    row = keeper.execute(
        "SELECT version, toilet FROM station WHERE id = ?", (station_id,)
    ).fetchone()
    audit = keeper.execute("SELECT count(*) FROM audit_entry").fetchone()[0]
    reports = keeper.execute("SELECT count(*) FROM report").fetchone()[0]
    return row, audit, reports


def logged_in(base):
    """A requests session of the manager, logged in."""
    manager = requests.Session()
    token = csrf_token(manager.get(base + "/login", timeout=CLIENT_TIMEOUT_S).text)
    form = {"csrf_token": token, "email": MANAGER, "password": PASSWORD}
    answer = ask(base, "/login", "POST", session=manager, data=form)
    assert answer.status == 302, answer
    return manager


def save_form(manager, base, station_id, toilet):
    """The form data of a save of the station's toilet, from its page as the manager sees it."""
    page = manager.get(f"{base}/manage/stations/{station_id}", timeout=CLIENT_TIMEOUT_S).text
    value = "no" if toilet else "yes"
    version = VERSION.search(page).group(1)
    return {"csrf_token": csrf_token(page), "version": version, "amenity": "toilet", "value": value}


@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_a_full_or_read_only_disk_refuses_saves_and_riders_still_read(fault, tmp_path):
    needs_root()
    with small_disk(tmp_path / "disk") as disk, contextlib.ExitStack() as stack:
        path = disk / "stations.sqlite"
        station_id = manager_database(path)
        # As the running app would: the write-ahead log and its index stay while it is open.
        keeper = stack.enter_context(contextlib.closing(sqlite3.connect(path)))
        before = stored(keeper, station_id)
        served = path
        if fault == "read-only":
            served = stack.enter_context(read_only_view(disk, tmp_path / "ro")) / path.name
        log = tmp_path / "gunicorn.log"
        with gunicorn(served_env(f"sqlite:///{served}"), log, workers=2) as base:
            manager = logged_in(base)
            form = save_form(manager, base, station_id, toilet=before[0][1])
            if fault == "full":
                fill(disk, keeper)
            save = ask(base, f"/manage/stations/{station_id}/amenities", "POST", manager, data=form)
            report = ask(
                base, f"/api/v1/stations/{station_id}/reports", "POST", json={"reason": "no_water"}
            )
            reads = [ask(base, path) for path in (NEAREST, f"/api/v1/stations/{station_id}")]
            page = ask(base, f"/manage/stations/{station_id}", session=manager)
            after = stored(keeper, station_id)
            if fault == "full":  # room again: the same servers save
                (disk / "filler").unlink()
                saved = ask(
                    base, f"/manage/stations/{station_id}/amenities", "POST", manager, data=form
                )
                assert saved.status == 302, saved
                assert stored(keeper, station_id)[:2] != before[:2]
            served_log = log.read_text()  # before the server stops (its exit may log noise)
    assert (save.status, save.mimetype, save.retry_after) == (503, "text/html", "60")
    # The form again, as the station is, saying why nothing was saved.
    assert "数据库暂时无法写入（磁盘已满或只读），这次没有保存任何改动" in save.body
    assert f'name="version" value="{form["version"]}"' in save.body
    assert_unavailable(report, "60")
    assert report.body["detail"] == NOTHING_SAVED_API
    assert after == before  # nothing half-written: the station, its audit trail, the reports
    assert [a.status for a in reads] == [200, 200]
    assert reads[1].body["data"]["id"] == station_id
    assert page.status == 200  # the manager still reads too
    assert "Traceback" not in served_log
