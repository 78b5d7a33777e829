"""What a database error says about the database: busy, down, or unable to write. Such errors
are answered 503 with Retry-After (api/problems.py); any other is a bug."""

import sqlite3

import sqlalchemy as sa

BUSY = "busy"  # a lock could not be had in time
DOWN = "down"  # the server does not answer: stopped, restarting, unreachable, out of connections
UNWRITABLE = "unwritable"  # its disk is full or read-only

# PostgreSQL's lock_not_available (lock_timeout), serialization_failure, deadlock_detected.
_PG_TRY_AGAIN = ("55P03", "40001", "40P01")
# SQLSTATE classes and codes of a server that is going, gone or starved: connection exceptions,
# insufficient resources (disk full, too many connections), a statement cancelled by
# statement_timeout, and the server shutting down or starting up.
_PG_DOWN_CLASSES = ("08", "53")
_PG_DOWN = ("57014", "57P01", "57P02", "57P03")
# SQLite's primary result codes for a database it cannot write or reach.
_SQLITE_UNWRITABLE = (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR)
_SQLITE_DOWN = (sqlite3.SQLITE_CANTOPEN,)


def fault(error):
    """BUSY, DOWN or UNWRITABLE for a DBAPI error (SQLAlchemy's) that says the database cannot
    answer now; None for any other (a bug: a 500)."""
    cause = getattr(error, "orig", None)
    if isinstance(cause, sqlite3.Error):
        code = getattr(cause, "sqlite_errorcode", 0) & 0xFF  # extended codes keep the primary
        if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            return BUSY
        if code in _SQLITE_UNWRITABLE:
            return UNWRITABLE
        return DOWN if code in _SQLITE_DOWN else None
    state = getattr(cause, "sqlstate", None)
    if state in _PG_TRY_AGAIN:
        return BUSY
    if state == "53100":  # disk_full
        return UNWRITABLE
    if getattr(error, "connection_invalidated", False) or state in _PG_DOWN:
        return DOWN
    if state is None and isinstance(error, sa.exc.OperationalError):
        return DOWN  # no answer at all: refused, timed out, reset (no SQLSTATE is sent)
    return DOWN if state and state[:2] in _PG_DOWN_CLASSES else None
