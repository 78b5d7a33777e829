"""Readiness: the database answers and its schema is at the migrations' head; Redis answers
when REDIS_URL is set. Liveness (/api/v1/health) touches none of these."""

from typing import NamedTuple

import redis
import sqlalchemy as sa
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app

from ..core.db import db, migrate
from .metrics import count_database_error

OK = "ok"
# Not checked, because what it needs did not answer.
UNCHECKED = "unchecked"
# How soon a load balancer should ask again.
RETRY_AFTER_S = 5
# A dead Redis must not hold a probe: it answers within this or counts as down.
REDIS_TIMEOUT_S = 0.5
_MIGRATIONS = "stations.migrations"
_REDIS = "stations.ready_redis"


class Migrations(NamedTuple):
    """The revisions the migrations end at (one unless they branch), and every one they know."""

    heads: frozenset
    known: frozenset


def migrations():
    """The migrations as this code ships them (migrations/versions)."""
    config = Config()
    config.set_main_option("script_location", migrate.directory)
    script = ScriptDirectory.from_config(config)
    known = frozenset(revision.revision for revision in script.walk_revisions())
    return Migrations(heads=frozenset(script.get_heads()), known=known)


def _schema_state(current):
    """ok at the head; missing before any migration; ahead when migrated by newer code."""
    shipped = current_app.extensions[_MIGRATIONS]
    if current == shipped.heads:
        return OK
    if not current:
        return "missing"
    return "behind" if current <= shipped.known else "ahead"


def _database_checks():
    """(database, schema) states: the schema is read from the alembic_version table."""
    try:
        connection = db.session.connection()
        current = frozenset(MigrationContext.configure(connection).get_current_heads())
    except sa.exc.DBAPIError as error:
        db.session.rollback()
        count_database_error(error)
        current_app.logger.warning("Not ready: the database did not answer: %s", error.orig)
        return "unreachable", UNCHECKED
    return OK, _schema_state(current)


def _redis():
    """A client of REDIS_URL with short timeouts, made on first use; None without REDIS_URL."""
    extensions = current_app.extensions
    if _REDIS not in extensions:
        url = current_app.config.get("REDIS_URL")
        timeouts = {"socket_connect_timeout": REDIS_TIMEOUT_S, "socket_timeout": REDIS_TIMEOUT_S}
        extensions[_REDIS] = redis.Redis.from_url(url, **timeouts) if url else None
    return extensions[_REDIS]


def _redis_check(client):
    try:
        client.ping()
    except redis.exceptions.RedisError as error:
        current_app.logger.warning("Not ready: Redis did not answer: %s", error)
        return "unreachable"
    return OK


def checks():
    """{name: state} of each check; every state is "ok" when the app is ready."""
    database, schema = _database_checks()
    found = {"database": database, "schema": schema}
    client = _redis()
    if client is not None:
        found["redis"] = _redis_check(client)
    return found


def failures(found):
    """The checks that failed, as "name: state; ..." (those not checked left out)."""
    failed = [(name, state) for name, state in found.items() if state not in (OK, UNCHECKED)]
    return "; ".join(f"{name}: {state}" for name, state in failed)


def init_app(app):
    """Read the migrations once, at start."""
    app.extensions[_MIGRATIONS] = migrations()
