"""Read replicas: the public reads from PostgreSQL hot standbys (DATABASE_REPLICA_URL), every
write and every logged-in page from the primary (DATABASE_URL).

Each replica is a Flask-SQLAlchemy bind ("replica1", ...: its own engine and pool) that no model
uses; a view marked @public_read puts one in `g`, and the session (db.RoutingSession) reads from
it, while flushes and INSERT/UPDATE/DELETE still go to the primary.

Each worker checks each replica lazily, at most every CHECK_S while in use (every RECHECK_S once
left aside), and leaves it aside while it fails or lags more than REPLICA_MAX_LAG_S: its reads
then go to the primary. A read that fails on a replica is answered again from the primary (a
read may run twice; nothing is written), so a replica going away costs no error.

How the lag is measured: replica_lag.py.
"""

import functools
import math
import random
import threading
import time
from collections import deque

import sqlalchemy as sa
from flask import current_app, g
from flask_login import current_user

from ..ops import metrics
from . import faults, replica_lag
from .db import READ_REPLICA, db

# How often a replica in use is checked, and how soon one left aside is tried again (seconds).
CHECK_S = 1.0
RECHECK_S = 3.0
# A replica that takes longer than this to connect is down.
CONNECT_TIMEOUT_S = 2
_EXTENSION = "stations.replicas"


class ReplicaBehind(Exception):
    """The replica has not yet replayed what the caller has already seen: ask the primary."""


class Replica:
    """One replica as one worker sees it: in use or aside, and its last lag."""

    def __init__(self, key, label):
        self.key = key  # its bind key
        self.label = label  # host:port/database, for logs and metrics
        self.in_use = None  # None until first checked
        self.lag_s = math.inf
        self.next_check = 0.0
        self.history = deque()  # (time.monotonic(), primary WAL position)

    @property
    def engine(self):
        return db.engines[self.key]


class Replicas:
    """Every replica of the app, in one worker, and the rule that picks one for a read."""

    def __init__(self, replicas, max_lag_s):
        self.replicas = replicas
        self.max_lag_s = max_lag_s
        self.lock = threading.Lock()

    def choose(self, *, check_all=False):
        """A replica in use (checked first when due, or all with `check_all`), at random; None
        when none is."""
        now = time.monotonic()
        if check_all:
            for replica in self.replicas:
                replica.next_check = min(replica.next_check, now)
        if any(replica.next_check <= now for replica in self.replicas):
            # One thread checks; the others go on with what is known.
            if self.lock.acquire(blocking=False):
                try:
                    for replica in self.replicas:
                        if replica.next_check <= now:
                            self._check(replica, now)
                finally:
                    self.lock.release()
        usable = [replica for replica in self.replicas if replica.in_use]
        return random.choice(usable) if usable else None

    def set_aside(self, replica, error):
        """A read failed on `replica`: leave it aside until its next check."""
        replica.engine.dispose()  # its other pooled connections are likely dead too
        self._state(replica, False, math.inf, f"a read failed: {_reason(error)}", "error")
        replica.next_check = time.monotonic() + RECHECK_S

    def _check(self, replica, now):
        try:
            lag_s = self._lag(replica, now)
        except sa.exc.SQLAlchemyError as error:
            self._state(replica, False, math.inf, f"it did not answer: {_reason(error)}", "error")
        else:
            if lag_s > self.max_lag_s:
                why = f"it lags {lag_s:.1f} s (over REPLICA_MAX_LAG_S={self.max_lag_s:g})"
                self._state(replica, False, lag_s, why, "lag")
            else:
                self._state(replica, True, lag_s, f"lag {lag_s:.1f} s", None)
        replica.next_check = now + (CHECK_S if replica.in_use else RECHECK_S)

    def _lag(self, replica, now):
        """An upper bound of the replica's lag behind the primary, in seconds."""
        keep_s = 2 * self.max_lag_s + 2 * RECHECK_S
        return replica_lag.measure(replica.engine, replica.history, now=now, keep_s=keep_s)

    def _state(self, replica, in_use, lag_s, why, reason):
        """Record a check's outcome; log a change of state (once), count a setting aside."""
        was = replica.in_use
        replica.in_use, replica.lag_s = in_use, lag_s
        metrics.replica_checked(replica.label, in_use=in_use, lag_s=lag_s)
        if in_use == was or (in_use and was is None):
            return
        if in_use:
            current_app.logger.warning("Read replica %s back in use: %s", replica.label, why)
        else:
            metrics.count_set_aside(replica.label, reason)
            current_app.logger.warning(
                "Read replica %s left aside, its reads go to the primary: %s", replica.label, why
            )


def _reason(error):
    return str(getattr(error, "orig", None) or error).strip().splitlines()[0]


def _label(url):
    url = sa.make_url(url)
    if url.get_backend_name() == "sqlite":
        return url.database or "memory"
    return f"{url.host}:{url.port or 5432}/{url.database}"


def configure(app):
    """A bind per replica of DATABASE_REPLICA_URL (before Flask-SQLAlchemy reads the binds)."""
    binds = app.config.setdefault("SQLALCHEMY_BINDS", {})
    for number, url in enumerate(app.config.get("DATABASE_REPLICA_URL") or (), start=1):
        options = {"url": url}
        if sa.make_url(url).get_backend_name() == "postgresql":
            options["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
        binds[f"replica{number}"] = options


def init_app(app):
    """Keep each worker's view of the replicas; none without DATABASE_REPLICA_URL."""
    urls = app.config.get("DATABASE_REPLICA_URL") or ()
    if urls:
        replicas = [Replica(f"replica{n}", _label(url)) for n, url in enumerate(urls, start=1)]
        app.extensions[_EXTENSION] = Replicas(replicas, app.config["REPLICA_MAX_LAG_S"])


def reading_replica():
    """True while this request reads from a replica."""
    return g.get(READ_REPLICA) is not None


def not_behind():
    """Raise ReplicaBehind when reading from a replica: the caller has seen more than it has."""
    if reading_replica():
        raise ReplicaBehind


def public_read(view):
    """Mark a view as a public read: answered from a replica in use, if any, unless someone is
    logged in (a manager sees their own change at once). From the primary when the replica
    fails during the read or is behind what the caller has seen (ReplicaBehind); and from a
    replica checked there and then when the primary cannot be reached."""

    @functools.wraps(view)
    def read(*args, **kwargs):
        replicas = current_app.extensions.get(_EXTENSION)
        if replicas is None or current_user.is_authenticated:
            metrics.count_public_read("primary")
            return view(*args, **kwargs)
        replica = replicas.choose()
        if replica is not None:
            answered, response = _from_replica(replicas, replica, view, args, kwargs)
            if answered:
                return response
        try:
            response = view(*args, **kwargs)
        except sa.exc.DBAPIError as error:
            if faults.fault(error) != faults.DOWN:
                raise
            db.session.rollback()
            # The primary is down: a replica that answers has the best data there is.
            replica = replicas.choose(check_all=True)
            if replica is None:
                raise
            answered, response = _from_replica(replicas, replica, view, args, kwargs)
            if not answered:
                raise error from None
            return response
        metrics.count_public_read("primary")
        return response

    return read


def _from_replica(replicas, replica, view, args, kwargs):
    """(True, the view's response) from `replica`; (False, None) when it failed, or is behind
    the caller (the session is then rolled back, for the primary to answer)."""
    setattr(g, READ_REPLICA, replica.engine)
    try:
        response = view(*args, **kwargs)
    except ReplicaBehind:
        failed = None
    except sa.exc.DBAPIError as error:
        failed = error
    else:
        metrics.count_public_read("replica")
        return True, response
    finally:
        g.pop(READ_REPLICA, None)
    db.session.rollback()
    if failed is not None:
        replicas.set_aside(replica, failed)
    return False, None
