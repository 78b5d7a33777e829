"""The database handle, shared by both backends (SQLite and PostGIS)."""

import os
from datetime import UTC, datetime

import sqlalchemy as sa
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase

from . import ROOT


class Base(DeclarativeBase):
    pass


# create_savepoint lets tests run each case inside one outer transaction they roll back.
db = SQLAlchemy(model_class=Base, session_options={"join_transaction_mode": "create_savepoint"})


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


def _is_sqlite(dbapi_connection):
    return type(dbapi_connection).__module__ == "sqlite3"


@sa.event.listens_for(sa.Engine, "connect")
def _sqlite_connect(dbapi_connection, connection_record):
    """WAL and a busy timeout, so several gunicorn workers can share one SQLite file."""
    if _is_sqlite(dbapi_connection):
        # Let SQLAlchemy emit BEGIN itself (see _sqlite_begin): pysqlite's own is too late for
        # savepoints.
        dbapi_connection.isolation_level = None
        for pragma in ("journal_mode=WAL", "busy_timeout=5000", "foreign_keys=ON"):
            dbapi_connection.execute(f"PRAGMA {pragma}")


# An execution option of a SQLite connection that reads_only() has taken: no BEGIN for it.
_READS_ONLY = "stations_reads_only"


@sa.event.listens_for(sa.Engine, "begin")
def _sqlite_begin(connection):
    reading_only = connection.get_execution_options().get(_READS_ONLY)
    if connection.dialect.name == "sqlite" and not reading_only:
        connection.exec_driver_sql("BEGIN")


def reads_only():
    """Say that the current request only reads (and never writes), before its first statement.

    Its statements then run outside a transaction: on PostgreSQL that saves the BEGIN and
    ROLLBACK round trips, on SQLite the BEGIN statement. Each sees what was committed before it
    began (as under READ COMMITTED). Not when the session is already in a transaction, nor
    bound to a connection (as in the tests, each inside a transaction they roll back).
    """
    bind = db.session.get_bind()
    if not isinstance(bind, sa.Engine) or db.session().in_transaction():
        return
    if bind.dialect.name == "postgresql":
        db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    else:
        db.session.connection(execution_options={_READS_ONLY: True})


def init_app(app):
    """Bind the database and migrations to the app."""
    db.init_app(app)
    migrate.init_app(app, db)
