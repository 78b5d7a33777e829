"""The database handle, shared by both backends (SQLite and PostGIS)."""

import os
import sqlite3
import time
from collections import namedtuple
from contextlib import contextmanager
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import current_app, g, has_app_context, has_request_context, request
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session
from sqlalchemy.orm import DeclarativeBase

from ..config import ROOT


class Base(DeclarativeBase):
    pass


# The `g` attribute holding the replica engine a public read uses (replicas.py), if any.
READ_REPLICA = "stations_read_replica"


class RoutingSession(Session):
    """Flask-SQLAlchemy's session, reading from the replica the request was given (see
    replicas.public_read); flushes, INSERT, UPDATE and DELETE always go to the primary, and so
    does a connection asked for a mapper with no statement (the ORM's bulk INSERT and UPDATE).

    SQLAlchemy's own way to route a session between engines ("Custom Vertical Partitioning":
    override get_bind); Flask-SQLAlchemy takes the class as session_options["class_"].
    """

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        replica = g.get(READ_REPLICA) if bind is None and has_app_context() else None
        writes = self._flushing or isinstance(clause, sa.UpdateBase)
        if replica is None or writes or (clause is None and mapper is not None):
            return super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)
        return replica


# create_savepoint lets tests run each case inside one outer transaction they roll back.
db = SQLAlchemy(
    model_class=Base,
    session_options={"join_transaction_mode": "create_savepoint", "class_": RoutingSession},
)


def _managed_by_hand(obj, name, type_, reflected, compare_to):
    """Keep autogenerate away from the backend-specific spatial objects the migrations add."""
    return not (name.startswith("station_rtree") or name in ("position", "ix_station_position"))


migrate = Migrate(
    directory=os.path.join(ROOT, "migrations"),
    render_as_batch=True,
    include_object=lambda *args: _managed_by_hand(*args),
)


class UTCDateTime(sa.TypeDecorator):
    """A timestamp stored as UTC and always read back timezone-aware (SQLite drops the zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            value = value.astimezone(UTC)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def utcnow():
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def iso(moment):
    """An ISO 8601 instant, in UTC written with a Z; None stays None."""
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def _is_sqlite(dbapi_connection):
    return type(dbapi_connection).__module__ == "sqlite3"


@sa.event.listens_for(sa.Engine, "connect")
def _sqlite_connect(dbapi_connection, connection_record):
    """WAL, so several gunicorn workers can share one SQLite file: readers never wait.

    The busy timeout, how long a writer waits for the write lock, is pysqlite's connect timeout:
    5 s unless the URL says otherwise (sqlite:///path?timeout=2).
    """
    if _is_sqlite(dbapi_connection):
        # Let SQLAlchemy emit BEGIN itself (see _sqlite_begin): pysqlite's own is too late for
        # savepoints.
        dbapi_connection.isolation_level = None
        use_wal(dbapi_connection)
        dbapi_connection.execute("PRAGMA foreign_keys=ON")


def use_wal(dbapi_connection, timeout_s=5.0):
    """Put a SQLite file in WAL mode, which it keeps (a no-op once it is).

    Processes opening a new file at once race to convert it, and SQLite answers the losers
    "database is locked" at once, whatever the busy timeout: they try again for `timeout_s`.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _may_write():
    """True inside a request whose method may change data (anything but GET, HEAD, OPTIONS)."""
    if not has_request_context() or g.get("reads_only"):
        return False
    return request.method not in ("GET", "HEAD", "OPTIONS")


def reads_only_from_now():
    """The rest of this request only reads (a login, an error page): it takes no write lock."""
    g.reads_only = True


@sa.event.listens_for(sa.Engine, "begin")
def _sqlite_begin(connection):
    """BEGIN IMMEDIATE for a request that may write, so that what it reads cannot change
    before it writes: two saves of one version then give one success and one conflict.

    A deferred transaction that read an older snapshot cannot take the write lock at all
    (SQLite answers "database is locked" at once, whatever the busy timeout); one that takes
    the lock first waits its turn and reads what the one before it wrote.
    """
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE" if _may_write() else "BEGIN")


def _as_sqlalchemy_error(error, dialect, *, invalidated=False):
    """A driver's error as SQLAlchemy raises its own (OperationalError, ...): one kind for the
    error handlers to know, whether the statement went through SQLAlchemy or not."""
    return sa.exc.DBAPIError.instance(
        None,
        None,
        error,
        dialect.loaded_dbapi.Error,
        connection_invalidated=invalidated,
        dialect=dialect,
    )


@contextmanager
def read_connection():
    """A DB-API connection for statements that only read, each seeing what was committed before.

    Taken from the pool and used outside any transaction: on PostgreSQL in autocommit (no BEGIN
    or ROLLBACK round trips), on SQLite with no BEGIN (see _sqlite_connect). When the session
    has begun a transaction, or is bound to a connection (as in the tests, each inside a
    transaction they roll back), the session's connection, so that its writes are seen.
    The driver's errors are raised as SQLAlchemy's (OperationalError, ...).
    """
    bind = db.session.get_bind()
    dialect = bind.dialect
    if not isinstance(bind, sa.Engine) or db.session().in_transaction():
        try:
            yield db.session.connection().connection.driver_connection
        except dialect.loaded_dbapi.Error as error:
            raise _as_sqlalchemy_error(error, dialect) from error
        return
    try:
        pooled = bind.raw_connection()
    except dialect.loaded_dbapi.Error as error:  # the pool's connect: not wrapped by SQLAlchemy
        raise _as_sqlalchemy_error(error, dialect) from error
    autocommit = dialect.name == "postgresql"
    try:
        if autocommit:
            pooled.driver_connection.autocommit = True
        yield pooled.driver_connection
    except dialect.loaded_dbapi.Error as error:
        lost = dialect.is_disconnect(error, pooled.dbapi_connection, None)
        if lost:
            pooled.invalidate(error)  # as SQLAlchemy does for its own statements
        raise _as_sqlalchemy_error(error, dialect, invalidated=lost) from error
    finally:
        if autocommit and pooled.is_valid:
            pooled.driver_connection.autocommit = False
        pooled.close()


class DriverStatement:
    """A Core query compiled once for one dialect and run on the DB-API connection itself.

    For hot reads, where SQLAlchemy's work for each execution costs more than the query. Rows
    are named tuples (of the class given, or of one made for the query) of what the driver
    returns, with no result processing (SQLite gives dates as ISO text); parameters are passed
    as they are (give SQLite dates as ISO text).
    """

    def __init__(self, query, dialect, *, row=None):
        """`row`, a NamedTuple class whose fields are the query's columns, types the rows."""
        compiled = query.compile(dialect=dialect)
        if compiled.post_compile_params:
            raise ValueError("An IN list of one parameter per value, please: none is expanded.")
        columns = tuple(query.selected_columns.keys())
        if row is not None and row._fields != columns:
            raise ValueError(f"{row.__name__} has fields {row._fields}, the query {columns}")
        self.sql = compiled.string
        self._fixed = compiled.params  # the query's own values (None for those to be given)
        self._order = compiled.positiontup if compiled.positional else None
        self._row = row or namedtuple("Row", columns)

    def parameters(self, params):
        """What the driver is given with the SQL for these named parameters."""
        values = self._fixed | params
        if self._order is None:
            return values
        return tuple(values[name] for name in self._order)

    def rows(self, connection, params):
        """Run it on a DB-API connection (see read_connection); all its rows."""
        cursor = connection.cursor()
        try:
            cursor.execute(self.sql, self.parameters(params))
            return list(map(self._row._make, cursor.fetchall()))
        finally:
            cursor.close()


def engine_options(config):
    """The engine's options for this config. On PostgreSQL, each connection is checked as it
    leaves the pool (a restarted server costs no request once it is back), and nothing waits
    without end: connecting, a statement, a lock (DATABASE_*_TIMEOUT_*; 0 is no limit)."""
    url = sa.engine.make_url(config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() != "postgresql":
        return {}
    timeouts = {
        "statement_timeout": config["DATABASE_STATEMENT_TIMEOUT_MS"],
        "lock_timeout": config["DATABASE_LOCK_TIMEOUT_MS"],
    }
    connect_args = {
        "connect_timeout": config["DATABASE_CONNECT_TIMEOUT_S"],
        "options": " ".join(f"-c {name}={value}" for name, value in timeouts.items()),
    }
    return {"pool_pre_ping": True, "connect_args": connect_args}


def _end_session(exc):
    """End the request's session. A connection the server dropped after the answer was made (a
    restart) is thrown away, not raised past a response that is ready: the next one connects."""
    try:
        db.session.remove()
    except sa.exc.DBAPIError as error:
        current_app.logger.warning("Database connection lost as a request ended: %s", error.orig)
        db.session.remove()  # SQLAlchemy has invalidated the connection: nothing left to roll back


def init_app(app):
    """Bind the database (and its read replicas, see replicas.py) and migrations to the app
    (engine options given in the config win)."""
    from . import replicas

    config = app.config
    config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(config) | config.get(
        "SQLALCHEMY_ENGINE_OPTIONS", {}
    )
    replicas.configure(app)
    db.init_app(app)
    replicas.init_app(app)
    app.teardown_appcontext(_end_session)  # runs before Flask-SQLAlchemy's own (registered first)
    migrate.init_app(app, db)
