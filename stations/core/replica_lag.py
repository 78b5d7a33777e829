"""How far a read replica is behind the primary, in seconds: an upper bound, measured without a
heartbeat table or any privilege.

Each check first reads the primary's WAL position (pg_current_wal_lsn) and keeps (time,
position) for a while; then the replica's replayed position (pg_last_wal_replay_lsn). A replica
that has replayed a position the primary had at time t has every commit made before t, so its
lag is at most now - t. PostgreSQL's own now() - pg_last_xact_replay_timestamp() is a second
upper bound (the first commit the replica lacks came after the last it replayed), but alone it
grows on an idle primary whose replica is current: so a replica at or past the primary's
position counts as current (lag 0), and otherwise the smaller of the two bounds counts. (Only
when the replica's last replayed commit is older than the kept positions, as just after a
worker starts, can the second bound alone overstate a small lag: the replica is then left aside
for one recheck, which errs on the primary's side.)

With the primary unreachable, a replica that answers counts as current: it has the best data
there is. So does a server that is not in recovery (promoted, or not a standby), and any
non-PostgreSQL replica (SQLite: a copy of the file, in the tests).
"""

import math

import sqlalchemy as sa

from .db import db

_REPLICA_STATE = sa.text(
    "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text,"
    " extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8"
)


def lsn_number(text):
    """A PostgreSQL WAL position ("16/B374D848") as a number."""
    high, low = text.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def lag_bound(*, replayed, history, now, replay_age_s):
    """The smallest upper bound of a replica's lag (seconds): `replayed`, its replayed position;
    `history`, (time, primary position) pairs, oldest first, the last one just read;
    `replay_age_s`, how old its last replayed commit is (None if it never replayed one)."""
    if history and replayed >= history[-1][1]:
        return 0.0
    bounds = [now - moment for moment, position in history if position <= replayed]
    if replay_age_s is not None:
        bounds.append(max(replay_age_s, 0.0))
    return min(bounds, default=math.inf)


def primary_position():
    """The primary's WAL position now, or None if it does not answer (or is not PostgreSQL)."""
    primary = db.engines[None]
    if not isinstance(primary, sa.Engine) or primary.dialect.name != "postgresql":
        return None
    try:
        with primary.connect() as connection:
            position = connection.exec_driver_sql("SELECT pg_current_wal_lsn()::text").scalar()
    except sa.exc.DBAPIError:
        return None
    return lsn_number(position)


def measure(engine, history, *, now, keep_s):
    """The lag bound of the replica behind `engine` (raises SQLAlchemy's errors when it does not
    answer); `history`, a deque of the primary's positions kept `keep_s` seconds, grows."""
    if engine.dialect.name != "postgresql":
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        return 0.0
    primary = primary_position()
    if primary is not None:
        history.append((now, primary))
    while history and now - history[0][0] > keep_s:
        history.popleft()
    with engine.connect() as connection:
        recovering, replayed, age_s = connection.execute(_REPLICA_STATE).one()
    if not recovering or primary is None or replayed is None:
        return 0.0
    return lag_bound(
        replayed=lsn_number(replayed), history=list(history), now=now, replay_age_s=age_s
    )
