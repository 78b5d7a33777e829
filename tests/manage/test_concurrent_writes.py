"""Writes at the same time: parallel saves of one version give one success and the rest 409, on
SQLite (two gunicorn workers on one file) as on PostGIS; a lock not had in time is a 503."""

import http.client
import re
import sqlite3
import threading
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from conftest import BACKENDS, UNLIMITED_API, _postgis_url
from flask_migrate import upgrade
from servers import app_environment, gunicorn
from support import PASSWORD, browser, csrf_token, make_world, post

from stations import create_app
from stations.api.problems import BUSY_RETRY_AFTER_S
from stations.core.db import db

ROUNDS, PARALLEL = 8, 6
LOCK_WAIT_MS = 200
_VERSION = re.compile(r'name="version" value="(\d+)"')


def _committed_world(backend, tmp_path, suffix):
    """A migrated database of its own with make_world() committed; (url, app, plain ids)."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path}/{suffix}.sqlite"
    else:
        url = _postgis_url(suffix)
    config = {"SQLALCHEMY_DATABASE_URI": url, "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"}
    app = create_app(config | UNLIMITED_API)
    with app.app_context():
        upgrade()
        world = make_world()
        ids = SimpleNamespace(a=world.a.id, manager_a=world.manager_a.email)
        db.session.remove()
        db.engine.dispose()
    return url, ids


class Browser:
    """A person's browser on a real server: keeps its cookies, follows no redirect."""

    def __init__(self, base, cookies=""):
        self.address = urllib.parse.urlsplit(base).netloc
        self.cookies = cookies

    def request(self, method, path, form=None):
        """(status, body text) of one request."""
        headers = {"Cookie": self.cookies} if self.cookies else {}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection = http.client.HTTPConnection(self.address, timeout=30)
        try:
            connection.request(method, path, body, headers)
            reply = connection.getresponse()
            text = reply.read().decode()
            for header in reply.headers.get_all("Set-Cookie") or ():
                self.cookies = header.split(";", 1)[0]  # the one cookie: Flask's session
            return reply.status, text
        finally:
            connection.close()

    def log_in(self, email):
        token = csrf_token(self.request("GET", "/login")[1])
        form = {"csrf_token": token, "email": email, "password": PASSWORD}
        assert self.request("POST", "/login", form)[0] == 302


def post_at_once(base, cookies, path, form, count):
    """The statuses of `count` identical form posts, sent by as many browsers at one moment."""
    start = threading.Barrier(count)

    def send(_):
        browser = Browser(base, cookies)
        start.wait()
        return browser.request("POST", path, form)[0]

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(send, range(count)))


@pytest.fixture(params=BACKENDS)
def two_workers(request, tmp_path):
    """gunicorn with two workers on a database with the world; (base URL, ids, log path)."""
    url, ids = _committed_world(request.param, tmp_path, "_saves")
    log = tmp_path / "gunicorn.log"
    with gunicorn(app_environment(DATABASE_URL=url), log, workers=2) as base:
        yield base, ids, log


def test_parallel_saves_of_one_version_give_one_success_and_the_rest_409(two_workers):
    base, ids, log = two_workers
    manager = Browser(base)
    manager.log_in(ids.manager_a)
    page = f"/manage/stations/{ids.a}"
    for round_ in range(ROUNDS):
        status, html = manager.request("GET", page)
        assert status == 200
        version = _VERSION.search(html).group(1)
        value = ("no", "yes")[round_ % 2]  # a real change in every round
        form = {"csrf_token": csrf_token(html), "version": version}
        form |= {"amenity": "toilet", "value": value}
        statuses = post_at_once(base, manager.cookies, page + "/amenities", form, PARALLEL)
        assert sorted(statuses) == [302] + [409] * (PARALLEL - 1), (round_, log.read_text())
    assert _VERSION.search(manager.request("GET", page)[1]).group(1) == str(int(version) + 1)
    assert "Traceback" not in log.read_text()


@contextmanager
def _write_lock(url, station_id):
    """Another connection holds what a write to station A needs, until the block ends."""
    if url.startswith("sqlite"):
        other = sqlite3.connect(url.removeprefix("sqlite:///").split("?")[0], isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # SQLite's one write lock
        try:
            yield
        finally:
            other.rollback()
            other.close()
        return
    engine = sa.create_engine(url)
    with engine.connect() as other:
        query = "SELECT id FROM station WHERE id = %(id)s FOR UPDATE"
        other.exec_driver_sql(query, {"id": station_id})
        yield
        other.rollback()
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def impatient(request, tmp_path):
    """An app that waits LOCK_WAIT_MS for a lock, on a database with the world; (app, ids, url)."""
    url, ids = _committed_world(request.param, tmp_path, "_busy")
    config = {"PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"} | UNLIMITED_API
    if request.param == "sqlite":
        config["SQLALCHEMY_DATABASE_URI"] = f"{url}?timeout={LOCK_WAIT_MS / 1000}"
    else:
        config["SQLALCHEMY_DATABASE_URI"] = url
        options = {"options": f"-c lock_timeout={LOCK_WAIT_MS}"}
        config["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": options}
    app = create_app(config)
    yield app, ids, url
    with app.app_context():
        db.engine.dispose()


def test_a_write_that_cannot_get_the_lock_in_time_is_503_with_retry_after(impatient):
    app, ids, url = impatient
    manager = browser(app, SimpleNamespace(email=ids.manager_a))
    rider = app.test_client()
    save = {"version": "1", "amenity": "toilet", "value": "yes"}
    with _write_lock(url, ids.a):
        page = post(manager, f"/manage/stations/{ids.a}/amenities", save)
        report = rider.post(f"/api/v1/stations/{ids.a}/reports", json={"reason": "no_water"})
        # Reading waits for nobody, and logging in only reads.
        station_page = manager.get(f"/manage/stations/{ids.a}")
        station = rider.get(f"/api/v1/stations/{ids.a}")
        browser(app, SimpleNamespace(email=ids.manager_a))  # asserts the login's 302
    assert (page.status_code, page.mimetype) == (503, "text/html")
    # Saying why nothing was saved: on the station page when the save itself waited too long
    # (PostgreSQL), on the error page when the request's first statement did (SQLite).
    assert "系统正忙，这次没有保存任何改动，请稍后再试。" in page.text
    assert (report.status_code, report.mimetype) == (503, "application/problem+json")
    assert report.get_json()["status"] == 503
    for answer in (page, report):
        assert answer.headers["Retry-After"] == str(BUSY_RETRY_AFTER_S)
    assert (station_page.status_code, station.status_code) == (200, 200)
    assert station.get_json()["data"]["amenities"]["toilet"] is None  # nothing was saved
    # Once the lock is free again, the same save goes through.
    assert post(manager, f"/manage/stations/{ids.a}/amenities", save).status_code == 302


def test_other_database_errors_stay_500(app, world, monkeypatch):
    def broken(*args, **kwargs):
        db.session.execute(sa.text("SELECT * FROM no_such_table"))

    monkeypatch.setattr("stations.api.views.create_report", broken)
    answer = app.test_client().post(
        f"/api/v1/stations/{world.a.id}/reports", json={"reason": "no_water"}
    )
    assert (answer.status_code, answer.mimetype) == (500, "application/problem+json")
    assert "Retry-After" not in answer.headers


@pytest.mark.parametrize(("query", "busy_timeout_ms"), [("", 5000), ("?timeout=0.5", 500)])
def test_a_sqlite_file_is_in_wal_mode_with_a_busy_timeout(tmp_path, query, busy_timeout_ms):
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/wal.sqlite{query}"})
    with app.app_context(), db.engine.connect() as connection:
        pragma = connection.exec_driver_sql
        assert pragma("PRAGMA journal_mode").scalar() == "wal"
        assert pragma("PRAGMA busy_timeout").scalar() == busy_timeout_ms
    with app.app_context():
        db.engine.dispose()
