"""Metrics at /metrics: requests, latency, 429s, database errors, the data gauges; who may read."""

import os
import re
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
import requests
import sqlalchemy as sa
from conftest import BACKENDS
from ops_support import (
    app_on,
    ops_database,
    requests_counted,
    samples,
    scrape,
    unreachable_url,
)
from servers import app_environment, gunicorn

from stations.core.db import db
from stations.core.models import Report, Station
from stations.ops.metrics import allowed_networks

NEAREST = "/api/v1/stations/nearest?lat=22.5431&lng=114.0579"


def test_requests_are_counted_by_endpoint_and_status(client):
    before = scrape(client)
    for url in (NEAREST, NEAREST, "/api/v1/stations/nearest?lat=x&lng=1", "/api/v1/nope"):
        client.get(url)
    after = scrape(client)
    for endpoint, status, added in [("api.nearest", 200, 2), ("api.nearest", 400, 1)]:
        counted = requests_counted(after, endpoint, status) - requests_counted(
            before, endpoint, status
        )
        assert counted == added, (endpoint, status)
    assert requests_counted(after, "none", 404) - requests_counted(before, "none", 404) == 1
    latency = ("stations_http_request_duration_seconds_count", (("endpoint", "api.nearest"),))
    assert after[latency] - before.get(latency, 0) == 3
    # Every request of the four fits in the +Inf bucket, and the sum of their times is positive.
    buckets = ("stations_http_request_duration_seconds_bucket",)
    inf = (*buckets, (("endpoint", "api.nearest"), ("le", "+Inf")))
    assert after[inf] == after[latency]
    assert after[("stations_http_request_duration_seconds_sum", (("endpoint", "api.nearest"),))] > 0


def test_refusals_by_rate_limit_are_counted(client, sample_app, monkeypatch):
    monkeypatch.setitem(sample_app.config, "API_LIMIT_PER_IP", "2 per minute")
    key = ("stations_rate_limited_total", (("endpoint", "api.nearest"),))
    before = scrape(client).get(key, 0)
    statuses = [client.get(NEAREST).status_code for _ in range(4)]
    assert statuses == [200, 200, 429, 429]
    assert scrape(client)[key] - before == 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_database_errors_are_counted(client, backend, tmp_path):
    key = ("stations_database_errors_total", (("error", "OperationalError"),))
    before = scrape(client).get(key, 0)
    with app_on(unreachable_url(backend, tmp_path)) as broken:
        response = broken.test_client().get("/api/v1/stations/1")
    assert response.status_code == 503  # unavailable, not broken: see tests/ops/test_faults.py
    assert response.mimetype == "application/problem+json"
    assert response.headers["Retry-After"] == "5"
    assert scrape(client)[key] - before == 1


def test_gauges_show_the_data(client, sample_app):
    db.session.add(Report(station_id=1, reason="no_water", text=""))
    db.session.commit()
    found = scrape(client)
    by_kind_status = db.session.execute(
        sa.select(Station.kind, Station.status, sa.func.count()).group_by(
            Station.kind, Station.status
        )
    ).all()
    assert len(by_kind_status) > 1
    for kind, status, count in by_kind_status:
        labels = (("kind", kind), ("status", status))
        assert found[("stations_stations", labels)] == count
    open_reports = db.session.scalar(sa.select(sa.func.count()).where(Report.resolved_at.is_(None)))
    assert found[("stations_open_reports", ())] == open_reports >= 1
    oldest = db.session.scalar(
        sa.select(sa.func.min(Station.created_at)).where(Station.verified_at.is_(None))
    )
    age_s = (datetime.now(UTC) - oldest).total_seconds()
    assert abs(found[("stations_oldest_unverified_age_seconds", ())] - age_s) < 5


def test_oldest_unverified_age_is_zero_when_all_are_verified(client):
    db.session.execute(sa.update(Station).values(verified_at=datetime.now(UTC)))
    db.session.commit()
    assert scrape(client)[("stations_oldest_unverified_age_seconds", ())] == 0


@pytest.mark.parametrize(
    ("address", "allow_from", "status"),
    [
        ("127.0.0.1", "", 200),
        ("127.8.9.10", "", 200),
        ("::1", "", 200),
        ("::ffff:127.0.0.1", "", 200),
        ("10.1.2.3", "", 404),
        ("10.1.2.3", "10.0.0.0/8", 200),
        ("192.168.1.5", "10.0.0.0/8, 192.168.1.0/24", 200),
        ("172.16.0.1", "10.0.0.0/8,192.168.1.0/24", 404),
        ("2001:db8::5", "2001:db8::/32", 200),
        ("2001:db9::5", "2001:db8::/32", 404),
    ],
)
def test_metrics_only_for_loopback_and_allowed_networks(
    sample_database, address, allow_from, status
):
    url = sample_database.config["SQLALCHEMY_DATABASE_URI"]
    with app_on(url, METRICS_ALLOW_FROM=allow_from) as app:
        response = app.test_client().get("/metrics", environ_base={"REMOTE_ADDR": address})
    assert response.status_code == status
    if status == 200:
        assert response.mimetype == "text/plain"
        assert ("stations_open_reports", ()) in samples(response.text)
    else:
        assert "stations_" not in response.text


def test_behind_a_proxy_the_forwarded_address_decides(sample_database, monkeypatch):
    monkeypatch.setenv("TRUSTED_PROXIES", "1")
    url = sample_database.config["SQLALCHEMY_DATABASE_URI"]
    with app_on(url, METRICS_ALLOW_FROM="10.0.0.0/8") as app:
        client = app.test_client()
        for forwarded, status in [("203.0.113.9", 404), ("10.9.9.9", 200), ("127.0.0.1", 200)]:
            headers = {"X-Forwarded-For": forwarded}
            assert client.get("/metrics", headers=headers).status_code == status, forwarded


@pytest.mark.parametrize("allow_from", ["10.0.0.0/33", "not a network", "10.0.0.1/8"])
def test_bad_allow_lists_stop_the_app(allow_from):
    with pytest.raises(ValueError, match="METRICS_ALLOW_FROM"):
        allowed_networks(allow_from)


@pytest.fixture(scope="module", params=BACKENDS)
def served_database(request, tmp_path_factory):
    return ops_database(request.param, tmp_path_factory, "_ops_metrics")


def _worker_pids(directory):
    """The processes that have counted something into the metrics directory."""
    return {
        int(m.group(1)) for f in directory.iterdir() if (m := re.search(r"_(\d+)\.db$", f.name))
    }


def _scrape_over_http(base):
    response = requests.get(base + "/metrics", timeout=10)
    assert response.status_code == 200
    return samples(response.text)


def test_gunicorn_workers_counts_are_summed(served_database, tmp_path):
    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "counter_999999.db").write_bytes(b"left by a server before")
    env = app_environment(DATABASE_URL=served_database.url, PROMETHEUS_MULTIPROC_DIR=str(directory))
    with gunicorn(env, workers=2) as base:
        assert not (directory / "counter_999999.db").exists()  # cleaned on start
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: requests.get(base + NEAREST, timeout=30), range(60)))
        assert [answer.status_code for answer in answers] == [200] * 60
        workers = _worker_pids(directory)
        assert len(workers) == 2  # both workers counted some
        for _ in range(4):  # whichever worker answers, it shows the sum of both
            assert requests_counted(_scrape_over_http(base), "api.nearest", 200) == 60
        os.kill(min(workers), signal.SIGTERM)  # gunicorn replaces the worker: its counts stay
        deadline = time.monotonic() + 20
        while _worker_pids(directory) == workers and time.monotonic() < deadline:
            requests.get(base + NEAREST, timeout=30)
        found = _scrape_over_http(base)
    added = len(_worker_pids(directory) - workers)
    assert added == 1
    assert requests_counted(found, "api.nearest", 200) > 60
    assert ("stations_open_reports", ()) in found
