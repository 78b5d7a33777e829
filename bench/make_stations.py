"""Bulk-insert N deterministic synthetic stations spread over Shenzhen, for the benchmark.

Each column is drawn independently from the committed sample's own values, so the mix of kinds,
status, opening hours, phones and amenities matches the sample. Positions are uniform over the
benchmark box. The database is DATABASE_URL (the app's rule), and must have the schema already.
"""

import argparse
import csv
import random
import sys
import time
from itertools import islice
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stations import create_app  # noqa: E402
from stations.cli import SAMPLE_FILE  # noqa: E402
from stations.core.db import db  # noqa: E402
from stations.core.districts import district_at  # noqa: E402
from stations.core.importer import AMENITY_WORDS  # noqa: E402
from stations.core.models import AMENITIES, Station  # noqa: E402

SEED = 20261127
LAT_RANGE = (22.45, 22.85)
LNG_RANGE = (113.78, 114.55)
DRAWN_COLUMNS = ("kind", "address", "phone", "opening_hours", "status", *AMENITIES)
BATCH = 5000


def synthetic_stations(count, seed=SEED):
    """`count` station rows (dicts of column values) drawn from the sample's columns."""
    rng = random.Random(seed)
    with open(SAMPLE_FILE, encoding="utf-8", newline="") as file:
        sample = list(csv.DictReader(file))
    pools = {column: [row[column] for row in sample] for column in DRAWN_COLUMNS}
    for number in range(1, count + 1):
        lat = round(rng.uniform(*LAT_RANGE), 7)
        lng = round(rng.uniform(*LNG_RANGE), 7)
        drawn = {column: rng.choice(pool) for column, pool in pools.items()}
        row = {column: drawn[column] or None for column in ("kind", "address", "phone")}
        row |= {name: AMENITY_WORDS[drawn[name]] for name in AMENITIES}
        yield row | {
            "external_id": f"bench-{number:06d}",
            "name": f"压测·合成驿站 {number}号",
            "lat": lat,
            "lng": lng,
            "district": district_at(lat=lat, lng=lng),
            "opening_hours": drawn["opening_hours"] or None,
            "status": drawn["status"] or "open",
            "is_sample": False,
        }


def insert_stations(count):
    """Insert the rows in batches through SQLAlchemy Core; ANALYZE on PostgreSQL."""
    insert_rows(synthetic_stations(count))


def insert_rows(rows):
    """Insert station rows (dicts of column values) in batches, in the app context; ANALYZE."""
    while batch := list(islice(rows, BATCH)):
        db.session.execute(sa.insert(Station), batch)
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("ANALYZE station")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", type=int, nargs="?", default=100_000)
    args = parser.parse_args()
    started = time.perf_counter()
    with create_app().app_context():
        insert_stations(args.count)
        total = db.session.execute(sa.select(sa.func.count()).select_from(Station)).scalar_one()
    elapsed_s = time.perf_counter() - started
    print(f"Inserted {args.count} synthetic stations in {elapsed_s:.1f} s ({total} in all).")


if __name__ == "__main__":
    main()
