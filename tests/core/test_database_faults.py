"""Which database errors say the database cannot answer now (503) and which are bugs (500);
the faults themselves, on real servers, are in tests/ops/test_faults.py."""

import sqlite3

import psycopg
import pytest
import sqlalchemy as sa
from conftest import UNLIMITED_API, _postgis_url

from stations import create_app
from stations.core.db import db
from stations.core.faults import BUSY, DOWN, UNWRITABLE, fault


def sqlite_error(code, message="x"):
    error = sqlite3.OperationalError(message)
    error.sqlite_errorcode = code
    return error


def wrapped(cause, kind=sa.exc.OperationalError, invalidated=False):
    """A driver's error as SQLAlchemy raises it."""
    return kind("SELECT 1", {}, cause, connection_invalidated=invalidated)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (wrapped(sqlite_error(sqlite3.SQLITE_BUSY)), BUSY),
        (wrapped(sqlite_error(sqlite3.SQLITE_BUSY | (1 << 8))), BUSY),  # SQLITE_BUSY_RECOVERY
        (wrapped(sqlite_error(sqlite3.SQLITE_LOCKED)), BUSY),
        (wrapped(sqlite_error(sqlite3.SQLITE_FULL)), UNWRITABLE),
        (wrapped(sqlite_error(sqlite3.SQLITE_READONLY)), UNWRITABLE),
        (wrapped(sqlite_error(sqlite3.SQLITE_IOERR | (3 << 8))), UNWRITABLE),  # IOERR_WRITE
        (wrapped(sqlite_error(sqlite3.SQLITE_CANTOPEN)), DOWN),
        (wrapped(sqlite_error(sqlite3.SQLITE_ERROR, "no such table: x")), None),
        (wrapped(sqlite_error(sqlite3.SQLITE_CONSTRAINT), sa.exc.IntegrityError), None),
        (wrapped(psycopg.errors.LockNotAvailable()), BUSY),
        (wrapped(psycopg.errors.SerializationFailure()), BUSY),
        (wrapped(psycopg.errors.DeadlockDetected()), BUSY),
        (wrapped(psycopg.errors.DiskFull()), UNWRITABLE),
        (wrapped(psycopg.OperationalError("connection refused")), DOWN),
        (wrapped(psycopg.errors.AdminShutdown()), DOWN),
        (wrapped(psycopg.errors.CannotConnectNow()), DOWN),
        (wrapped(psycopg.errors.TooManyConnections()), DOWN),
        (wrapped(psycopg.errors.QueryCanceled()), DOWN),  # statement_timeout
        (wrapped(psycopg.errors.ConnectionFailure()), DOWN),
        (wrapped(psycopg.Error("server closed the connection"), sa.exc.DBAPIError, True), DOWN),
        (wrapped(psycopg.errors.UndefinedTable(), sa.exc.ProgrammingError), None),
        (wrapped(psycopg.errors.UniqueViolation(), sa.exc.IntegrityError), None),
        (wrapped(psycopg.errors.DivisionByZero(), sa.exc.DataError), None),
    ],
)
def test_what_a_database_error_says(error, expected):
    assert fault(error) == expected


def test_a_connection_dropped_as_a_request_ends_costs_the_answer_nothing():
    # The server ends the connection after the view has answered (PostgreSQL stopping, say):
    # the session's rollback at teardown fails, and must not turn the answer into a 500.
    url = _postgis_url("_faults_teardown")
    app = create_app({"SQLALCHEMY_DATABASE_URI": url} | UNLIMITED_API)

    @app.get("/held")
    def held():
        backend = db.session.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as other:
            other.execute("SELECT pg_terminate_backend(%s)", (backend,))
        return "answered"

    client = app.test_client()
    try:
        answers = [client.get("/held") for _ in range(2)]
    finally:
        with app.app_context():
            db.engine.dispose()
    assert [(a.status_code, a.text) for a in answers] == [(200, "answered")] * 2


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, ("5", "20s", "5s")),
        (
            {
                "DATABASE_CONNECT_TIMEOUT_S": 0,
                "DATABASE_STATEMENT_TIMEOUT_MS": 0,
                "DATABASE_LOCK_TIMEOUT_MS": 1500,
            },
            ("0", "0", "1500ms"),
        ),
    ],
)
def test_no_postgresql_wait_is_without_end(settings, expected):
    app = create_app({"SQLALCHEMY_DATABASE_URI": _postgis_url("_faults_timeouts")} | settings)
    with app.app_context():
        connection = db.session.connection()
        waits = [
            connection.exec_driver_sql(f"SHOW {name}").scalar()
            for name in ("statement_timeout", "lock_timeout")
        ]
        connect_timeout = connection.connection.driver_connection.info.get_parameters().get(
            "connect_timeout"
        )
        db.session.remove()
        db.engine.dispose()
    assert (connect_timeout, *waits) == expected


def test_sqlite_keeps_its_own_busy_timeout(tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.sqlite"})
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"] == {}
