"""Helpers for the operations tests: apps of their own on a given database, metric samples."""

from contextlib import contextmanager

from conftest import UNLIMITED_API
from prometheus_client.parser import text_string_to_metric_families
from servers import free_port

from stations import create_app
from stations.core.db import db


@contextmanager
def app_on(url, **config):
    """An app of its own on the database at `url` (its connections closed afterwards)."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url} | UNLIMITED_API | config)
    try:
        yield app
    finally:
        with app.app_context():
            db.engine.dispose()


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
