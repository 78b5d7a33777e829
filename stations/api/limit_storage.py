"""How the limits are counted: at most one Redis round trip a request, no thread in memory.

limits' sliding window counter (the strategy limits.py configures) answers a hit with yes or no;
the RateLimit-* headers then need the window, a second call: in Redis a second round trip, and
each of the two runs a Lua script, which costs Redis about twice the CPU of a plain command.
Here a hit reads the window back in the same step; in Redis it is one pipelined round trip of
plain commands, on window keys named by the clock as limits' memory and memcached storages name
them (the app servers' clocks agree closely enough for that), and under a high limit a process
counts several hits at once, handing them out itself (RedisStorage). In memory, limits starts
a thread to sweep expired counts 10 ms after a count unless one is waiting: under load, a
thread for nearly every request. MemoryStorage here sweeps once a second.
"""

import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass
from math import ceil, floor, inf

from limits import storage as limits_storage
from limits.storage.base import TimestampedSlidingWindow
from limits.strategies import SlidingWindowCounterRateLimiter

SWEEP_EVERY_S = 1.0
# Counting ahead in Redis (RedisStorage): a lease is at most 1/LEASE_SHARE of what is left,
# and at most LEASE_MAX hits.
LEASE_SHARE = 100
LEASE_MAX = 50


class MemoryStorage(limits_storage.MemoryStorage):
    """limits' memory storage, sweeping expired counts once a second (reads skip them anyway)."""

    STORAGE_SCHEME = ["stations+memory"]
    # limits wraps these anew in each subclass (to translate errors): wrapped once is enough.
    get = limits_storage.MemoryStorage.get.__wrapped__
    incr = limits_storage.MemoryStorage.incr.__wrapped__

    def _MemoryStorage__schedule_expiry(self):  # limits 5.8's private method, by its mangled name
        if not self.timer.is_alive():
            self.timer = threading.Timer(SWEEP_EVERY_S, self._MemoryStorage__expire_events)
            self.timer.daemon = True  # a process that ends does not wait for the next sweep
            self.timer.start()

    def hit_sliding_window(self, key, limit, expiry):
        """acquire_sliding_window_entry, answering with the window's counts (as
        get_sliding_window gives them) read in the same step: (acquired, counts)."""
        now = time.time()
        keys = self.sliding_window_keys(key, expiry, now)
        # limits 5.8's own reading of the two counts (a private method)
        previous, previous_ttl_s, current, current_ttl_s = self._get_sliding_window_info(
            *keys, expiry, now
        )
        weighted_previous = previous * previous_ttl_s / expiry
        acquired = floor(weighted_previous + current) < limit
        if acquired:
            current = self.incr(keys[1], 2 * expiry)  # a new window lives two lengths
            if floor(weighted_previous + current) > limit:  # another thread counted first
                acquired, current = False, self.decr(keys[1])
        return acquired, (previous, previous_ttl_s, current, current_ttl_s)


class RedisStorage(limits_storage.RedisStorage):
    """limits' Redis storage (stations+redis://...), with the hits each process counts ahead.

    Under a high limit a process counts several hits at once in Redis (a lease) and hands them
    out itself, one Redis round trip for several requests (see _lease_size).
    """

    STORAGE_SCHEME = ["stations+redis", "stations+rediss"]

    def __init__(self, uri, **options):
        super().__init__(uri.removeprefix("stations+"), **options)
        self.leases = {}  # counting key -> _Lease, for this window only
        self.leases_lock = threading.Lock()  # threaded servers share a process's leases

    def reset(self):
        with self.leases_lock:
            self.leases.clear()
        return super().reset()


@dataclass
class _Lease:
    """Hits counted ahead in Redis in the window numbered `window` (its start over its length),
    `left` of them not handed out.

    `previous` and `current` are the window's counts as Redis gave them with the lease (the
    lease included).
    """

    window: int
    previous: int
    current: int
    left: int


def _lease_size(lease, limit, weighted_previous):
    """How many hits to count at once: 1 under low limits, so that they are exact.

    A lease is at most 1/LEASE_SHARE of what the last look at Redis left of the limit (and at
    most LEASE_MAX): hits a process holds but does not use are refused to the others until the
    window slides, so a caller may be refused that much early, never let past the limit.
    """
    if lease is None:
        return 1
    remaining = limit - floor(weighted_previous + lease.current)
    return max(1, min(LEASE_MAX, remaining // LEASE_SHARE))


def _redis_counts(storage, key, limit, expiry):
    """Count a hit in Redis: (acquired, and the window's counts as MemoryStorage reads them)."""
    now = time.time()
    window = int(now / expiry)  # as the window keys are numbered
    previous_ttl_s = (1 - ((now - expiry) / expiry) % 1) * expiry
    current_ttl_s = (1 - (now / expiry) % 1) * expiry + expiry
    leases = getattr(storage, "leases", {})  # none in limits' own RedisStorage
    with getattr(storage, "leases_lock", nullcontext()):
        lease = leases.get(key)
        if lease is not None and lease.window != window:
            lease = None  # the window has moved on
        if lease is not None and lease.left:
            lease.left -= 1
            used = lease.current - lease.left
            return True, (lease.previous, previous_ttl_s, used, current_ttl_s)
        weighted_previous = lease.previous * previous_ttl_s / expiry if lease else 0.0
        size = _lease_size(lease, limit, weighted_previous)
        previous_key, current_key = map(
            storage.prefixed_key, TimestampedSlidingWindow.sliding_window_keys(key, expiry, now)
        )
        pipe = storage.get_connection().pipeline(transaction=False)
        pipe.set(current_key, 0, px=2 * expiry * 1000, nx=True)  # a new window lives two lengths
        pipe.incrby(current_key, size)
        pipe.get(previous_key)
        _, current, previous = pipe.execute()
        previous = int(previous or 0)
        if not previous:
            previous_ttl_s = 0.0
        # Counted first, so that hits at once each see the others; what is over the limit is
        # given back.
        room = limit - floor(previous * previous_ttl_s / expiry + current - size)
        granted = max(0, min(size, room))
        if granted < size:
            current = storage.get_connection().decrby(current_key, size - granted)
        leases[key] = _Lease(window, previous, current, max(0, granted - 1))
    return granted > 0, (previous, previous_ttl_s, current - max(0, granted - 1), current_ttl_s)


def _window(item, previous_count, previous_ttl_s, current_count, current_ttl_s):
    """(remaining, whole seconds until one more is allowed) as the strategy's window stats."""
    expiry = item.get_expiry()
    weighted = previous_count * previous_ttl_s / expiry + current_count
    remaining = max(0, item.amount - floor(weighted))
    previous_reset_s = previous_ttl_s % (expiry / previous_count) if previous_count else inf
    # Exactly at a window's edge the current count has a whole window to go, not none.
    current_reset_s = (current_ttl_s % expiry or expiry) if current_count else inf
    reset_s = min(previous_reset_s, current_reset_s)
    return remaining, 0 if reset_s == inf else ceil(reset_s)


def hit(strategy, item, *identifiers):
    """Count one request against `item`: (acquired, remaining, seconds until the window resets)."""
    if not isinstance(strategy, SlidingWindowCounterRateLimiter):
        acquired = strategy.hit(item, *identifiers)
        reset_at, remaining = strategy.get_window_stats(item, *identifiers)
        return acquired, remaining, max(0, ceil(reset_at - time.time()))
    return hit_key(strategy, item, item.key_for(*identifiers))


def hit_key(strategy, item, key):
    """hit, for the storage key that item.key_for(*identifiers) gives (a sliding window only)."""
    if not isinstance(strategy, SlidingWindowCounterRateLimiter):
        raise TypeError("hit_key counts over limits' sliding window counter only")
    storage, expiry = strategy.storage, item.get_expiry()
    if isinstance(storage, limits_storage.RedisStorage):
        acquired, counts = _redis_counts(storage, key, item.amount, expiry)
    elif isinstance(storage, MemoryStorage):
        acquired, counts = storage.hit_sliding_window(key, item.amount, expiry)
    else:  # limits' own storages: the window read again
        acquired = storage.acquire_sliding_window_entry(key, item.amount, expiry)
        counts = storage.get_sliding_window(key, expiry)
    return bool(acquired), *_window(item, *counts)
