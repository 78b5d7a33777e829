"""The coverage report for planners: each grid cell's searches over a period and how many found no
open station within the gap, as rows, CSV and GeoJSON. A cell of fewer than MIN_SEARCHES
searches is never in it."""

import csv
import io
from datetime import date
from typing import NamedTuple

import sqlalchemy as sa

from . import coverage
from .db import db
from .districts import district_at
from .geo import Position, Search, nearest_stations
from .models import KINDS, CoverageCount, Station

MIN_SEARCHES = 5
# The kind filters a report can be narrowed to: every search, searches without a kind filter,
# or searches whose filter included one kind.
KIND_CHOICES = ("all", "none", *KINDS)
CSV_COLUMNS = ("cell", "district", "lat", "lng", "searches", "unmet", "unmet_share")


class Period(NamedTuple):
    """What a report covers: its first and last day (Shenzhen time, both included), the kind
    filter (one of KIND_CHOICES), and the gap in metres beyond which a search went unmet."""

    first: date
    last: date
    kind: str
    gap_m: int


class CellDemand(NamedTuple):
    """A cell over a period: its searches, how many went unmet, its centre and district."""

    cell: str
    centre: Position
    district: str | None
    searches: int
    unmet: int

    @property
    def unmet_share(self):
        return self.unmet / self.searches


class NearbyStation(NamedTuple):
    """A station near a cell's centre."""

    id: int
    name: str
    distance_m: float


def _kind_condition(kind):
    if kind == "all":
        return sa.true()
    if kind == "none":
        return CoverageCount.kind == ""
    return CoverageCount.kind.contains(kind, autoescape=True)


def cell_demand(period):
    """The cells of a period with at least MIN_SEARCHES searches, most unmet first."""
    coverage.write_counts()  # this process's own, so that a report shows them
    searches = sa.func.sum(CoverageCount.searches)
    unmet = sa.func.sum(
        sa.case((CoverageCount.nearest_over_m >= period.gap_m, CoverageCount.searches), else_=0)
    )
    query = (
        sa.select(CoverageCount.cell, searches, unmet)
        .where(CoverageCount.day.between(period.first, period.last))
        .where(_kind_condition(period.kind))
        .group_by(CoverageCount.cell)
        .having(searches >= MIN_SEARCHES)
        .order_by(unmet.desc(), searches.desc(), CoverageCount.cell)
    )
    rows = []
    for cell, total, missed in db.session.execute(query):
        centre = coverage.cell_centre(cell)
        district = district_at(lat=centre.lat, lng=centre.lng)
        rows.append(CellDemand(cell, centre, district, int(total), int(missed)))
    return rows


def stations_near(centre, *, limit=3):
    """The `limit` stations nearest a cell's centre (any kind, open or not), as NearbyStation."""
    found = nearest_stations(near=centre, search=Search(limit=limit))
    ids = [item.station.id for item in found]
    names = dict(
        db.session.execute(sa.select(Station.id, Station.name).where(Station.id.in_(ids))).all()
    )
    return [NearbyStation(i.station.id, names[i.station.id], i.distance_m) for i in found]


def _properties(row):
    return {
        "cell": row.cell,
        "district": row.district or "",
        "searches": row.searches,
        "unmet": row.unmet,
        "unmet_share": round(row.unmet_share, 3),
    }


def as_csv(rows):
    """The rows as CSV text, the cell's centre in WGS-84 degrees."""
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        centre = {"lat": round(row.centre.lat, 6), "lng": round(row.centre.lng, 6)}
        writer.writerow(_properties(row) | centre)
    return out.getvalue()


def as_geojson(rows, period):
    """The rows as a GeoJSON FeatureCollection of cell hexagons (RFC 7946: [lng, lat])."""
    features = []
    for row in rows:
        ring = [[round(p.lng, 7), round(p.lat, 7)] for p in coverage.cell_outline(row.cell)]
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
                "properties": _properties(row),
            }
        )
    about = {
        "first_day": period.first.isoformat(),
        "last_day": period.last.isoformat(),
        "kind": period.kind,
        "gap_m": period.gap_m,
        "min_searches": MIN_SEARCHES,
    }
    return {"type": "FeatureCollection", "features": features, "period": about}
