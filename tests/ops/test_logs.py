"""Request ids, and logs: one JSON line per request and per event with LOG_FORMAT=json, in the
app and under gunicorn, with no password, API key, session or CSRF token in any of them."""

import json
import logging
import re

import pytest
import requests
import sqlalchemy as sa
from conftest import BACKENDS
from ops_support import CHEAP_HASH, app_on, ops_database
from servers import app_environment, gunicorn
from support import PASSWORD, browser, csrf_token, post

from stations.api.keys import flush_usage
from stations.core.db import db
from stations.core.models import User

NEAREST = "/api/v1/stations/nearest?lat=22.5431&lng=114.0579"
REQUEST_FIELDS = {"time", "level", "request_id", "method", "path", "status", "duration_ms"}
REQUEST_FIELDS |= {"client", "user_id", "api_key_id"}


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("abc-123", True),
        ("1-5f84c7a1.trace_9", True),
        ("Root=1-5f84c7a1", False),
        ("a" * 64, True),
        ("a" * 65, False),
        ("two words", False),
        ("<script>", False),
        ("id;drop", False),
        ("", False),
        (None, False),
    ],
)
def test_request_ids_are_kept_when_sane_else_made(client, sent, kept):
    headers = {} if sent is None else {"X-Request-ID": sent}
    for url in ("/api/v1/health", "/api/v1/nope", "/"):
        response = client.get(url, headers=headers)
        echoed = response.headers["X-Request-ID"]
        assert echoed == sent if kept else re.fullmatch(r"[0-9a-f]{32}", echoed), url
        if response.mimetype == "application/problem+json":
            assert response.json["request_id"] == echoed


def test_each_request_gets_its_own_id(client):
    ids = {client.get("/api/v1/health").headers["X-Request-ID"] for _ in range(5)}
    assert len(ids) == 5


def test_problems_carry_the_request_id(client):
    response = client.get("/api/v1/stations/nearest?lat=x", headers={"X-Request-ID": "r-1"})
    assert response.status_code == 400
    assert response.json["request_id"] == "r-1"


@pytest.fixture(scope="module", params=BACKENDS)
def served_database(request, tmp_path_factory):
    return ops_database(request.param, tmp_path_factory, "_ops_logs")


@pytest.fixture
def json_logs(capsys):
    """What the app writes to standard error; the logging setup is put back afterwards."""
    root, stations = logging.getLogger(), logging.getLogger("stations")
    saved = list(root.handlers), list(stations.handlers), stations.level
    # Only the app's handlers: running the migrations (alembic.ini) gave the root one of its own.
    root.handlers[:] = []
    yield capsys
    root.handlers[:], stations.handlers[:] = saved[0], saved[1]
    stations.setLevel(saved[2])


def _secrets_of(database, *more):
    """Every secret the requests used: the password, the API key, the session token."""
    with app_on(database.url) as app, app.app_context():
        session_token = db.session.scalar(
            sa.select(User.session_token).where(User.id == database.user_id)
        )
    return [PASSWORD, database.token, session_token, *more]


def _lines(text):
    """Each non-empty line parsed as JSON (failing on one that is not)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _request_lines(lines):
    return [line for line in lines if line["logger"] == "stations.request"]


def test_json_lines_in_the_app_hold_no_secret(served_database, json_logs):
    with app_on(served_database.url, LOG_FORMAT="json", **CHEAP_HASH) as app:
        # Each request in an app context of its own, as a server gives it (and so a `g`).
        manager = browser(app, User(email=served_database.email))  # logs in with the password
        assert manager.get("/manage/").status_code == 200
        csrf = manager.csrf
        session_cookie = manager.get_cookie("session").value
        assert post(manager, "/logout").status_code == 302
        api = app.test_client()
        token = served_database.token
        assert api.get(NEAREST, headers={"X-API-Key": token}).status_code == 200
        bearer = {"Authorization": f"Bearer {token}", "X-Request-ID": "mine"}
        assert api.get(NEAREST, headers=bearer).status_code == 200
        assert api.get(NEAREST, headers={"X-API-Key": token + "x"}).status_code == 401
        for probe in ("/api/v1/health", "/api/v1/ready", "/metrics"):  # not logged: probes
            assert api.get(probe).status_code == 200
        with app.app_context():
            flush_usage(force=True)  # now, not at exit, when this app's database is closed
    text = json_logs.readouterr().err
    for secret in _secrets_of(served_database, csrf, session_cookie, token + "x"):
        assert secret not in text
    lines = _request_lines(_lines(text))
    assert [(line["method"], line["path"], line["status"]) for line in lines] == [
        ("GET", "/login", 200),
        ("POST", "/login", 302),
        ("GET", "/manage/", 200),
        ("GET", "/manage/", 200),
        ("POST", "/logout", 302),
        ("GET", "/api/v1/stations/nearest", 200),
        ("GET", "/api/v1/stations/nearest", 200),
        ("GET", "/api/v1/stations/nearest", 401),
    ]
    for line in lines:
        assert REQUEST_FIELDS <= set(line), line
        assert line["client"] == "127.0.0.1" and line["duration_ms"] >= 0
    user_id, key_id = served_database.user_id, served_database.key_id
    assert [line["user_id"] for line in lines] == [None, user_id, user_id, user_id, user_id] + [
        None
    ] * 3
    assert [line["api_key_id"] for line in lines] == [None] * 5 + [key_id, key_id, None]
    assert lines[6]["request_id"] == "mine"


def test_app_events_are_json_lines_with_the_request_id(sample_database, json_logs):
    url = sample_database.config["SQLALCHEMY_DATABASE_URI"]
    with app_on(url, LOG_FORMAT="json") as app:

        @app.get("/boom")
        def boom():
            app.logger.warning("about to fail")
            raise RuntimeError("boom")

        response = app.test_client().get("/boom", headers={"X-Request-ID": "ev-1"})
    assert response.status_code == 500
    lines = _lines(json_logs.readouterr().err)
    events = [line for line in lines if line["logger"] == "stations"]
    assert [(line["level"], line["request_id"]) for line in events] == [
        ("WARNING", "ev-1"),
        ("ERROR", "ev-1"),
    ]
    assert "RuntimeError: boom" in events[1]["exception"]
    assert _request_lines(lines)[0]["status"] == 500


def test_text_is_the_default(sample_database, json_logs):
    url = sample_database.config["SQLALCHEMY_DATABASE_URI"]
    with app_on(url) as app:
        app.test_client().get(NEAREST)
    assert json_logs.readouterr().err == ""


def test_unknown_log_formats_stop_the_app(sample_database):
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        app_on(sample_database.config["SQLALCHEMY_DATABASE_URI"], LOG_FORMAT="xml").__enter__()


def _browse(base, database):
    """Log in with the password, use a form, call the API with the key: what a day sends."""
    secrets = []
    with requests.Session() as person:
        login = person.get(base + "/login", timeout=10)
        secrets.append(csrf_token(login.text))
        form = {"email": database.email, "password": PASSWORD, "csrf_token": secrets[-1]}
        answer = person.post(base + "/login", data=form, allow_redirects=False, timeout=10)
        assert answer.status_code == 302, answer.text
        secrets.append(person.cookies["session"])
        page = person.get(base + "/manage/", timeout=10)
        secrets.append(csrf_token(page.text))
        answer = person.post(
            base + "/logout", data={"csrf_token": secrets[-1]}, allow_redirects=False, timeout=10
        )
        assert answer.status_code == 302
    for headers in ({"X-API-Key": database.token}, {"Authorization": f"Bearer {database.token}"}):
        assert requests.get(base + NEAREST, headers=headers, timeout=10).status_code == 200
    for probe in ("/api/v1/health", "/api/v1/ready", "/metrics"):
        assert requests.get(base + probe, timeout=10).status_code == 200
    return secrets


def test_json_lines_under_gunicorn_hold_no_secret(served_database, tmp_path):
    log_path = tmp_path / "gunicorn.log"
    env = app_environment(DATABASE_URL=served_database.url, LOG_FORMAT="json")
    with gunicorn(env, log_path, workers=2) as base:
        secrets = _browse(base, served_database)
    text = log_path.read_text()
    for secret in _secrets_of(served_database, *secrets):
        assert secret not in text
    lines = _lines(text)  # every line, gunicorn's own included
    assert {"gunicorn.error", "stations.request"} <= {line["logger"] for line in lines}
    logged = _request_lines(lines)
    paths = [line["path"] for line in logged]
    assert paths.count("/api/v1/stations/nearest") == 2 and "/login" in paths
    assert not {"/api/v1/health", "/api/v1/ready", "/metrics"} & set(paths)
    assert all(REQUEST_FIELDS <= set(line) for line in logged)
    assert {line["api_key_id"] for line in logged} == {None, served_database.key_id}


def test_gunicorn_text_access_log_leaves_probes_out(served_database, tmp_path):
    log_path = tmp_path / "gunicorn.log"
    with gunicorn(app_environment(DATABASE_URL=served_database.url), log_path) as base:
        for path in (NEAREST, "/api/v1/health", "/api/v1/ready", "/metrics"):
            assert requests.get(base + path, timeout=10).status_code == 200
    text = log_path.read_text()
    assert '"GET /api/v1/stations/nearest?lat=' in text
    assert "/api/v1/health" not in text.replace("/api/v1/health answers", "")
    assert "/api/v1/ready" not in text and "/metrics" not in text
