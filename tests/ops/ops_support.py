"""Helpers for the operations tests: apps of their own on a given database, metric samples."""

from contextlib import contextmanager
from dataclasses import dataclass

from conftest import UNLIMITED_API, _postgis_url
from flask_migrate import upgrade
from prometheus_client.parser import text_string_to_metric_families
from servers import free_port
from support import make_user

from stations import create_app
from stations.api.keys import create_key
from stations.cli import SAMPLE_FILE
from stations.core.db import db
from stations.core.importer import import_stations

# A cheap password hash keeps the logins fast; production uses scrypt.
CHEAP_HASH = {"PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"}


@contextmanager
def app_on(url, **config):
    """An app of its own on the database at `url` (its connections closed afterwards)."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url} | UNLIMITED_API | config)
    try:
        yield app
    finally:
        with app.app_context():
            db.engine.dispose()


@dataclass
class OpsDatabase:
    """A committed database of the tests' own: its URL, a manager's email and id, an API key."""

    url: str
    email: str
    token: str
    key_id: int
    user_id: int


def ops_database(backend, tmp_path_factory, suffix):
    """A database of its own with the sample, a manager (password support.PASSWORD) and an
    API key, for servers to serve (the tests' rolled-back transactions cannot be shared)."""
    if backend == "sqlite":
        url = "sqlite:///" + str(tmp_path_factory.mktemp("ops") / f"ops{suffix}.sqlite")
    else:
        url = _postgis_url(suffix)
    with app_on(url, **CHEAP_HASH) as app, app.app_context():
        upgrade()
        import_stations(SAMPLE_FILE, is_sample=True)
        user = make_user("logged@example.org", "manager")
        key, token = create_key("日志测试")
        db.session.commit()
        return OpsDatabase(url, user.email, token, key.id, user.id)


def unreachable_url(backend, tmp_path):
    """A database URL on which nothing answers: a SQLite file in no folder, a closed port."""
    if backend == "sqlite":
        return "sqlite:///" + str(tmp_path / "no such folder" / "x.sqlite")
    return f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/stations"


def samples(text):
    """{(name, sorted label items): value} of every sample in Prometheus text."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client):
    """The samples /metrics shows this client (from loopback)."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    return samples(response.text)


def requests_counted(found, endpoint, status):
    """stations_http_requests_total for one endpoint and status (0 when not yet seen)."""
    key = ("stations_http_requests_total", (("endpoint", endpoint), ("status", str(status))))
    return found.get(key, 0)
