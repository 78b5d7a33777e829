"""Time the app's own nearest-stations SQL with EXPLAIN (ANALYZE, BUFFERS) on PostGIS.

The statements are captured from stations.core.geo.nearest_stations itself (db.DriverStatement runs
them), called as the API calls it (limit=10, no filters, the open-report count as a column) at
random Shenzhen positions, then explained one by one. That first run also warms the cache.
The last line printed is `SQL {json}` for bench/run.py.
"""

import argparse
import json
import random
import sys
from math import ceil
from pathlib import Path
from unittest.mock import patch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stations import create_app  # noqa: E402
from stations.core.db import DriverStatement, db  # noqa: E402
from stations.core.geo import Position, Search, nearest_stations  # noqa: E402

SEED = 20261127
INDEX = "ix_station_position"
# --area cities: within 0.3 degree of these centres (WGS-84), as bench/wrk.lua's nearest-country.
CITIES = [
    (22.54, 114.06), (31.23, 121.47), (39.91, 116.40), (23.13, 113.26), (30.57, 104.07),
    (30.59, 114.30), (34.26, 108.94), (29.56, 106.55), (32.06, 118.80), (30.27, 120.16),
]  # fmt: skip


def random_positions(area, count, rng):
    """`count` positions over Shenzhen, or around big cities."""
    if area == "shenzhen":
        return [(rng.uniform(22.45, 22.85), rng.uniform(113.78, 114.55)) for _ in range(count)]
    centres = [rng.choice(CITIES) for _ in range(count)]
    return [(lat + rng.uniform(-0.3, 0.3), lng + rng.uniform(-0.3, 0.3)) for lat, lng in centres]


def percentile(values, pct):
    """The nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(ceil(pct / 100 * len(ordered)) - 1, 0)]


def captured_nearest_sql(positions):
    """The (statement, parameters) the app sent for each position's nearest query."""
    captured = []
    run_on_driver = DriverStatement.rows

    def capture(statement, connection, params):
        if "<->" in statement.sql:
            captured.append((statement.sql, statement.parameters(params)))
        return run_on_driver(statement, connection, params)

    with patch.object(DriverStatement, "rows", capture):
        for lat, lng in positions:
            nearest_stations(near=Position(lat=lat, lng=lng), search=Search(limit=10))
    return captured


def index_names(node):
    """Every index a plan node and its children use."""
    names = {node["Index Name"]} if "Index Name" in node else set()
    for child in node.get("Plans", ()):
        names |= index_names(child)
    return names


def explain_all(statements):
    """Execution and planning times (ms) and the indexes used, over all statements."""
    connection = db.session.connection()
    execution_ms, planning_ms, indexes = [], [], set()
    for statement, parameters in statements:
        sql = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement
        (plan,) = connection.exec_driver_sql(sql, parameters).scalar_one()
        execution_ms.append(plan["Execution Time"])
        planning_ms.append(plan["Planning Time"])
        indexes |= index_names(plan["Plan"])
    return execution_ms, planning_ms, indexes


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positions", type=int, default=200)
    parser.add_argument("--area", choices=("shenzhen", "cities"), default="shenzhen")
    args = parser.parse_args()
    positions = random_positions(args.area, args.positions, random.Random(SEED))
    with create_app().app_context():
        if db.engine.dialect.name != "postgresql":
            sys.exit("nearest_sql.py needs DATABASE_URL to point at PostGIS.")
        statements = captured_nearest_sql(positions)
        statement, parameters = statements[0]
        text_plan = db.session.connection().exec_driver_sql(
            "EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters
        )
        print(statement, parameters, sep="\n-- parameters: ", end="\n\n")
        print("\n".join(row[0] for row in text_plan), end="\n\n")
        execution_ms, planning_ms, indexes = explain_all(statements)
        db.session.rollback()
    summary = {
        "queries": len(execution_ms),
        "exec_p50_ms": percentile(execution_ms, 50),
        "exec_p99_ms": percentile(execution_ms, 99),
        "plan_p50_ms": percentile(planning_ms, 50),
        "plan_p99_ms": percentile(planning_ms, 99),
        "uses_gist_index": INDEX in indexes,
        "indexes": sorted(indexes),
    }
    print("SQL " + json.dumps(summary))


if __name__ == "__main__":
    main()
