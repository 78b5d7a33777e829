"""The storages limits are counted in: a SQLite file the workers of one machine share, or Redis.

Registered with the `limits` library by their STORAGE_SCHEME (storage_from_string):

    stations+sqlite:///path/to/file.sqlite   shared by every process of the machine (WAL)
    stations+sqlite://                       this process's memory (tests, and the stand-in
                                             while the configured storage fails)
    stations+redis://host:6379/0             shared by every app server
"""

import os
import sqlite3
import threading
import time
from contextlib import contextmanager

import redis

from ..core.db import use_wal
from .limit_storage import CountingStorage, Taken, granted_hits

SWEEP_EVERY_S = 60.0  # how often a process deletes expired counts from the SQLite file
BUSY_TIMEOUT_S = 2.0  # how long a SQLite write waits for another process's

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS counts "
    "(key TEXT PRIMARY KEY, count INTEGER NOT NULL, expires_at REAL NOT NULL) WITHOUT ROWID"
)
# An expired row not swept yet starts again from this amount.
_ADD = (
    "INSERT INTO counts VALUES (:key, :amount, :expires_at) ON CONFLICT (key) DO UPDATE SET "
    "count = iif(expires_at > :now, count + :amount, :amount), "
    "expires_at = iif(expires_at > :now, expires_at, :expires_at) RETURNING count"
)


class SQLiteStorage(CountingStorage):
    """Counts in a SQLite file (WAL) that every process of the machine opens, or in memory.

    Each process opens its own connection (after a fork too); writes are short transactions
    that SQLite serialises between processes, so no count passes its limit.
    """

    STORAGE_SCHEME = ["stations+sqlite"]

    def __init__(self, uri, wrap_exceptions=False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.path = uri.partition("://")[2] or ":memory:"
        self.lock = threading.Lock()
        self.connection, self.pid, self.swept_at = None, None, 0.0

    @property
    def base_exceptions(self):
        return sqlite3.Error, OSError

    def _connect(self):
        if self.connection is None or self.pid != os.getpid():
            connection = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            if self.path != ":memory:":
                use_wal(connection, BUSY_TIMEOUT_S)
            # Counts need no durability past a crash of the machine: no fsync on each write.
            connection.execute("PRAGMA synchronous = OFF")
            connection.execute(_SCHEMA)
            self.connection, self.pid = connection, os.getpid()
        return self.connection

    @contextmanager
    def _transaction(self, write=True):
        """The connection inside a transaction (a write one takes SQLite's lock at once)."""
        with self.lock:
            try:
                connection = self._connect()
                connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield connection
                except BaseException:
                    connection.execute("ROLLBACK")
                    raise
                connection.execute("COMMIT")
            except self.base_exceptions:
                self.connection = None  # whatever state it is in, the next call starts afresh
                raise

    def take(self, key, expiry, now, size, limit):
        window = int(now / expiry)
        names = (f"{key}/{window - 1}", f"{key}/{window}")
        with self._transaction() as connection:
            found = dict(
                connection.execute(
                    "SELECT key, count FROM counts WHERE key IN (?, ?) AND expires_at > ?",
                    (*names, now),
                )
            )
            previous, current = found.get(names[0], 0), found.get(names[1], 0)
            granted = granted_hits(size, limit, previous, current, 1 - (now % expiry) / expiry)
            if granted:  # a window's count lives until the next one ends
                values = {"key": names[1], "amount": granted, "now": now}
                (current,) = connection.execute(
                    _ADD, values | {"expires_at": (window + 2) * expiry}
                ).fetchone()
            if now - self.swept_at > SWEEP_EVERY_S:
                connection.execute("DELETE FROM counts WHERE expires_at <= ?", (now,))
                self.swept_at = now
        return Taken(granted, previous, current)

    def incr(self, key, expiry, amount=1):
        now = time.time()
        values = {"key": key, "amount": amount, "now": now, "expires_at": now + expiry}
        with self._transaction() as connection:
            return connection.execute(_ADD, values).fetchone()[0]

    def decr(self, key, amount=1):
        with self._transaction() as connection:
            connection.execute(
                "UPDATE counts SET count = max(0, count - ?) WHERE key = ?", (amount, key)
            )

    def _row(self, key):
        with self._transaction(write=False) as connection:
            return connection.execute(
                "SELECT count, expires_at FROM counts WHERE key = ? AND expires_at > ?",
                (key, time.time()),
            ).fetchone()

    def get(self, key):
        row = self._row(key)
        return row[0] if row else 0

    def get_expiry(self, key):
        row = self._row(key)
        return row[1] if row else time.time()

    def check(self):
        try:
            self._row("")
        except self.base_exceptions:
            return False
        return True

    def clear(self, key):
        with self._transaction() as connection:
            connection.execute("DELETE FROM counts WHERE key = ?", (key,))

    def forget_all(self):
        with self._transaction() as connection:
            return connection.execute("DELETE FROM counts").rowcount


class RedisStorage(CountingStorage):
    """Counts in Redis (redis-py), shared by every app server: stations+redis://host:port/db."""

    STORAGE_SCHEME = ["stations+redis", "stations+rediss"]

    def __init__(self, uri, key_prefix="LIMITS", wrap_exceptions=False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions)
        self.client = redis.Redis.from_url(uri.removeprefix("stations+"), **options)
        self.key_prefix = key_prefix

    @property
    def base_exceptions(self):
        return redis.RedisError

    def _name(self, key):
        return f"{self.key_prefix}:{key}"

    def take(self, key, expiry, now, size, limit):
        window = int(now / expiry)
        previous_key, current_key = self._name(f"{key}/{window - 1}"), self._name(f"{key}/{window}")
        pipe = self.client.pipeline(transaction=False)
        pipe.set(current_key, 0, px=2 * expiry * 1000, nx=True)  # a window lives two lengths
        pipe.incrby(current_key, size)
        pipe.get(previous_key)
        _, current, previous = pipe.execute()
        previous = int(previous or 0)
        # Counted first, so that hits at once each see the others; what is over the limit is
        # given back.
        granted = granted_hits(size, limit, previous, current - size, 1 - (now % expiry) / expiry)
        if granted < size:
            current = self.client.decrby(current_key, size - granted)
        return Taken(granted, previous, current)

    def incr(self, key, expiry, amount=1):
        pipe = self.client.pipeline(transaction=False)
        pipe.set(self._name(key), 0, ex=expiry, nx=True)
        pipe.incrby(self._name(key), amount)
        return pipe.execute()[1]

    def decr(self, key, amount=1):
        self.client.decrby(self._name(key), amount)

    def get(self, key):
        return int(self.client.get(self._name(key)) or 0)

    def get_expiry(self, key):
        return time.time() + max(0, self.client.pttl(self._name(key))) / 1000

    def check(self):
        try:
            return bool(self.client.ping())
        except self.base_exceptions:
            return False

    def clear(self, key):
        self.client.delete(self._name(key))

    def forget_all(self):
        names = list(self.client.scan_iter(self._name("*")))
        return self.client.delete(*names) if names else 0
