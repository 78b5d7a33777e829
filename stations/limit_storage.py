"""How the limits are counted: one Redis round trip a request, no thread a request in memory.

limits' sliding window counter (the strategy limits.py configures) answers a hit with yes or no;
the RateLimit-* headers then need the window, a second call (in Redis, a second round trip and
script). Here a Redis hit runs one Lua script, limits' own acquire_sliding_window.lua that also
returns the counts, on the same keys: Flask-Limiter's way of counting and this one share them.
In memory, limits starts a thread to sweep expired counts 10 ms after a count unless one is
waiting: under load, a thread for nearly every request. MemoryStorage here sweeps once a second.
"""

import threading
import time
from functools import lru_cache
from math import ceil, floor, inf

from limits import storage as limits_storage
from limits.storage import RedisStorage
from limits.strategies import SlidingWindowCounterRateLimiter

# limits 5.8's acquire_sliding_window.lua, answering {acquired (1 or 0), previous count, its ms to
# live, current count, its ms to live}; pttl is -2 for a key that does not exist.
ACQUIRE_AND_READ = """
local limit = tonumber(ARGV[1])
local expiry = tonumber(ARGV[2]) * 1000
local amount = tonumber(ARGV[3])
local current_ttl = redis.call('pttl', KEYS[2])
if current_ttl > 0 and current_ttl < expiry then
    -- The current window has ended: it becomes the previous one
    redis.call('rename', KEYS[2], KEYS[1])
    redis.call('set', KEYS[2], 0, 'PX', current_ttl + expiry)
    current_ttl = current_ttl + expiry
end
local previous_count = tonumber(redis.call('get', KEYS[1])) or 0
local previous_ttl = math.max(0, redis.call('pttl', KEYS[1]))
local current_count = tonumber(redis.call('get', KEYS[2])) or 0
local acquired = amount <= limit
    and math.floor(previous_count * previous_ttl / expiry) + current_count + amount <= limit
if acquired then
    if current_ttl == -2 then
        redis.call('set', KEYS[2], amount, 'PX', expiry * 2)
        current_ttl = expiry * 2
    else
        redis.call('incrby', KEYS[2], amount)
    end
    current_count = current_count + amount
end
return {acquired and 1 or 0, previous_count, previous_ttl, current_count, math.max(0, current_ttl)}
"""

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


@lru_cache(maxsize=8)
def _script(storage):
    """The script, registered with this storage's Redis client."""
    return storage.get_connection().register_script(ACQUIRE_AND_READ)


def _window(item, previous_count, previous_ttl_s, current_count, current_ttl_s):
    """(remaining, whole seconds until one more is allowed) as the strategy's window stats."""
    expiry = item.get_expiry()
    weighted = previous_count * previous_ttl_s / expiry + current_count
    remaining = max(0, item.amount - floor(weighted))
    previous_reset_s = previous_ttl_s % (expiry / previous_count) if previous_count else inf
    # A current window that has just begun (its whole 2 * expiry to live) resets in a full one.
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
        window_keys = [
            storage.prefixed_key(storage._previous_window_key(key)),
            storage.prefixed_key(storage._current_window_key(key)),
        ]
        acquired, previous, previous_ttl_ms, current, current_ttl_ms = _script(storage)(
            window_keys, [item.amount, expiry, 1]
        )
        counts = previous, previous_ttl_ms / 1000, current, current_ttl_ms / 1000
    else:  # in memory, reading the window again costs little
        acquired = storage.acquire_sliding_window_entry(key, item.amount, expiry)
        counts = storage.get_sliding_window(key, expiry)
    return bool(acquired), *_window(item, *counts)
