"""Geographic queries: nearest stations and bounding boxes, on PostGIS or SQLite.

The only module that knows SRIDs, PostGIS functions, the KNN operator and the SQLite R*Tree.
Distances are geodesic metres on the WGS-84 ellipsoid on both backends.
"""

from math import cos, radians

import numpy as np
import sqlalchemy as sa
from geoalchemy2 import Geography
from pyproj import Geod

from .db import db
from .hours import is_open_at
from .models import Station

_GEOD = Geod(ellps="WGS84")
# PostGIS only: a generated geography(Point,4326) column with a GiST index (see migrations).
_POSITION = sa.literal_column("station.position", Geography("POINT", srid=4326))
# SQLite only: an R*Tree of station positions kept in step by triggers (see migrations).
_RTREE = sa.table(
    "station_rtree",
    sa.column("id"),
    sa.column("min_lng"),
    sa.column("max_lng"),
    sa.column("min_lat"),
    sa.column("max_lat"),
)
_FIRST_RADIUS_M = 3000.0
_METRES_PER_DEGREE_LAT_MIN = 110_574.0
_METRES_PER_DEGREE_LNG_EQUATOR = 111_320.0


def distances_m(*, lat, lng, lats, lngs):
    """Geodesic distances in metres from one point to many."""
    lats = np.asarray(lats, dtype=float)
    if lats.size == 0:
        return np.empty(0)
    _, _, dist = _GEOD.inv(np.full(lats.shape, lng), np.full(lats.shape, lat), lngs, lats)
    return dist


def bbox_around(*, lat, lng, radius_m):
    """A (min_lng, min_lat, max_lng, max_lat) box holding every point within radius_m."""
    d_lat = radius_m / _METRES_PER_DEGREE_LAT_MIN * 1.01 + 1e-5
    far_lat = min(abs(lat) + d_lat, 90.0)
    if far_lat >= 89.0:
        return (-180.0, max(lat - d_lat, -90.0), 180.0, min(lat + d_lat, 90.0))
    d_lng = radius_m / (_METRES_PER_DEGREE_LNG_EQUATOR * cos(radians(far_lat))) * 1.01 + 1e-5
    return (
        max(lng - d_lng, -180.0),
        max(lat - d_lat, -90.0),
        min(lng + d_lng, 180.0),
        min(lat + d_lat, 90.0),
    )


def _station_filters(*, kinds, amenities, open_now_at, open_24_7):
    """SQL conditions for the filters the database can judge by itself."""
    conditions = []
    if kinds:
        conditions.append(Station.kind.in_(kinds))
    for amenity in amenities:
        conditions.append(getattr(Station, amenity).is_(True))
    if open_now_at is not None:
        conditions += [Station.status == "open", Station.opening_hours.is_not(None)]
    if open_24_7:
        conditions += [Station.status == "open", Station.opening_hours == "24/7"]
    return conditions


def _keep(row, open_now_at):
    """The filters only Python can judge: open now, from the opening hours."""
    if open_now_at is None:
        return True
    return is_open_at(hours=row.opening_hours, status=row.status, at=open_now_at) is True


def nearest_stations(
    *, lat, lng, limit, radius_m=None, kinds=(), amenities=(), open_now_at=None, open_24_7=False
):
    """The `limit` nearest matching stations as (row, distance_m), nearest first.

    `open_now_at` (a datetime) keeps only stations open at that instant; None keeps all.
    `open_24_7` keeps only open stations whose hours are exactly "24/7".
    """
    conditions = _station_filters(
        kinds=kinds, amenities=amenities, open_now_at=open_now_at, open_24_7=open_24_7
    )
    if db.session.get_bind().dialect.name == "postgresql":
        found = _nearest_postgis(lat, lng, limit, radius_m, conditions, open_now_at)
    else:
        found = _nearest_sqlite(lat, lng, limit, radius_m, conditions, open_now_at)
    return found[:limit]


def _nearest_postgis(lat, lng, limit, radius_m, conditions, open_now_at):
    """KNN through the GiST index (`<->`), re-ranked by the spheroid distance."""
    point = sa.func.ST_SetSRID(sa.func.ST_MakePoint(lng, lat), 4326).cast(Geography)
    query = sa.select(Station.__table__, sa.func.ST_Distance(_POSITION, point).label("d"))
    query = query.where(*conditions).order_by(_POSITION.op("<->")(point))
    if radius_m is not None:
        query = query.where(sa.func.ST_DWithin(_POSITION, point, radius_m))
    # A few spare rows absorb the small sphere/spheroid differences of `<->` ordering.
    batch = limit + 8 if open_now_at is None else limit * 4 + 8
    found, offset = [], 0
    while True:
        rows = db.session.execute(query.limit(batch).offset(offset)).all()
        found += [(row, row.d) for row in rows if _keep(row, open_now_at)]
        if len(rows) < batch or len(found) >= limit + 8:
            break
        offset, batch = offset + batch, batch * 2
    found.sort(key=lambda pair: pair[1])
    return found


def _nearest_sqlite(lat, lng, limit, radius_m, conditions, open_now_at):
    """Candidates from the R*Tree in a growing box, ranked by exact geodesic distance."""
    search_m = min(_FIRST_RADIUS_M, radius_m) if radius_m is not None else _FIRST_RADIUS_M
    columns = Station.__table__.columns
    while True:
        min_lng, min_lat, max_lng, max_lat = bbox_around(lat=lat, lng=lng, radius_m=search_m)
        query = (
            sa.select(columns)
            .join(_RTREE, _RTREE.c.id == Station.id)
            .where(
                _RTREE.c.max_lng >= min_lng,
                _RTREE.c.min_lng <= max_lng,
                _RTREE.c.max_lat >= min_lat,
                _RTREE.c.min_lat <= max_lat,
                *conditions,
            )
        )
        rows = [row for row in db.session.execute(query).all() if _keep(row, open_now_at)]
        dists = distances_m(
            lat=lat, lng=lng, lats=[r.lat for r in rows], lngs=[r.lng for r in rows]
        )
        found = sorted(
            ((row, float(d)) for row, d in zip(rows, dists, strict=True) if d <= search_m),
            key=lambda pair: pair[1],
        )
        # Every station within search_m lies in the box, so `limit` found within it are the nearest.
        whole_earth = (min_lng, min_lat, max_lng, max_lat) == (-180.0, -90.0, 180.0, 90.0)
        if len(found) >= limit or search_m == radius_m or whole_earth:
            return found
        search_m *= 4
        if radius_m is not None:
            search_m = min(search_m, radius_m)


def stations_in_bbox(*, bbox, page, per_page):
    """A page of the stations inside (min_lng, min_lat, max_lng, max_lat), or all; and the total."""
    inside = ()
    if bbox is not None:
        min_lng, min_lat, max_lng, max_lat = bbox
        inside = (Station.lng.between(min_lng, max_lng), Station.lat.between(min_lat, max_lat))
    total = db.session.execute(
        sa.select(sa.func.count()).select_from(Station).where(*inside)
    ).scalar_one()
    query = (
        sa.select(Station.__table__)
        .where(*inside)
        .order_by(Station.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return db.session.execute(query).all(), total
