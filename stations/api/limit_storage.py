"""How limits are counted: a hit and its window read at once, and hits counted ahead.

The storages (limit_stores.py: a SQLite file the workers of one machine share, or Redis) are
storages of the `limits` library (limits.storage.Storage subclasses, registered by
their STORAGE_SCHEME), so limits' own strategies can read and count in them too. They count over
limits' sliding window counter: per key, the count of the current clock window and of the
previous one (named `<key>/<window number>`, as limits names them), the previous one weighted by
the share of it the sliding window still covers. `hit` counts a request and reads the window
back in the same step: one SQLite transaction, or one pipelined Redis round trip. Under a high
limit a process counts several hits at once (a lease) and hands them out itself: one write for
several requests, never past the limit (see _lease_size).
"""

import threading
import time
from dataclasses import dataclass
from math import ceil, floor, inf
from typing import NamedTuple

from limits.storage import SlidingWindowCounterSupport, Storage

# Counting ahead: a lease is at most 1/LEASE_SHARE of what is left, and at most LEASE_MAX hits.
LEASE_SHARE = 100
LEASE_MAX = 50
# Leases a process keeps; past that they are dropped (their unused hits wait out the window).
MAX_LEASES = 10_000


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
        now = time.time()
        granted = self.take(key, expiry, now, amount, limit).granted
        if 0 < granted < amount:  # all or nothing here: the part that fitted is given back
            self.decr(f"{key}/{int(now / expiry)}", granted)
        return granted == amount

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


def granted_hits(size, limit, previous, current, weight):
    """How many of `size` hits fit when the window holds `previous` and `current` already."""
    return max(0, min(size, limit - floor(previous * weight + current)))
