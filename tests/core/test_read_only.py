"""A nearest request only reads: it runs outside any transaction."""

import json
import urllib.request
from unittest.mock import patch

from support import make_station

from stations.core.db import DriverStatement, db


def in_transaction(dbapi_connection):
    if type(dbapi_connection).__module__ == "sqlite3":
        return dbapi_connection.in_transaction
    return dbapi_connection.info.transaction_status.name != "IDLE"


def test_nearest_skips_begin_and_rollback(empty_live_server):
    # Served by a real engine (the other tests pin theirs inside a transaction).
    base, app = empty_live_server
    with app.app_context():
        station_id = make_station("READ-1").id
    seen = []
    run_on_driver = DriverStatement.rows

    def rows(statement, connection, params):
        if "FROM station" in statement.sql:
            seen.append(in_transaction(connection))
        return run_on_driver(statement, connection, params)

    url = f"{base}/api/v1/stations/nearest?lat=22.5431&lng=114.0579"
    with patch.object(DriverStatement, "rows", rows), urllib.request.urlopen(url) as response:
        body = json.load(response)
    assert [item["id"] for item in body["data"]] == [station_id]
    assert seen and not any(seen)


def test_a_read_connection_goes_back_to_the_pool_as_it_came(empty_live_server):
    # A PostgreSQL connection lent in autocommit must come back with transactions, or the
    # next request's writes would each commit on their own.
    base, app = empty_live_server
    with app.app_context():
        make_station("READ-2")
        for _ in range(3):
            with urllib.request.urlopen(f"{base}/api/v1/stations/nearest?lat=22.5&lng=114"):
                pass
        with db.engine.connect() as connection:
            dbapi_connection = connection.connection.driver_connection
            assert not in_transaction(dbapi_connection)
            connection.exec_driver_sql("SELECT 1")
            assert in_transaction(dbapi_connection)
