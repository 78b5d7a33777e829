"""API keys: the commands, the stored form, 401s, and use counted without a write per request."""

import re

import pytest
import sqlalchemy as sa
from support import statements_run

from stations.api import keys
from stations.core.db import db
from stations.core.models import ApiKey

HEALTHLESS = "/api/v1/stations/1"


@pytest.fixture(autouse=True)
def fresh_usage(sample_app):
    """No use counts or remembered keys left over from other tests (ids are reused)."""
    sample_app.extensions["stations.key_usage"] = keys._Usage()
    sample_app.extensions["stations.key_cache"].clear()
    return sample_app


def test_create_key_stores_only_a_hash(sample_app):
    key, token = keys.create_key("美团骑手App", per_minute=300)
    assert re.fullmatch(r"rsk_[A-Za-z0-9_-]{43}", token)
    assert key.prefix == token[:12] and key.key_hash == keys.hash_token(token)
    stored = db.session.execute(sa.select(ApiKey.__table__)).one()
    assert token not in [str(value) for value in stored]
    assert keys.key_for_token(token).id == key.id and keys.key_for_token(token + "x") is None


@pytest.mark.parametrize(("name", "per_minute"), [("", 60), ("  ", 60), ("x" * 101, 60), ("a", 0)])
def test_create_key_refuses_bad_values(sample_app, name, per_minute):
    with pytest.raises(ValueError):
        keys.create_key(name, per_minute=per_minute)


def test_cli_creates_lists_and_revokes(sample_app):
    runner = sample_app.test_cli_runner()
    created = runner.invoke(args=["create-api-key", "饿了么", "--per-minute", "90"])
    assert created.exit_code == 0, created.output
    token = re.search(r"^(rsk_\S+)$", created.output, re.M).group(1)
    assert "90 requests a minute" in created.output
    assert "cannot be shown again" in created.output
    listed = runner.invoke(args=["list-api-keys"])
    assert "饿了么" in listed.output and token[:12] in listed.output and token not in listed.output
    assert "active" in listed.output and "never" in listed.output
    revoked = runner.invoke(args=["revoke-api-key", token[:12]])
    assert revoked.exit_code == 0 and "Revoked" in revoked.output
    assert "revoked" in runner.invoke(args=["list-api-keys"]).output
    unknown = runner.invoke(args=["revoke-api-key", "rsk_nothere"])
    assert unknown.exit_code != 0 and "No single API key" in unknown.output


@pytest.mark.parametrize(
    "args",
    [["create-api-key", "x", "--per-minute", "0"], ["create-api-key", " "], ["create-api-key"]],
)
def test_cli_refuses_bad_input(sample_app, args):
    assert sample_app.test_cli_runner().invoke(args=args).exit_code == 2


@pytest.mark.parametrize("how", ["x-api-key", "bearer"])
def test_a_key_works_in_either_header(client, how):
    _, token = keys.create_key("partner")
    headers = {"X-API-Key": token} if how == "x-api-key" else {"Authorization": f"Bearer {token}"}
    response = client.get(HEALTHLESS, headers=headers)
    assert response.status_code == 200
    assert response.headers["RateLimit-Limit"] == str(keys.DEFAULT_PER_MINUTE)


@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-Key": "rsk_not-a-key"},
        {"X-API-Key": ""},
        {"Authorization": "Bearer rsk_not-a-key"},
        {"Authorization": "bearer "},
    ],
)
def test_unknown_keys_are_refused(client, headers):
    response = client.get(HEALTHLESS, headers=headers)
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["title"] == "Unauthorized"
    assert "not known" in response.get_json()["detail"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.headers["Cache-Control"] == "no-store"


def test_other_authorization_schemes_are_anonymous(client):
    response = client.get(HEALTHLESS, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert response.status_code == 200


def test_a_revoked_key_is_refused(client):
    key, token = keys.create_key("old partner")
    assert client.get(HEALTHLESS, headers={"X-API-Key": token}).status_code == 200
    keys.revoke_key(key.id)
    response = client.get(HEALTHLESS, headers={"X-API-Key": token})
    assert response.status_code == 401
    assert (
        "revoked" in response.get_json()["detail"] and key.prefix in response.get_json()["detail"]
    )


def test_use_is_counted_and_written_in_batches(client):
    key, token = keys.create_key("busy partner")
    with statements_run(db.session.connection()) as seen:
        for _ in range(25):
            assert client.get(HEALTHLESS, headers={"X-API-Key": token}).status_code == 200
    updates = [statement for statement, _ in seen if statement.startswith("UPDATE api_key")]
    assert len(updates) == 1  # the first use; the rest wait API_KEY_USAGE_FLUSH_S
    [usage] = keys.key_usage()
    assert usage["request_count"] == 25 and usage["last_used_at"] is not None
    assert usage["name"] == "busy partner" and usage["revoked_at"] is None


def test_use_is_written_when_due(sample_app, client, monkeypatch):
    monkeypatch.setitem(sample_app.config, "API_KEY_USAGE_FLUSH_S", 0)
    key, token = keys.create_key("partner")
    for _ in range(3):
        client.get(HEALTHLESS, headers={"X-API-Key": token})
    db.session.refresh(key)
    assert key.request_count == 3


def test_use_the_database_cannot_take_now_is_written_later(sample_app, client, monkeypatch):
    monkeypatch.setitem(sample_app.config, "API_KEY_USAGE_FLUSH_S", 0)
    key, token = keys.create_key("partner")
    execute, failures = db.session.execute, ["database is locked"]

    def busy_once(statement, *args, **kwargs):
        if failures and isinstance(statement, sa.Update):
            raise sa.exc.OperationalError("UPDATE api_key", {}, Exception(failures.pop()))
        return execute(statement, *args, **kwargs)

    monkeypatch.setattr(db.session, "execute", busy_once)
    statuses = [client.get(HEALTHLESS, headers={"X-API-Key": token}).status_code for _ in range(3)]
    assert statuses == [200, 200, 200] and not failures
    db.session.refresh(key)
    assert key.request_count == 3


def test_revoke_is_idempotent_and_by_id_or_prefix(sample_app):
    key, _ = keys.create_key("p")
    first = keys.revoke_key(str(key.id)).revoked_at
    assert keys.revoke_key(key.prefix).revoked_at == first
    assert keys.revoke_key("999999") is None and keys.revoke_key("9" * 30) is None


def test_a_known_key_is_looked_up_once_a_while(client, sample_app, monkeypatch):
    key, token = keys.create_key("busy partner")
    with statements_run(db.session.connection()) as seen:
        for _ in range(5):
            assert client.get(HEALTHLESS, headers={"X-API-Key": token}).status_code == 200
        # Revoked by another process (the CLI): this one learns it when its memory expires.
        db.session.execute(sa.update(ApiKey).values(revoked_at=sa.func.now()))
        db.session.commit()
        assert client.get(HEALTHLESS, headers={"X-API-Key": token}).status_code == 200
        later = keys.time.monotonic() + sample_app.config["API_KEY_CACHE_S"] + 1
        monkeypatch.setattr(keys.time, "monotonic", lambda: later)
        assert client.get(HEALTHLESS, headers={"X-API-Key": token}).status_code == 401
    lookups = [s for s, _ in seen if s.startswith("SELECT") and "FROM api_key" in s]
    assert len(lookups) == 2
