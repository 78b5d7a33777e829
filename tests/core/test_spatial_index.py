"""The nearest query is answered through the spatial index on each backend."""

import random
import re

import sqlalchemy as sa
from support import statements_run

from stations.core.db import db, utcnow
from stations.core.models import Station


def add_stations(count):
    """Bulk-add synthetic stations so the planner has a reason to prefer the index."""
    rng, now = random.Random(5), utcnow()
    rows = [
        {
            "external_id": f"plan-{n}",
            "kind": "warm_station",
            "name": f"plan {n}",
            "lat": rng.uniform(22.45, 22.85),
            "lng": rng.uniform(113.78, 114.55),
            "status": "open",
            "is_sample": True,
            "created_at": now,
            "updated_at": now,
        }
        for n in range(count)
    ]
    db.session.execute(sa.insert(Station), rows)


def captured_nearest_sql(client, query):
    """The SQL statements (with parameters) the app ran for one /nearest request."""
    with statements_run(db.session.connection()) as seen:
        assert client.get("/api/v1/stations/nearest", query_string=query).status_code == 200
    return [(statement, parameters) for statement, parameters in seen if "station" in statement]


def test_nearest_uses_the_spatial_index(client):
    add_stations(20000)
    connection = db.session.connection()
    dialect = connection.dialect.name
    if dialect == "postgresql":
        connection.exec_driver_sql("ANALYZE station")
    query = {"lat": 22.5431, "lng": 114.0579, "limit": 10, "amenities": "drinking_water"}
    # The first answer also reads every station once, for the item store (items.py).
    assert client.get("/api/v1/stations/nearest", query_string=query).status_code == 200
    statements = captured_nearest_sql(client, query)
    assert statements
    explain = "EXPLAIN " if dialect == "postgresql" else "EXPLAIN QUERY PLAN "
    plans = [
        "\n".join(str(row[-1]) for row in connection.exec_driver_sql(explain + sql, params))
        for sql, params in statements
    ]
    if dialect == "postgresql":
        assert any("Index Scan using ix_station_position" in plan for plan in plans), plans
        assert not any(re.search(r"Seq Scan on station\b", plan) for plan in plans), plans
    else:
        assert any("SCAN station_rtree VIRTUAL TABLE INDEX" in plan for plan in plans), plans
        assert not any("SCAN station\n" in plan + "\n" for plan in plans), plans
