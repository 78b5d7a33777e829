"""Helpers for the account, manager and admin tests: people, stations, logged-in clients."""

import re
from contextlib import contextmanager
from dataclasses import dataclass
from unittest.mock import patch

import sqlalchemy as sa

from stations.core.accounts import create_user
from stations.core.db import DriverStatement, db
from stations.core.districts import district_at
from stations.core.models import Report, Station, User

PASSWORD = "correct horse battery"
ROLES = ("anonymous", "manager_a", "manager_b", "admin")
FUTIAN = {"lat": 22.5431, "lng": 114.0579}  # WGS-84
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def make_station(external_id, *, lat=FUTIAN["lat"], lng=FUTIAN["lng"], **fields):
    """A committed station (warm station, open, hours 08:00-20:00 unless told otherwise)."""
    values = {"kind": "warm_station", "name": f"驿站 {external_id}", "status": "open"}
    values |= {"district": district_at(lat=lat, lng=lng)}
    values |= {"opening_hours": "Mo-Su 08:00-20:00", "drinking_water": True}
    station = Station(external_id=external_id, lat=lat, lng=lng, **(values | fields))
    db.session.add(station)
    db.session.commit()
    return station


def make_user(email, role, stations=()):
    user = create_user(
        email, role=role, password=PASSWORD, stations=stations, actor=None, source="cli"
    )
    db.session.commit()
    return user


@dataclass
class World:
    a: Station
    b: Station
    manager_a: User
    manager_b: User
    admin: User
    report: Report

    def user(self, role):
        return None if role == "anonymous" else getattr(self, role)


def make_world():
    a = make_station("A", lat=22.5431, lng=114.0579)
    b = make_station("B", lat=22.5531, lng=114.0679)  # about 1.5 km from A
    manager_a = make_user("a@example.org", "manager", [a])
    manager_b = make_user("b@example.org", "manager", [b])
    admin = make_user("admin@example.org", "admin")
    report = Report(station_id=a.id, reason="no_water", text="没水了")
    db.session.add(report)
    db.session.commit()
    return World(a, b, manager_a, manager_b, admin, report)


def csrf_token(html):
    """The CSRF token in a page's form."""
    return _CSRF.search(html).group(1)


def browser(app, user=None, *, remote_addr="127.0.0.1"):
    """A test client logged in as `user` (or anonymous), holding a CSRF token as `.csrf`."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = remote_addr
    client.csrf = csrf_token(client.get("/login").text)
    if user is not None:
        answer = post(client, "/login", {"email": user.email, "password": PASSWORD})
        assert answer.status_code == 302, answer.text
        client.csrf = csrf_token(client.get("/manage/").text)
    return client


def post(client, url, data=None, **options):
    """A form POST carrying the client's CSRF token."""
    return client.post(url, data={"csrf_token": client.csrf} | (data or {}), **options)


def fresh(model, ident):
    """A row read again from the database."""
    db.session.expire_all()
    return db.session.get(model, ident)


@contextmanager
def statements_run(target):
    """The (statement, parameters) sent to the database through `target` (an engine or a
    connection) inside the block, in order, with those run on any DB-API connection itself
    (db.DriverStatement)."""
    seen = []

    def remember(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    run_on_driver = DriverStatement.rows

    def remember_driver_statement(statement, connection, params):
        seen.append((statement.sql, statement.parameters(params)))
        return run_on_driver(statement, connection, params)

    sa.event.listen(target, "before_cursor_execute", remember)
    try:
        with patch.object(DriverStatement, "rows", remember_driver_statement):
            yield seen
    finally:
        sa.event.remove(target, "before_cursor_execute", remember)
