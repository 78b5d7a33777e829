"""How limits are counted: a hit reads its window in the same step; Redis shares the count."""

import time

import pytest
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter, SlidingWindowCounterRateLimiter
from servers import TEST_REDIS_URL, redis_or_skip

from stations import limit_storage

WHO = ("stations", "ip:192.0.2.1", "api")
PREFIX = "LIMITS-storage-test"


@pytest.fixture(params=["memory", "redis"])
def strategy(request):
    """limits' sliding window counter over each storage the app may use, with nothing counted."""
    if request.param == "redis":
        redis_or_skip(TEST_REDIS_URL)
        storage = storage_from_string(TEST_REDIS_URL, key_prefix=PREFIX)
    else:
        storage = storage_from_string("stations+memory://")
    storage.reset()
    return SlidingWindowCounterRateLimiter(storage)


def test_a_hit_answers_with_its_window(strategy):
    item = parse("3 per minute")
    hits = [limit_storage.hit(strategy, item, *WHO) for _ in range(4)]
    assert [hit[:2] for hit in hits] == [(True, 2), (True, 1), (True, 0), (False, 0)]
    assert all(0 < reset_s <= 60 for _, _, reset_s in hits)
    other = ("stations", "ip:192.0.2.9", "api")
    assert limit_storage.hit(strategy, item, *other)[:2] == (True, 2)


def test_the_window_slides(strategy):
    item = parse("2 per second")
    assert [limit_storage.hit(strategy, item, *WHO)[0] for _ in range(3)] == [True, True, False]
    time.sleep(1.1)  # the counts move to the previous window, weighted by what is left of it
    acquired, remaining, reset_s = limit_storage.hit(strategy, item, *WHO)
    assert acquired and remaining <= 1 and reset_s <= 1


def test_processes_share_one_count_in_redis():
    client = redis_or_skip(TEST_REDIS_URL)
    first, second = (
        SlidingWindowCounterRateLimiter(storage_from_string(TEST_REDIS_URL, key_prefix=PREFIX))
        for _ in range(2)
    )
    first.storage.reset()
    item = parse("2 per minute")
    hits = [limit_storage.hit(each, item, *WHO)[:2] for each in (first, second, first, second)]
    assert hits == [(True, 1), (True, 0), (False, 0), (False, 0)]
    counts = [int(client.get(name)) for name in client.scan_iter(f"{PREFIX}:*")]
    assert counts == [2]  # refused hits are given back


def test_other_strategies_read_the_window_after_the_hit():
    strategy = FixedWindowRateLimiter(storage_from_string("stations+memory://"))
    hits = [limit_storage.hit(strategy, parse("2 per minute"), *WHO) for _ in range(3)]
    assert [hit[:2] for hit in hits] == [(True, 1), (True, 0), (False, 0)]
    assert all(0 < reset_s <= 60 for _, _, reset_s in hits)


def test_memory_is_swept_by_one_thread_a_second():
    storage = storage_from_string("stations+memory://")
    storage.timer.join()  # the sweep limits starts with the storage
    strategy, item = SlidingWindowCounterRateLimiter(storage), parse("100 per minute")
    limit_storage.hit(strategy, item, *WHO)
    sweeper = storage.timer
    assert sweeper.interval == limit_storage.SWEEP_EVERY_S and sweeper.daemon
    for _ in range(50):
        limit_storage.hit(strategy, item, *WHO)
    assert storage.timer is sweeper
