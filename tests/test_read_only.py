"""A nearest request only reads: it runs outside any transaction."""

import json
import urllib.request

import sqlalchemy as sa
from support import make_station

from stations.db import db


def in_transaction(dbapi_connection):
    if type(dbapi_connection).__module__ == "sqlite3":
        return dbapi_connection.in_transaction
    return dbapi_connection.info.transaction_status.name != "IDLE"


def test_nearest_skips_begin_and_rollback(empty_live_server):
    # Served by a real engine (the other tests pin theirs inside a transaction).
    base, app = empty_live_server
    with app.app_context():
        station_id = make_station("READ-1").id
        engine = db.engine
    seen = []

    def after(conn, cursor, statement, parameters, context, executemany):
        if "FROM station" in statement:
            seen.append(in_transaction(conn.connection.dbapi_connection))

    sa.event.listen(engine, "after_cursor_execute", after)
    try:
        url = f"{base}/api/v1/stations/nearest?lat=22.5431&lng=114.0579"
        with urllib.request.urlopen(url) as response:
            body = json.load(response)
    finally:
        sa.event.remove(engine, "after_cursor_execute", after)
    assert [item["id"] for item in body["data"]] == [station_id]
    assert seen and not any(seen)
