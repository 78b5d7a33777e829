"""Where limits are counted: a SQLite file the workers of one machine share, or Redis.

Both are storages of the `limits` library (limits.storage.Storage subclasses, registered by
their STORAGE_SCHEME), so limits' own strategies can read and count in them too. They count over
limits' sliding window counter: per key, the count of the current clock window and of the
previous one (named `<key>/<window number>`, as limits names them), the previous one weighted by
the share of it the sliding window still covers. `hit` counts a request and reads the window
back in the same step: one SQLite transaction, or one pipelined Redis round trip. Under a high
limit a process counts several hits at once (a lease) and hands them out itself: one write for
several requests, never past the limit (see _lease_size).

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
from dataclasses import dataclass
from math import ceil, floor, inf
from typing import NamedTuple

import redis
from limits.storage import SlidingWindowCounterSupport, Storage

# Counting ahead: a lease is at most 1/LEASE_SHARE of what is left, and at most LEASE_MAX hits.
LEASE_SHARE = 100
LEASE_MAX = 50
MAX_LEASES = (
    10_000  # per process; past that they are dropped (their unused hits wait out the window)
)
SWEEP_EVERY_S = 60.0  # how often a process deletes expired counts from the SQLite file
BUSY_TIMEOUT_S = 2.0  # how long a SQLite write waits for another process's


class Hit(NamedTuple):
    """One request counted: whether it may go on, what is left, the seconds until the count goes
    down, and where it was counted (for give_back)."""

    acquired: bool
    remaining: int
    reset_s: int
    key: str
    window: int


class Taken(NamedTuple):
    """What a storage counted: hits granted (0 to the size asked), and the window's two counts
    after it (the grant included)."""

    granted: int
    previous: int
    current: int


@dataclass
class _Lease:
    """Hits a process counted ahead in window number `window`, `left` of them not handed out;
    the window's counts as the storage gave them with the lease."""

    window: int
    previous: int
    current: int
    left: int


def _lease_size(lease, limit, weight):
    """How many hits to count at once: 1 under limits of 200 or less, so that they are exact.

    At most 1/LEASE_SHARE of what the last look at the storage left of the limit (and at most
    LEASE_MAX): hits a process holds but does not use are refused to the others until the window
    slides, so a caller may be refused that much early, never let past the limit.
    """
    if lease is None:
        return 1
    remaining = limit - floor(lease.previous * weight + lease.current)
    return max(1, min(LEASE_MAX, remaining // LEASE_SHARE))


def window_stats(limit, expiry, previous, current, now):
    """(remaining, whole seconds until one more is allowed), as limits' strategy reads them."""
    into_s = now % expiry
    previous_ttl_s = expiry - into_s  # the share of the previous window still counted
    remaining = max(0, limit - floor(previous * previous_ttl_s / expiry + current))
    previous_reset_s = previous_ttl_s % (expiry / previous) if previous else inf
    current_reset_s = (previous_ttl_s + expiry) % expiry or expiry if current else inf
    reset_s = min(previous_reset_s, current_reset_s)
    return remaining, 0 if reset_s == inf else ceil(reset_s)


class CountingStorage(Storage, SlidingWindowCounterSupport):
    """A limits storage that counts a hit and reads its window at once, with leases."""

    def __init__(self, uri=None, wrap_exceptions=False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.leases = {}  # key -> _Lease: this process's hits counted ahead
        self.leases_lock = threading.Lock()  # threaded workers share a process's leases

    def take(self, key, expiry, now, size, limit):
        """Count up to `size` hits of `key` in the current window, as many as the limit allows
        (counting the previous window weighted): a Taken."""
        raise NotImplementedError

    def hit(self, key, limit, expiry):
        """Count one request of `key` under `limit` per `expiry` seconds: a Hit."""
        now = time.time()
        window = int(now / expiry)
        weight = 1 - (now % expiry) / expiry
        with self.leases_lock:
            lease = self.leases.get(key)
            if lease is not None and lease.window != window:
                lease = None  # the window has moved on
            if lease is not None and lease.left:
                lease.left -= 1
                current = lease.current - lease.left
                return Hit(
                    True, *window_stats(limit, expiry, lease.previous, current, now), key, window
                )
            size = _lease_size(lease, limit, weight)
            taken = self.take(key, expiry, now, size, limit)
            if len(self.leases) >= MAX_LEASES:
                self.leases.clear()
            left = max(0, taken.granted - 1)
            self.leases[key] = _Lease(window, taken.previous, taken.current, left)
        stats = window_stats(limit, expiry, taken.previous, taken.current - left, now)
        return Hit(taken.granted > 0, *stats, key, window)

    def give_back(self, hit):
        """Uncount a hit (a request that, after all, does not count)."""
        if hit.acquired:
            self.decr(f"{hit.key}/{hit.window}")

    def decr(self, key, amount=1):
        """Take `amount` off a count."""
        raise NotImplementedError

    def reset(self):
        """Forget every count (and this process's leases)."""
        with self.leases_lock:
            self.leases.clear()
        return self.forget_all()

    def forget_all(self):
        raise NotImplementedError

    # limits' sliding window counter API, for its strategies.

    def acquire_sliding_window_entry(self, key, limit, expiry, amount=1):
        return self.take(key, expiry, time.time(), amount, limit).granted == amount

    def get_sliding_window(self, key, expiry):
        now = time.time()
        window = int(now / expiry)
        previous_ttl_s = expiry - now % expiry
        previous = self.get(f"{key}/{window - 1}")
        current = self.get(f"{key}/{window}")
        return previous, previous_ttl_s if previous else 0.0, current, previous_ttl_s + expiry

    def clear_sliding_window(self, key, expiry):
        window = int(time.time() / expiry)
        for name in (f"{key}/{window - 1}", f"{key}/{window}"):
            self.clear(name)


def _granted(size, limit, previous, current, weight):
    """How many of `size` hits fit when the window holds `previous` and `current` already."""
    return max(0, min(size, limit - floor(previous * weight + current)))


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
                connection.execute("PRAGMA journal_mode = WAL")
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
            granted = _granted(size, limit, previous, current, 1 - (now % expiry) / expiry)
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
        granted = _granted(size, limit, previous, current - size, 1 - (now % expiry) / expiry)
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
