"""Fixtures: every database test runs on SQLite and PostGIS, each in a rolled-back transaction."""

import os
import threading

import pytest
import sqlalchemy as sa
from flask import g
from flask_migrate import upgrade
from support import ROLES, browser, make_world
from werkzeug.serving import make_server

from stations import create_app
from stations.api.limits import reset_counts
from stations.core.db import db
from stations.core.station_json import forget_stored

BACKENDS = ("sqlite", "postgis")
# API limits stay on (in memory), but high enough for any test that is not about them.
UNLIMITED_API = {
    "RATELIMIT_STORAGE_URI": "stations+sqlite://",
    "API_LIMIT_PER_IP": "1000000 per minute",
}
DEFAULT_POSTGIS_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/stations_test"


def _postgis_url(suffix):
    """A PostgreSQL database for the tests, created if missing; skipped (never in CI) if down."""
    base = os.environ.get("TEST_DATABASE_URL") or DEFAULT_POSTGIS_URL
    url = sa.make_url(base.replace("postgresql://", "postgresql+psycopg://", 1))
    url = url.set(database=url.database + suffix)
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            exists = connection.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": url.database}
            ).scalar()
            if not exists:
                connection.exec_driver_sql(f'CREATE DATABASE "{url.database}"')
    except sa.exc.OperationalError as error:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostGIS not reachable ({error.orig}); set TEST_DATABASE_URL")
    finally:
        admin.dispose()
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        # Every table the migrations made (whatever branch added it), but PostGIS's own.
        tables = connection.exec_driver_sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'spatial_ref_sys'"
        ).scalars()
        for table in list(tables):
            connection.exec_driver_sql(f'DROP TABLE IF EXISTS "{table}" CASCADE')
    engine.dispose()
    return url.render_as_string(hide_password=False)


def _database(backend, tmp_path_factory, suffix, with_sample):
    """An app whose database has the schema (and the sample), shared by the whole session."""
    if backend == "sqlite":
        url = "sqlite:///" + str(tmp_path_factory.mktemp("db") / f"test{suffix}.sqlite")
    else:
        url = _postgis_url(suffix)
    # A cheap password hash keeps the many logins of the tests fast; production uses scrypt.
    config = {"PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"} | UNLIMITED_API
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url} | config)

    @app.teardown_request
    def _forget_request_globals(error):
        # Each test holds an app context, which Flask then reuses for every request (and its `g`):
        # forget what one request cached there (the logged-in user, the CSRF token), as a server
        # would.
        g.__dict__.clear()

    with app.app_context():
        upgrade()
        if with_sample:
            from stations.cli import SAMPLE_FILE
            from stations.core.importer import import_stations

            import_stations(SAMPLE_FILE, crs="wgs84", is_sample=True)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def empty_database(request, tmp_path_factory):
    yield from _database(request.param, tmp_path_factory, "", with_sample=False)


@pytest.fixture(scope="session", params=BACKENDS)
def sample_database(request, tmp_path_factory):
    yield from _database(request.param, tmp_path_factory, "_sample", with_sample=True)


def _in_rollback(app):
    """Pin the app to one connection inside a transaction that is rolled back afterwards."""
    with app.app_context():
        engine = db.engine
        connection = engine.connect()
        transaction = connection.begin()
        db.engines[None] = connection
        reset_counts()  # rate-limit counts are per test too
        forget_stored()  # station items are remembered by change numbers, which roll back too
        try:
            yield app
        finally:
            db.session.remove()
            transaction.rollback()
            connection.close()
            db.engines[None] = engine


@pytest.fixture
def app(empty_database):
    """The app on an empty station table (SQLite and PostGIS)."""
    yield from _in_rollback(empty_database)


@pytest.fixture
def sample_app(sample_database):
    """The app with the generated sample loaded (SQLite and PostGIS)."""
    yield from _in_rollback(sample_database)


@pytest.fixture
def client(sample_app):
    return sample_app.test_client()


@pytest.fixture
def world(app):
    """Two stations, A and B, each with its manager; an admin; an open rider report at A."""
    return make_world()


@pytest.fixture
def browsers(app, world):
    """A test client per role (anonymous, manager_a, manager_b, admin), each with a CSRF token."""
    return {role: browser(app, world.user(role)) for role in ROLES}


@pytest.fixture(scope="module", params=BACKENDS)
def empty_live_server(request, tmp_path_factory):
    """The app served over HTTP on a free loopback port, on a committed database of its own
    (requests run in the server's threads, so the rolled-back transactions above cannot work).

    Yields (base URL, app); set data up with `with app.app_context():` and commit it.
    """
    if request.param == "sqlite":
        url = "sqlite:///" + str(tmp_path_factory.mktemp("live") / "live.sqlite")
    else:
        url = _postgis_url("_live")
    config = {"SQLALCHEMY_DATABASE_URI": url, "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"}
    app = create_app(config | UNLIMITED_API)
    with app.app_context():
        upgrade()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}", app
    finally:
        server.shutdown()
        thread.join()
        with app.app_context():
            db.engine.dispose()
