"""Readiness (/api/v1/ready): the database, its schema, and Redis when configured."""

import pytest
import sqlalchemy as sa
from conftest import BACKENDS, _postgis_url
from flask_migrate import downgrade, upgrade
from ops_support import app_on, unreachable_url
from servers import TEST_REDIS_URL, free_port, redis_or_skip

from stations.core.db import db
from stations.ops.readiness import migrations

READY = {"status": "ready", "checks": {"database": "ok", "schema": "ok"}}


def test_ready_when_the_database_is_at_the_latest_migration(client):
    response = client.get("/api/v1/ready")
    assert response.status_code == 200
    assert response.json == READY
    assert response.headers["Cache-Control"] == "no-store"


def test_the_migrations_have_one_head():
    shipped = migrations()
    assert len(shipped.heads) == 1 and shipped.heads < shipped.known


def test_ready_is_never_rate_limited(client, sample_app, monkeypatch):
    monkeypatch.setitem(sample_app.config, "API_LIMIT_PER_IP", "1 per minute")
    for _ in range(3):
        response = client.get("/api/v1/ready")
        assert response.status_code == 200
        assert "RateLimit-Limit" not in response.headers
    assert client.get("/api/v1/stations/1").status_code in (200, 404)
    assert client.get("/api/v1/stations/1").status_code == 429  # the API's limit does hold


def _throwaway_url(backend, tmp_path):
    if backend == "sqlite":
        return "sqlite:///" + str(tmp_path / "throwaway.sqlite")
    return _postgis_url("_ops_ready")


def _not_ready(response, checks):
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.headers["Retry-After"] == "5"
    body = response.json
    failed = [f"{name}: {state}" for name, state in checks.items() if state != "ok"]
    assert body["detail"] == "; ".join(state for state in failed if "unchecked" not in state)
    assert body["checks"] == checks
    assert body["request_id"] == response.headers["X-Request-ID"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_not_ready_when_the_database_does_not_answer(backend, tmp_path):
    with app_on(unreachable_url(backend, tmp_path)) as app:
        response = app.test_client().get("/api/v1/ready")
        assert app.test_client().get("/api/v1/health").status_code == 200  # alive all the same
    _not_ready(response, {"database": "unreachable", "schema": "unchecked"})
    assert response.json["detail"] == "database: unreachable"


@pytest.mark.parametrize("backend", BACKENDS)
def test_ready_follows_the_schema(backend, tmp_path):
    with app_on(_throwaway_url(backend, tmp_path)) as app:
        client = app.test_client()
        _not_ready(client.get("/api/v1/ready"), {"database": "ok", "schema": "missing"})
        with app.app_context():
            upgrade()
        assert client.get("/api/v1/ready").json == READY
        with app.app_context():
            downgrade()  # one step
        _not_ready(client.get("/api/v1/ready"), {"database": "ok", "schema": "behind"})
        with app.app_context():
            upgrade()
        assert client.get("/api/v1/ready").status_code == 200
        with app.app_context():  # as if newer code had migrated it further
            db.session.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
            db.session.commit()
        _not_ready(client.get("/api/v1/ready"), {"database": "ok", "schema": "ahead"})


@pytest.mark.parametrize(
    ("redis_url", "status", "state"),
    [
        (TEST_REDIS_URL, 200, "ok"),
        (f"redis://127.0.0.1:{free_port()}/0", 503, "unreachable"),
    ],
)
def test_ready_checks_redis_when_configured(sample_database, redis_url, status, state):
    if state == "ok":
        redis_or_skip(redis_url)
    url = sample_database.config["SQLALCHEMY_DATABASE_URI"]
    with app_on(url, REDIS_URL=redis_url) as app:
        response = app.test_client().get("/api/v1/ready")
    checks = {"database": "ok", "schema": "ok", "redis": state}
    if status == 200:
        assert response.status_code == 200
        assert response.json == {"status": "ready", "checks": checks}
    else:
        _not_ready(response, checks)
        assert response.json["detail"] == "redis: unreachable"
