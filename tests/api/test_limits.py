"""Fair limits: per key, per IP, once per machine whatever the number of workers, shared
through Redis by two servers, and alive without Redis."""

import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from flask_migrate import upgrade
from limits import parse
from limits.strategies import SlidingWindowCounterRateLimiter
from servers import (
    TEST_REDIS_URL,
    app_environment,
    gunicorn,
    own_redis_server,
    redis_or_skip,
)
from support import csrf_token

from stations import config, create_app
from stations.api import keys
from stations.api.limits import counter, reset_counts
from stations.core.db import db

STATION = "/api/v1/stations/1"
OPENAPI = "/api/v1/openapi.json"
LIST = "/api/v1/stations?per_page=1"


@pytest.fixture
def fresh_counts(sample_app):
    """Every test starts with no requests counted and no key use pending."""
    reset_counts()
    sample_app.extensions["stations.key_usage"] = keys._Usage()


def from_ip(client, ip):
    """GET helper for one client address."""
    return lambda path=STATION, **kw: client.get(path, environ_base={"REMOTE_ADDR": ip}, **kw)


@pytest.mark.usefixtures("fresh_counts")
def test_anonymous_callers_are_limited_per_ip(sample_app, client, monkeypatch):
    monkeypatch.setitem(sample_app.config, "API_LIMIT_PER_IP", "3 per minute")
    get = from_ip(client, "203.0.113.7")
    remaining = [get().headers["RateLimit-Remaining"] for _ in range(3)]
    assert remaining == ["2", "1", "0"]
    refused = get()
    assert refused.status_code == 429
    assert refused.mimetype == "application/problem+json"
    body = refused.get_json()
    assert body["title"] == "Too Many Requests" and "your IP address" in body["detail"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["RateLimit-Limit"] == "3"
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert 0 <= int(refused.headers["RateLimit-Reset"]) <= 60
    assert refused.headers["RateLimit-Policy"] == "3;w=60"
    assert from_ip(client, "203.0.113.8")().status_code == 200  # another address
    assert get("/api/v1/health").status_code == 200  # the liveness probe is never limited


@pytest.mark.usefixtures("fresh_counts")
def test_each_key_has_its_own_limit(sample_app, client, monkeypatch):
    monkeypatch.setitem(sample_app.config, "API_LIMIT_PER_IP", "1 per minute")
    key, token = keys.create_key("small partner", per_minute=2)
    _, other = keys.create_key("big partner", per_minute=50)
    get = from_ip(client, "198.51.100.1")
    assert [get(headers={"X-API-Key": token}).status_code for _ in range(3)] == [200, 200, 429]
    refused = get(headers={"X-API-Key": token})
    assert key.prefix in refused.get_json()["detail"] and "Retry-After" in refused.headers
    # The same address: another key, and no key at all, have their own counts.
    assert get(headers={"Authorization": f"Bearer {other}"}).headers["RateLimit-Limit"] == "50"
    assert get().status_code == 200
    assert get().status_code == 429


@pytest.mark.usefixtures("fresh_counts")
def test_unknown_keys_count_against_the_address(sample_app, client, monkeypatch):
    monkeypatch.setitem(sample_app.config, "API_LIMIT_PER_IP", "2 per minute")
    get = from_ip(client, "198.51.100.9")
    statuses = [get(headers={"X-API-Key": f"rsk_guess{n}"}).status_code for n in range(3)]
    assert statuses == [401, 401, 429]


@pytest.mark.usefixtures("fresh_counts")
def test_preflight_is_not_counted(sample_app, client, monkeypatch):
    monkeypatch.setitem(sample_app.config, "API_LIMIT_PER_IP", "1 per minute")
    preflight = {"Origin": "https://partner.example", "Access-Control-Request-Method": "GET"}
    for _ in range(3):
        response = client.options(STATION, headers=preflight)
        assert response.status_code == 200 and "RateLimit-Limit" not in response.headers
    assert client.get(STATION).status_code == 200


@pytest.mark.usefixtures("fresh_counts")
def test_api_requests_are_counted_where_limits_reads_them(sample_app, client, monkeypatch):
    monkeypatch.setitem(sample_app.config, "API_LIMIT_PER_IP", "3 per minute")
    assert from_ip(client, "192.0.2.1")().headers["RateLimit-Remaining"] == "2"
    item, who = parse("3 per minute"), ("stations", "ip:192.0.2.1", "api")
    strategy = SlidingWindowCounterRateLimiter(counter().storage)
    assert strategy.get_window_stats(item, *who).remaining == 2


@pytest.mark.usefixtures("fresh_counts")
def test_views_with_limits_of_their_own_keep_only_those(sample_app, client, monkeypatch):
    monkeypatch.setitem(sample_app.config, "API_LIMIT_PER_IP", "1 per minute")
    post = {"json": {"reason": "closed"}, "environ_base": {"REMOTE_ADDR": "192.0.2.2"}}
    replies = [client.post("/api/v1/stations/1/reports", **post) for _ in range(2)]
    assert [reply.status_code for reply in replies] == [201, 201]
    assert replies[1].headers["RateLimit-Policy"].endswith(";w=3600")  # a report limit, hourly


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("false", False),
        ("FALSE", False),
        ("0", False),
        ("off", False),
        ("no", False),
        ("true", True),
        ("1", True),
        ("", True),
    ],
)
def test_ratelimit_enabled_is_read_from_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("RATELIMIT_ENABLED", value)
    assert config.from_environment("instance")["RATELIMIT_ENABLED"] is expected


# Real servers and a real Redis.


def fetch(url, headers=None):
    """(status, headers) of a GET (or of a prepared Request), errors included."""
    if isinstance(url, str):
        url = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(url) as reply:
            return reply.status, reply.headers
    except urllib.error.HTTPError as error:
        return error.code, error.headers


def migrated_with_a_key(url):
    """Migrate the database at url and give it one API key (5 a minute): the key."""
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_STORAGE_URI": "stations+sqlite://"}
    )
    with app.app_context():
        upgrade()
        _, token = keys.create_key("shared partner", per_minute=5)
        db.session.remove()
        db.engine.dispose()
    return token


@pytest.fixture(params=["sqlite", "postgis"])
def server_database(request, tmp_path):
    """A migrated database with one API key (5 a minute) that app servers can share; (url, key)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/servers.sqlite"
    else:
        from conftest import _postgis_url

        url = _postgis_url("_servers")
    return url, migrated_with_a_key(url)


@pytest.fixture
def two_servers(server_database, tmp_path):
    """Two gunicorn servers on one database and one Redis; their base URLs and the key."""
    url, token = server_database
    redis_or_skip(TEST_REDIS_URL)
    env = app_environment(
        DATABASE_URL=url, REDIS_URL=TEST_REDIS_URL, API_LIMIT_PER_IP="4 per minute"
    )
    with (
        gunicorn(env, tmp_path / "first.log") as first,
        gunicorn(env, tmp_path / "second.log") as second,
    ):
        yield (first, second), token


def test_two_servers_share_one_limit_in_redis(two_servers):
    (first, second), token = two_servers
    key = {"X-API-Key": token}
    statuses = [fetch(base + LIST, key)[0] for base in (first, second) * 3]
    assert statuses == [200, 200, 200, 200, 200, 429]
    assert fetch(first + LIST, key)[0] == 429
    anonymous = [fetch(base + LIST)[0] for base in (first, second, first, second, second)]
    assert anonymous == [200, 200, 200, 200, 429]
    status, headers = fetch(second + LIST)
    assert status == 429 and int(headers["Retry-After"]) >= 1


@pytest.fixture
def own_redis():
    """A redis-server of this test's own, on a free port: (url, stop, start)."""
    with own_redis_server() as server:
        yield server


def test_limits_can_be_switched_off(server_database, tmp_path):
    url, _ = server_database
    env = app_environment(DATABASE_URL=url, RATELIMIT_ENABLED="false", API_LIMIT_PER_IP="1/minute")
    with gunicorn(env | {"RATELIMIT_FILE": str(tmp_path / "limits.sqlite")}) as base:
        for _ in range(3):
            status, headers = fetch(base + LIST)
            assert status == 200 and "RateLimit-Limit" not in headers
        assert fetch(base + LIST, {"X-API-Key": "rsk_unknown"})[0] == 401  # keys still checked


def test_the_api_keeps_answering_when_redis_goes_away(server_database, own_redis, tmp_path):
    url, _ = server_database
    redis_url, stop_redis, start_redis = own_redis
    env = app_environment(DATABASE_URL=url, REDIS_URL=redis_url, API_LIMIT_PER_IP="3 per minute")
    log = tmp_path / "gunicorn.log"
    with gunicorn(env, log) as base:
        assert [fetch(base + LIST)[1]["RateLimit-Remaining"] for _ in range(2)] == ["2", "1"]
        assert list(redis.Redis.from_url(redis_url).scan_iter("LIMITS:*"))  # counted in Redis
        stop_redis()
        started = time.monotonic()
        statuses = [fetch(base + LIST)[0] for _ in range(4)]
        assert time.monotonic() - started < 2, "a dead Redis must not slow every request"
        assert statuses == [200, 200, 200, 429]  # counted in the worker's memory meanwhile
        assert "Rate limit storage unreachable" in log.read_text()
        start_redis()
        time.sleep(1.2)  # each process tries the storage again after a pause (RETRY_STORAGE_S)
        assert fetch(base + LIST)[1]["RateLimit-Remaining"] == "2"  # in Redis again, from zero
        assert list(redis.Redis.from_url(redis_url).scan_iter("LIMITS:*"))


# One machine, several workers: the embedded SQLite database, counts in a file they share.


def well_inside_a_window(expiry_s, margin_s=3):
    """Wait, if need be, so that what follows does not straddle two clock windows of the limit
    (the previous window's count, weighted, would let one more request in)."""
    if time.time() % expiry_s > expiry_s - margin_s:
        time.sleep(expiry_s - time.time() % expiry_s + 0.1)


def at_once(count, send):
    """Call send() from `count` threads released together; their answers, in order."""
    start = threading.Barrier(count)

    def one(_):
        start.wait()
        return send()

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


@pytest.fixture
def embedded_database(tmp_path):
    """The embedded default: a SQLite database (url, the key of 5 a minute)."""
    url = f"sqlite:///{tmp_path}/embedded.sqlite"
    return url, migrated_with_a_key(url)


@pytest.mark.parametrize(
    ("workers", "preload", "storage"),
    [
        (2, False, "machine"),
        (4, True, "machine"),
        (2, False, "redis"),
        (4, False, "redis"),
    ],
)
def test_a_key_is_counted_once_whatever_the_number_of_workers(
    embedded_database, tmp_path, workers, preload, storage
):
    url, token = embedded_database
    settings = {"DATABASE_URL": url, "RATELIMIT_FILE": str(tmp_path / "limits.sqlite")}
    if storage == "redis":
        redis_or_skip(TEST_REDIS_URL)
        settings["REDIS_URL"] = TEST_REDIS_URL
    with gunicorn(app_environment(**settings), workers=workers, preload=preload) as base:
        well_inside_a_window(60)
        statuses = at_once(20, lambda: fetch(base + LIST, {"X-API-Key": token})[0])
        assert sorted(statuses) == [200] * 5 + [429] * 15
        assert fetch(base + LIST, {"X-API-Key": token})[0] == 429
    if storage == "machine":
        assert (tmp_path / "limits.sqlite").exists()


def test_failed_logins_are_counted_once_whatever_the_worker(embedded_database, tmp_path):
    url, _ = embedded_database
    env = app_environment(
        DATABASE_URL=url,
        RATELIMIT_FILE=str(tmp_path / "limits.sqlite"),
        SECRET_KEY=secrets.token_hex(32),
    )
    with gunicorn(env, workers=2) as base:
        with urllib.request.urlopen(base + "/login") as page:
            cookie = page.headers["Set-Cookie"].split(";")[0]
            token = csrf_token(page.read().decode())
        form = {"csrf_token": token, "email": "nobody@example.org", "password": "wrong"}
        request = urllib.request.Request(
            base + "/login",
            data=urllib.parse.urlencode(form).encode(),
            headers={"Cookie": cookie},
        )
        well_inside_a_window(15 * 60)
        statuses = at_once(10, lambda: fetch(request)[0])
        assert sorted(statuses) == [200] * 5 + [429] * 5  # five wrong passwords, then refusals
        assert fetch(request)[0] == 429
