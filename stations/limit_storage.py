"""How the limits are counted: one Redis round trip a request, no thread a request in memory.

limits' sliding window counter (the strategy limits.py configures) answers a hit with yes or no;
the RateLimit-* headers then need the window, a second call: in Redis a second round trip, and
each of the two runs a Lua script, which costs Redis about twice the CPU of a plain command.
Here a hit reads the window back in the same step; in Redis it is one pipelined round trip of
plain commands, on window keys named by the clock as limits' memory and memcached storages name
them (the app servers' clocks agree closely enough for that). In memory, limits starts a thread
to sweep expired counts 10 ms after a count unless one is waiting: under load, a thread for
nearly every request. MemoryStorage here sweeps once a second.
"""

import threading
import time
from math import ceil, floor, inf

from limits import storage as limits_storage
from limits.storage import RedisStorage
from limits.storage.base import TimestampedSlidingWindow
from limits.strategies import SlidingWindowCounterRateLimiter

SWEEP_EVERY_S = 1.0


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


def _redis_counts(storage, key, limit, expiry):
    """Count a hit in Redis: (acquired, and the window's counts as MemoryStorage reads them)."""
    now = time.time()
    previous_key, current_key = map(
        storage.prefixed_key, TimestampedSlidingWindow.sliding_window_keys(key, expiry, now)
    )
    pipe = storage.get_connection().pipeline(transaction=False)
    pipe.set(current_key, 0, px=2 * expiry * 1000, nx=True)  # a new window lives two lengths
    pipe.incr(current_key)
    pipe.get(previous_key)
    _, current, previous = pipe.execute()
    previous = int(previous or 0)
    previous_ttl_s = (1 - ((now - expiry) / expiry) % 1) * expiry if previous else 0.0
    current_ttl_s = (1 - (now / expiry) % 1) * expiry + expiry
    acquired = floor(previous * previous_ttl_s / expiry + current) <= limit
    if not acquired:  # counted first, so that hits at once each see the other: given back
        current = storage.get_connection().decr(current_key)
    return acquired, (previous, previous_ttl_s, current, current_ttl_s)


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
    storage, key, expiry = strategy.storage, item.key_for(*identifiers), item.get_expiry()
    if isinstance(storage, RedisStorage):
        acquired, counts = _redis_counts(storage, key, item.amount, expiry)
    else:  # in memory, reading the window again costs little
        acquired = storage.acquire_sliding_window_entry(key, item.amount, expiry)
        counts = storage.get_sliding_window(key, expiry)
    return bool(acquired), *_window(item, *counts)
