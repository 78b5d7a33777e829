"""Faults on real services, through gunicorn with two workers on loopback, each bounded in time:
PostgreSQL restarted, Redis stopped and started, a worker killed, a SQLite disk full or
read-only. Whatever happens, no caller waits past CLIENT_TIMEOUT_S, none gets a 500 or an HTML
page from the API, and everything answers 200 again once the fault is gone."""

import os
import re
import secrets
import signal
import subprocess
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import redis
import requests
from conftest import BACKENDS
from ops_support import CHEAP_HASH, app_on, ops_database, samples
from pg_servers import own_postgres
from servers import app_environment, gunicorn, own_redis_server
from support import PASSWORD, csrf_token, make_user

from stations.cli import SAMPLE_FILE
from stations.core.db import db
from stations.core.importer import import_stations
from stations.core.models import Station

CLIENT_TIMEOUT_S = 10  # no answer may take longer: a hang is a failure
NEAREST = "/api/v1/stations/nearest?lat=22.5431&lng=114.0579&limit=5"
STATION = "/api/v1/stations/1"
READY = "/api/v1/ready"
PROBLEM = "application/problem+json"


@dataclass
class Answer:
    """One request of a client: when it started (time.monotonic()), how long it took, and what
    came back (`error` when nothing did: a reset, a refused connection, a timeout)."""

    path: str
    started: float
    elapsed_s: float
    status: int | None = None
    mimetype: str = ""
    retry_after: str | None = None
    body: object = None
    error: str | None = None


def ask(base, path, method="GET", session=None, **options):
    """An Answer to one request (redirects not followed)."""
    started = time.monotonic()
    send = (session or requests).request
    try:
        reply = send(
            method, base + path, timeout=CLIENT_TIMEOUT_S, allow_redirects=False, **options
        )
    except requests.RequestException as error:
        return Answer(path, started, time.monotonic() - started, error=repr(error))
    mimetype = reply.headers.get("Content-Type", "").split(";")[0]
    body = reply.json() if mimetype.endswith("json") else reply.text
    return Answer(
        path,
        started,
        time.monotonic() - started,
        reply.status_code,
        mimetype,
        reply.headers.get("Retry-After"),
        body,
    )


class Load:
    """Client threads asking for `paths` in turn, one request at a time each, until stopped."""

    def __init__(self, base, paths, threads=3):
        self.base, self.paths = base, paths
        self.answers = []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(n,)) for n in range(threads)]

    def _run(self, offset):
        turn = offset
        while not self.stopping.is_set():
            self.answers.append(ask(self.base, self.paths[turn % len(self.paths)]))
            turn += 1

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stopping.set()
        for thread in self.threads:
            thread.join(CLIENT_TIMEOUT_S + 5)
        assert not any(thread.is_alive() for thread in self.threads), "a client hangs"

    def between(self, start, end):
        """The answers to requests that began at or after `start` and ended before `end`."""
        return [a for a in self.answers if a.started >= start and a.started + a.elapsed_s < end]


def assert_unavailable(answer, retry_after):
    """A 503 problem+json, with Retry-After and the request's id."""
    assert (answer.status, answer.mimetype) == (503, PROBLEM), answer
    assert answer.retry_after == retry_after, answer
    assert answer.body["status"] == 503 and answer.body["request_id"], answer
    assert answer.body["title"] == "Service Unavailable", answer


def assert_all_answered(answers):
    """Every request got an answer in time, none a 500."""
    assert answers
    assert [a for a in answers if a.error] == []
    assert max(a.elapsed_s for a in answers) < CLIENT_TIMEOUT_S
    assert [a for a in answers if a.status not in (200, 503)] == []


def workers_of(base):
    """The pids of the gunicorn workers serving `base` (the master's children)."""
    bound = "127.0.0.1:" + base.rsplit(":", 1)[1]
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError):
            continue  # not a process, or gone meanwhile
        if "gunicorn" in str(command) and bound.encode() in command:
            found[int(entry.name)] = parent
    return {pid for pid, parent in found.items() if parent in found}


def until(condition, timeout_s, every_s=0.1):
    """Wait for condition() to be true; whether it became so in time."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every_s)
    return condition()


def served_env(url, **settings):
    """An app server's environment on the database at `url`, with no rate limit."""
    defaults = {"SECRET_KEY": secrets.token_hex(32), "RATELIMIT_ENABLED": "false"}
    return app_environment(DATABASE_URL=url, **(defaults | settings))


def database_errors(base):
    """stations_database_errors_total, every class summed, as /metrics shows it."""
    found = samples(requests.get(base + "/metrics", timeout=CLIENT_TIMEOUT_S).text)
    return sum(v for (name, _), v in found.items() if name == "stations_database_errors_total")


# PostgreSQL restarted under load: a server of the test's own, never the shared one.

BACK_WITHIN_S = 5


def sample_on(server):
    """A database with PostGIS, the migrations and the sample, on a PostgresServer: its URL."""
    admin = server.url().replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute("CREATE DATABASE stations")
    url = server.url("stations")
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as connection:
        connection.execute("CREATE EXTENSION postgis")
    from flask_migrate import upgrade

    with app_on(url) as app, app.app_context():
        upgrade()
        import_stations(SAMPLE_FILE, is_sample=True)
        db.session.commit()
    return url


def test_a_postgresql_restart_under_load_is_503_then_200_again(tmp_path):
    with own_postgres(tmp_path) as server:
        url = sample_on(server)
        with gunicorn(served_env(url), tmp_path / "gunicorn.log", workers=2) as base:
            workers = workers_of(base)
            assert len(workers) == 2
            with Load(base, (NEAREST, STATION, READY)) as load:
                time.sleep(1)
                server.stop("fast")
                down_at = time.monotonic()
                time.sleep(2)
                ready = ask(base, READY)
                returning_at = time.monotonic()
                server.start()
                back_at = time.monotonic()
                time.sleep(BACK_WITHIN_S + 1.5)
            after = [ask(base, path) for path in (NEAREST, STATION, READY)]
            errors = database_errors(base)
            assert workers_of(base) == workers  # no worker was restarted, nor timed out
    assert_all_answered(load.answers)
    before = load.between(0, down_at - 0.5)
    assert before and {a.status for a in before} == {200}
    outage = load.between(down_at, returning_at)
    assert {a.path for a in outage} == {NEAREST, STATION, READY}
    for answer in outage:
        assert_unavailable(answer, "5")
    assert_unavailable(ready, "5")
    assert ready.body["checks"] == {"database": "unreachable", "schema": "unchecked"}
    late = load.between(back_at + BACK_WITHIN_S, float("inf"))
    assert {a.path for a in late} == {NEAREST, STATION, READY}
    assert [a for a in late if a.status != 200] == []
    assert [a.status for a in after] == [200, 200, 200]
    assert after[2].body["checks"] == {"database": "ok", "schema": "ok"}
    assert errors >= len(outage)  # counted (the outage's requests, and any of the ping)
