"""How limits are counted: a hit reads its window in the same step; Redis shares the count,
which each process counts ahead under high limits."""

import time

import pytest
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter, SlidingWindowCounterRateLimiter
from servers import TEST_REDIS_URL, redis_or_skip

from stations.api import limit_storage

WHO = ("stations", "ip:192.0.2.1", "api")
PREFIX = "LIMITS-storage-test"


@pytest.fixture(params=["memory", "redis"])
def strategy(request):
    """limits' sliding window counter over each storage the app may use, with nothing counted."""
    if request.param == "redis":
        redis_or_skip(TEST_REDIS_URL)
        storage = storage_from_string("stations+" + TEST_REDIS_URL, key_prefix=PREFIX)
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


def processes_on_redis(count):
    """Sliding window counters over Redis as `count` processes would each have them."""
    strategies = [
        SlidingWindowCounterRateLimiter(
            storage_from_string("stations+" + TEST_REDIS_URL, key_prefix=PREFIX)
        )
        for _ in range(count)
    ]
    strategies[0].storage.reset()
    # Counts are kept per clock minute: start well inside one, so as not to straddle two.
    if time.time() % 60 > 57:
        time.sleep(60.1 - time.time() % 60)
    return strategies


def redis_counts(client):
    return [int(client.get(name)) for name in client.scan_iter(f"{PREFIX}:*")]


def test_processes_share_one_count_in_redis():
    client = redis_or_skip(TEST_REDIS_URL)
    first, second = processes_on_redis(2)
    item = parse("2 per minute")
    hits = [limit_storage.hit(each, item, *WHO)[:2] for each in (first, second, first, second)]
    assert hits == [(True, 1), (True, 0), (False, 0), (False, 0)]
    assert redis_counts(client) == [2]  # refused hits are given back


def test_under_a_high_limit_a_process_counts_ahead():
    client = redis_or_skip(TEST_REDIS_URL)
    (strategy,) = processes_on_redis(1)
    item = parse("10000 per minute")
    seen = []
    for _ in range(52):
        seen.append((limit_storage.hit(strategy, item, *WHO)[:2], redis_counts(client)))
    # The first hit alone; the second takes 50 (1/100 of what is left, at most 50), which serve
    # the next 49 without Redis; the 52nd takes 50 more.
    assert [counts for _, counts in seen] == [[1]] + [[51]] * 50 + [[101]]
    assert [hit for hit, _ in seen] == [(True, 10000 - n) for n in range(1, 53)]


def test_counting_ahead_never_lets_a_caller_past_the_limit():
    client = redis_or_skip(TEST_REDIS_URL)
    item = parse("250 per minute")
    processes = processes_on_redis(2)
    acquired = [limit_storage.hit(each, item, *WHO)[0] for _ in range(300) for each in processes]
    assert acquired.count(True) == 250 and not any(acquired[500:])
    assert redis_counts(client) == [250]


def test_hits_counted_ahead_and_unused_are_refused_to_the_others():
    redis_or_skip(TEST_REDIS_URL)
    item = parse("1000 per minute")
    first, second = processes_on_redis(2)
    assert limit_storage.hit(first, item, *WHO)[0] and limit_storage.hit(first, item, *WHO)[0]
    # first holds 8 of the 9 it took with its second hit (998 // 100): second gets the rest.
    second_hits = [limit_storage.hit(second, item, *WHO)[0] for _ in range(1000)]
    assert second_hits.count(True) == 1000 - 2 - 8
    first_hits = [limit_storage.hit(first, item, *WHO)[0] for _ in range(10)]
    assert first_hits == [True] * 8 + [False] * 2


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
