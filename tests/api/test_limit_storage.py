"""How limits are counted: a hit reads its window in the same step; a SQLite file shares the count
between the processes of a machine, Redis between machines; each process counts ahead under
high limits; a storage that fails is stood in for."""

import logging
import multiprocessing
import sqlite3
import time

import pytest
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter, SlidingWindowCounterRateLimiter
from servers import TEST_REDIS_URL, redis_or_skip

from stations.api import limit_stores, limits

ITEM_KEY = ("stations", "ip:192.0.2.1", "api")
PREFIX = "LIMITS-storage-test"
SHARED = ("file", "redis")


def hit(storage, item, *identifiers):
    """Count one request as the app does: (acquired, remaining, reset_s)."""
    return storage.hit(item.key_for(*identifiers), item.amount, item.get_expiry())[:3]


def open_storage(kind, tmp_path):
    """A storage the app may use, as one process opens it; nothing counted if it is new."""
    if kind == "redis":
        return storage_from_string("stations+" + TEST_REDIS_URL, key_prefix=PREFIX)
    if kind == "file":
        return storage_from_string(f"stations+sqlite://{tmp_path}/limits.sqlite")
    return storage_from_string("stations+sqlite://")


def processes(kind, tmp_path, count):
    """The storage as `count` processes would each have it, cleared, well inside a clock minute
    (counts are kept per clock window: so as not to straddle two)."""
    if kind == "redis":
        redis_or_skip(TEST_REDIS_URL)
    storages = [open_storage(kind, tmp_path) for _ in range(count)]
    storages[0].reset()
    if time.time() % 60 > 57:
        time.sleep(60.1 - time.time() % 60)
    return storages


def stored_counts(storage):
    """The counts a storage holds, whatever their keys."""
    if isinstance(storage, limit_stores.RedisStorage):
        client = storage.client
        return [int(client.get(name)) for name in client.scan_iter(f"{PREFIX}:*")]
    with sqlite3.connect(storage.path) as connection:
        return [count for (count,) in connection.execute("SELECT count FROM counts")]


@pytest.fixture(params=["memory", "file", "redis"])
def storage(request, tmp_path):
    """Each storage the app may use, with nothing counted."""
    return processes(request.param, tmp_path, 1)[0]


def test_schemes_are_registered_with_limits(tmp_path):
    assert isinstance(storage_from_string("stations+sqlite://"), limit_stores.SQLiteStorage)
    redis_storage = storage_from_string("stations+redis://127.0.0.1:6379/9")
    assert isinstance(redis_storage, limit_stores.RedisStorage)


def test_a_hit_answers_with_its_window(storage):
    item = parse("3 per minute")
    hits = [hit(storage, item, *ITEM_KEY) for _ in range(4)]
    assert [each[:2] for each in hits] == [(True, 2), (True, 1), (True, 0), (False, 0)]
    assert all(0 < reset_s <= 60 for _, _, reset_s in hits)
    assert hit(storage, item, "stations", "ip:192.0.2.9", "api")[:2] == (True, 2)


def test_the_window_slides(storage):
    item = parse("2 per second")
    assert [hit(storage, item, *ITEM_KEY)[0] for _ in range(3)] == [True, True, False]
    time.sleep(1.1)  # the counts move to the previous window, weighted by what is left of it
    acquired, remaining, reset_s = hit(storage, item, *ITEM_KEY)
    assert acquired and remaining <= 1 and reset_s <= 1


def test_limits_strategies_read_and_count_the_same(storage):
    item = parse("3 per minute")
    hit(storage, item, *ITEM_KEY)
    sliding = SlidingWindowCounterRateLimiter(storage)
    assert sliding.get_window_stats(item, *ITEM_KEY).remaining == 2
    assert sliding.hit(item, *ITEM_KEY) and sliding.hit(item, *ITEM_KEY)
    assert not sliding.hit(item, *ITEM_KEY)
    assert hit(storage, item, *ITEM_KEY)[:2] == (False, 0)
    assert sliding.hit(parse("3 per minute"), "costly", cost=2)
    assert not sliding.hit(parse("3 per minute"), "costly", cost=2)  # all or nothing
    assert sliding.get_window_stats(parse("3 per minute"), "costly").remaining == 1
    fixed = FixedWindowRateLimiter(storage)
    assert [fixed.hit(parse("2 per minute"), "fixed") for _ in range(3)] == [True, True, False]
    assert fixed.get_window_stats(parse("2 per minute"), "fixed").remaining == 0


def test_a_hit_given_back_no_longer_counts(storage):
    item = parse("2 per minute")
    key = item.key_for(*ITEM_KEY)
    first = storage.hit(key, 2, 60)
    storage.give_back(first)
    assert [storage.hit(key, 2, 60).acquired for _ in range(3)] == [True, True, False]


@pytest.mark.parametrize("kind", SHARED)
def test_processes_share_one_count(kind, tmp_path):
    first, second = processes(kind, tmp_path, 2)
    item = parse("2 per minute")
    hits = [hit(each, item, *ITEM_KEY)[:2] for each in (first, second, first, second)]
    assert hits == [(True, 1), (True, 0), (False, 0), (False, 0)]
    assert stored_counts(first) == [2]  # refused hits are not counted


@pytest.mark.parametrize("kind", SHARED)
def test_under_a_high_limit_a_process_counts_ahead(kind, tmp_path):
    (storage,) = processes(kind, tmp_path, 1)
    item = parse("10000 per minute")
    seen = [(hit(storage, item, *ITEM_KEY)[:2], stored_counts(storage)) for _ in range(52)]
    # The first hit alone; the second takes 50 (1/100 of what is left, at most 50), which serve
    # the next 49 without the storage; the 52nd takes 50 more.
    assert [counts for _, counts in seen] == [[1]] + [[51]] * 50 + [[101]]
    assert [each for each, _ in seen] == [(True, 10000 - n) for n in range(1, 53)]


@pytest.mark.parametrize("kind", SHARED)
def test_counting_ahead_never_lets_a_caller_past_the_limit(kind, tmp_path):
    item = parse("250 per minute")
    both = processes(kind, tmp_path, 2)
    acquired = [hit(each, item, *ITEM_KEY)[0] for _ in range(300) for each in both]
    assert acquired.count(True) == 250 and not any(acquired[500:])
    assert stored_counts(both[0]) == [250]


@pytest.mark.parametrize("kind", SHARED)
def test_hits_counted_ahead_and_unused_are_refused_to_the_others(kind, tmp_path):
    item = parse("1000 per minute")
    first, second = processes(kind, tmp_path, 2)
    assert hit(first, item, *ITEM_KEY)[0] and hit(first, item, *ITEM_KEY)[0]
    # first holds 8 of the 9 it took with its second hit (998 // 100): second gets the rest.
    second_hits = [hit(second, item, *ITEM_KEY)[0] for _ in range(1000)]
    assert second_hits.count(True) == 1000 - 2 - 8
    assert [hit(first, item, *ITEM_KEY)[0] for _ in range(10)] == [True] * 8 + [False] * 2


def _hits_in_a_process(uri, amount, limit, results):
    storage = storage_from_string(uri)
    results.put(sum(hit(storage, parse(limit), *ITEM_KEY)[0] for _ in range(amount)))


@pytest.mark.parametrize(
    ("limit", "amount", "least"),
    [
        ("150 per minute", 200, 150),  # under 200 a minute, one hit at a time: exact
        ("2000 per minute", 1000, 2000 - 4 * 20),  # leases of up to 20 may be left unused
    ],
)
def test_processes_writing_the_file_at_once_never_pass_the_limit(tmp_path, limit, amount, least):
    processes("file", tmp_path, 1)
    uri, results = f"stations+sqlite://{tmp_path}/limits.sqlite", multiprocessing.Queue()
    workers = [
        multiprocessing.Process(target=_hits_in_a_process, args=(uri, amount, limit, results))
        for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    acquired = sum(results.get(timeout=60) for _ in workers)
    for worker in workers:
        worker.join()
    assert least <= acquired <= parse(limit).amount


def _first_hits(uri, start, results):
    storage = storage_from_string(uri)
    start.wait()
    try:
        results.put(sum(hit(storage, parse("5 per minute"), *ITEM_KEY)[0] for _ in range(5)))
    except sqlite3.Error as error:
        results.put(repr(error))


def test_processes_opening_a_new_file_at_once_all_count_in_it(tmp_path):
    # Workers' first hits come together on a new file: each must count in it, none fail (and
    # count in its own memory meanwhile: 5 each, 20 let through).
    for trial in range(30):
        uri, results = f"stations+sqlite://{tmp_path}/{trial}.sqlite", multiprocessing.Queue()
        start = multiprocessing.Barrier(4)
        workers = [
            multiprocessing.Process(target=_first_hits, args=(uri, start, results))
            for _ in range(4)
        ]
        for worker in workers:
            worker.start()
        answers = [results.get(timeout=60) for _ in workers]
        for worker in workers:
            worker.join()
        assert all(isinstance(each, int) for each in answers) and sum(answers) == 5, answers


def test_expired_counts_are_swept_from_the_file(tmp_path, monkeypatch):
    (storage,) = processes("file", tmp_path, 1)
    item = parse("5 per minute")
    hit(storage, item, *ITEM_KEY)
    storage.incr("old", expiry=1)
    time.sleep(1.1)
    hit(storage, item, *ITEM_KEY)
    assert sorted(stored_counts(storage)) == [1, 2]  # swept once a minute: not yet
    assert storage.get("old") == 0  # expired all the same
    monkeypatch.setattr(limit_stores, "SWEEP_EVERY_S", 0.0)
    hit(storage, item, *ITEM_KEY)
    assert stored_counts(storage) == [3]


def test_a_failing_storage_is_stood_in_for_and_logged_once(tmp_path, caplog):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")  # a file where the counts' folder should be: SQLite cannot open it
    failing = storage_from_string(f"stations+sqlite://{blocked}/limits.sqlite")
    counter = limits.Counter(failing, logging.getLogger("test-limits"))
    item = parse("2 per minute")
    with caplog.at_level(logging.WARNING, "test-limits"):
        acquired = [counter.hit(item, "k").hit.acquired for _ in range(3)]
    assert acquired == [True, True, False]  # counted in this process meanwhile
    unreachable = [r for r in caplog.records if "Rate limit storage unreachable" in r.message]
    assert len(unreachable) == 1
    blocked.unlink()
    blocked.mkdir()  # the storage can work now: it is tried again after RETRY_STORAGE_S
    time.sleep(limits.RETRY_STORAGE_S)
    with caplog.at_level(logging.WARNING, "test-limits"):
        back = [counter.hit(item, "k") for _ in range(2)]
    assert [each.storage for each in back] == [failing, failing]
    assert [each.hit.remaining for each in back] == [1, 0]  # counted there from zero
    assert "Rate limit storage answers again" in caplog.text
