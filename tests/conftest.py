"""Fixtures: every database test runs on SQLite and PostGIS, each in a rolled-back transaction."""

import os

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from stations import create_app
from stations.db import db

BACKENDS = ("sqlite", "postgis")
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
    # Limits stay on (memory), high enough for any test that is not about them.
    config = {"RATELIMIT_STORAGE_URI": "memory://", "RATELIMIT_ANONYMOUS_PER_MINUTE": 10**6}
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url} | config)
    with app.app_context():
        upgrade()
        if with_sample:
            from stations.cli import SAMPLE_FILE
            from stations.importer import import_stations

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
