"""Geographic queries: nearest stations and bounding boxes, on PostGIS or SQLite.

The only module that knows SRIDs, PostGIS functions, the KNN operator and the SQLite R*Tree.
Distances are geodesic metres on the WGS-84 ellipsoid on both backends.
"""

from collections import Counter
from datetime import date
from functools import lru_cache
from math import cos, degrees, floor, pi, radians, sqrt
from time import monotonic
from typing import NamedTuple

import numpy as np
import sqlalchemy as sa
from geoalchemy2 import Geography
from pyproj import Geod

from .checkins import LAST_CHECKIN
from .db import DriverStatement, db, read_connection
from .hours import OpenState, local_date, local_now, state_at
from .models import Station
from .reports import OPEN_REPORTS


class Position(NamedTuple):
    """A point in WGS-84 degrees."""

    lat: float
    lng: float


class BBox(NamedTuple):
    """A box in WGS-84 degrees, as GeoJSON orders it (RFC 7946: west, south, east, north)."""

    min_lng: float
    min_lat: float
    max_lng: float
    max_lat: float


class Search(NamedTuple):
    """Which stations a nearest search keeps, and how many.

    `kinds` keeps stations of those kinds (none: every kind); `amenities` those that have every
    one; `open_now` those open at the search's instant; `open_24_7` open stations whose hours
    are exactly "24/7"; `radius_m` those within that many metres (None: however far).
    """

    limit: int = 10
    radius_m: float | None = None
    kinds: tuple[str, ...] = ()
    amenities: tuple[str, ...] = ()
    open_now: bool = False
    open_24_7: bool = False


class SearchRow(NamedTuple):
    """A station as a search reads it: enough to rank and filter it, to show its live fields,
    and to tell whether this process has its other fields already (see station_json.py)."""

    id: int
    change_seq: int
    lat: float
    lng: float
    opening_hours: str | None
    status: str
    closed_until: date | None
    open_reports: int
    last_checkin_at: object  # its latest rider check-in, as the driver gives it; None if none
    # The cheap distance the database orders by: metres on PostGIS's sphere, squared degrees
    # (longitudes scaled by cos(lat)) on SQLite.
    rough_distance: float


class Found(NamedTuple):
    """A station a search found: its row, its geodesic distance, its state at the search's
    instant."""

    station: SearchRow
    distance_m: float
    state: OpenState


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
_STATION = Station.__table__
# What a search reads of each station: SearchRow's fields, but the last.
_SEARCHED = (*(_STATION.c[name] for name in SearchRow._fields[:7]), OPEN_REPORTS, LAST_CHECKIN)
# SQLite only: (when last counted, {(row, column): stations}) in cells of _CELL_DEG degrees.
_CELL_DEG = 0.1
_CELLS_COUNTED_EVERY_S = 600.0
_cells = [float("-inf"), Counter()]
# R*Tree coordinates are 32-bit floats, rounded outwards: up to ~0.3 m off in Shenzhen.
_RTREE_ROUNDING_M = 1.0
# Geodesics on the WGS-84 ellipsoid are within 0.56 % of great circles on PostGIS's sphere
# (radius 6,371,008.8 m: from 0.9944 times, meridians at the equator, to 1.0045).
_SPHERE_CLOSER = 1 - 0.006
_WHOLE_EARTH = BBox(-180.0, -90.0, 180.0, 90.0)
_METRES_PER_DEGREE_LAT_MIN = 110_574.0
# stations_in_bbox: the widest box (degrees of longitude) searched through PostGIS's index, and
# the margin around a box searched through an index (more than R*Tree's rounding, ~1e-5 degree).
_INDEXED_BOX_DEG = 10.0
_BOX_PAD_DEG = 1e-4
_METRES_PER_DEGREE_LNG_EQUATOR = 111_320.0


def distances_m(*, lat, lng, lats, lngs):
    """Geodesic distances in metres from one point to many, as a list."""
    if not len(lats):
        return []
    lats, lngs = np.asarray(lats, dtype=float), np.asarray(lngs, dtype=float)
    _, _, dist = _GEOD.inv(np.full(lats.shape, lng), np.full(lats.shape, lat), lngs, lats)
    return dist.tolist()


def bbox_around(*, lat, lng, radius_m):
    """A BBox holding every point within radius_m."""
    d_lat = radius_m / _METRES_PER_DEGREE_LAT_MIN * 1.01 + 1e-5
    far_lat = min(abs(lat) + d_lat, 90.0)
    if far_lat >= 89.0:
        return BBox(-180.0, max(lat - d_lat, -90.0), 180.0, min(lat + d_lat, 90.0))
    d_lng = radius_m / (_METRES_PER_DEGREE_LNG_EQUATOR * cos(radians(far_lat))) * 1.01 + 1e-5
    return BBox(
        max(lng - d_lng, -180.0),
        max(lat - d_lat, -90.0),
        min(lng + d_lng, 180.0),
        min(lat + d_lat, 90.0),
    )


def _in_service():
    """SQL: open, or temporarily closed until a day before :today (as hours.effective_status)."""
    ended = sa.and_(
        _STATION.c.status == "temporarily_closed",
        _STATION.c.closed_until < sa.bindparam("today", type_=sa.Date),
    )
    return sa.or_(_STATION.c.status == "open", ended)


def _station_filters(kinds, amenities, open_now, open_24_7):
    """SQL conditions for the filters the database can judge by itself (Search's fields)."""
    conditions = []
    if kinds:
        # A fixed parameter for each kind: the statement is compiled once per filter set.
        conditions.append(_STATION.c.kind.in_([sa.literal(kind) for kind in kinds]))
    for amenity in amenities:
        conditions.append(_STATION.c[amenity].is_(True))
    if open_now:
        conditions += [_in_service(), _STATION.c.opening_hours.is_not(None)]
    if open_24_7:
        conditions += [_in_service(), _STATION.c.opening_hours == "24/7"]
    return conditions


def _statement_key(search):
    """What a statement is compiled for: the filters the database judges (hashable)."""
    return (tuple(search.kinds), tuple(search.amenities), search.open_now, search.open_24_7)


def nearest_stations(*, near, search, at=None):
    """The `search.limit` nearest stations to `near` (a Position) that `search` keeps, as Found
    values, nearest first.

    `at` (default now) is the instant their state is worked out for, and open_now judged at. A
    temporary closure counts until the end of its `closed_until` day (Shenzhen time).
    """
    at = at or local_now()
    dialect = db.session.get_bind().dialect
    with read_connection() as connection:
        if dialect.name == "postgresql":
            found = _nearest_postgis(connection, dialect, near, search, at)
        else:
            found = _nearest_sqlite(connection, dialect, near, search, at)
    # The state is worked out once: by the open_now filter, or here for the nearest alone.
    return [Found(row, distance, state or _state(row, at)) for row, distance, state in found]


def _state(row, at):
    return state_at(
        hours=row.opening_hours, status=row.status, closed_until=row.closed_until, at=at
    )


def _walk(fetch, *, batch, open_now_at, enough):
    """Matching (row, exact distance_m, state or None) triples, nearest first, from candidates
    in rough order.

    `fetch(skip, batch)` gives (row, exact distance_m) pairs ordered by a cheap distance. With
    `open_now_at`, only stations open then are kept, with their state; with None, all, and no
    state. The walk reads batches (each twice the last) until one comes back short or
    `enough(found, pairs)` says that no station still unread can be among the nearest.
    """
    skip, found = 0, []
    while True:
        pairs = fetch(skip, batch)
        if open_now_at is None:
            found += [(row, distance, None) for row, distance in pairs]
        else:
            states = [(row, distance, _state(row, open_now_at)) for row, distance in pairs]
            found += [triple for triple in states if triple[2].open_now is True]
        found.sort(key=lambda triple: triple[1])
        if len(pairs) < batch or enough(found, pairs):
            return found
        skip, batch = skip + batch, batch * 2


def _fetch_with_distances(connection, statement, params, *, near, rows_of=list):
    """A walk's fetch: rows of the statement, each with its geodesic distance from `near`.

    `rows_of` turns the driver's rows into what the search returns.
    """

    def fetch(skip, batch):
        rows = rows_of(statement.rows(connection, params | {"skip": skip, "batch": batch}))
        lats, lngs = [row.lat for row in rows], [row.lng for row in rows]
        distances = distances_m(lat=near.lat, lng=near.lng, lats=lats, lngs=lngs)
        return list(zip(rows, distances, strict=True))

    return fetch


@lru_cache(maxsize=512)
def _postgis_statement(dialect, filters, within_radius):
    """KNN through the GiST index (`<->`, sphere metres); compiled once per filter set."""
    point = sa.func.ST_SetSRID(
        sa.func.ST_MakePoint(
            sa.bindparam("lng", type_=sa.Double), sa.bindparam("lat", type_=sa.Double)
        ),
        4326,
    ).cast(Geography)
    sphere_m = _POSITION.op("<->", return_type=sa.Double)(point)
    query = sa.select(*_SEARCHED, sphere_m.label("rough_distance"))
    query = query.where(*_station_filters(*filters))
    if within_radius:
        query = query.where(sa.func.ST_DWithin(_POSITION, point, sa.bindparam("radius_m")))
    query = query.order_by(sphere_m)
    query = query.limit(sa.bindparam("batch")).offset(sa.bindparam("skip"))
    return DriverStatement(query, dialect, row=SearchRow)


def _nearest_postgis(connection, dialect, near, search, at):
    """Candidates in `<->` (sphere) order, ranked by the geodesic on the ellipsoid."""
    limit = search.limit
    statement = _postgis_statement(dialect, _statement_key(search), search.radius_m is not None)
    params = {"lat": near.lat, "lng": near.lng, "radius_m": search.radius_m}
    params["today"] = local_date(at)
    fetch = _fetch_with_distances(connection, statement, params, near=near)

    def enough(found, pairs):
        # Every unread station is at least as far on the sphere as the last one read, so at
        # least _SPHERE_CLOSER times as far on the ellipsoid.
        farthest_read_m = pairs[-1][0].rough_distance
        return len(found) >= limit and found[limit - 1][1] <= farthest_read_m * _SPHERE_CLOSER

    open_now_at = at if search.open_now else None
    batch = _first_batch(limit, open_now_at)
    return _walk(fetch, batch=batch, open_now_at=open_now_at, enough=enough)[:limit]


@lru_cache(maxsize=512)
def _sqlite_statement(dialect, filters):
    """Matching stations inside a box (R*Tree), in equirectangular distance order; compiled once.

    The sort runs on ids and R*Tree coordinates alone; full rows are read only for the batch.
    """
    rough = (_RTREE.c.min_lat - sa.bindparam("lat")) * (_RTREE.c.min_lat - sa.bindparam("lat"))
    rough += (
        (_RTREE.c.min_lng - sa.bindparam("lng"))
        * (_RTREE.c.min_lng - sa.bindparam("lng"))
        * sa.bindparam("lng_scale")
    )
    conditions = _station_filters(*filters)
    candidates = sa.select(_RTREE.c.id, rough.label("rough_distance")).where(
        _RTREE.c.max_lng >= sa.bindparam("min_lng"),
        _RTREE.c.min_lng <= sa.bindparam("max_lng"),
        _RTREE.c.max_lat >= sa.bindparam("min_lat"),
        _RTREE.c.min_lat <= sa.bindparam("max_lat"),
    )
    if conditions:
        candidates = candidates.join(_STATION, _STATION.c.id == _RTREE.c.id).where(*conditions)
    candidates = (
        candidates.order_by(rough).limit(sa.bindparam("batch")).offset(sa.bindparam("skip"))
    ).subquery()
    query = (
        sa.select(*_SEARCHED, candidates.c.rough_distance)
        .join(candidates, candidates.c.id == _STATION.c.id)
        .order_by(candidates.c.rough_distance)
    )
    return DriverStatement(query, dialect, row=SearchRow)


def _nearest_sqlite(connection, dialect, near, search, at):
    """Candidates from the R*Tree in a box that grows until it surely holds the nearest."""
    lat, lng, limit, radius_m = near.lat, near.lng, search.limit, search.radius_m
    open_now_at = at if search.open_now else None
    statement = _sqlite_statement(dialect, _statement_key(search))
    # SQLite keeps dates as ISO text (as SQLAlchemy's Date writes them).
    params = {"lat": lat, "lng": lng, "lng_scale": cos(radians(lat)) ** 2}
    params["today"] = local_date(at).isoformat()
    fetch = _fetch_with_distances(
        connection, statement, params, near=near, rows_of=_dated_sqlite_rows
    )
    first_m = _first_radius_m(connection, dialect, lat=lat, lng=lng, wanted=3 * (limit + 2))
    search_m = min(first_m, radius_m or first_m)
    while True:
        box = bbox_around(lat=lat, lng=lng, radius_m=search_m)
        params |= box._asdict()
        enough = _settled_in_box(limit, _rough_metres_per_degree(lat, box))
        pairs = _walk(
            fetch, batch=_first_batch(limit, open_now_at), open_now_at=open_now_at, enough=enough
        )
        # Every station within search_m lies in the box; beyond it, one outside could be nearer.
        found = [pair for pair in pairs if pair[1] <= search_m]
        if len(found) >= limit or search_m == radius_m or box == _WHOLE_EARTH:
            return found[:limit]
        search_m *= 4
        if radius_m is not None:
            search_m = min(search_m, radius_m)


def _dated_sqlite_rows(rows):
    """Search rows with closed_until a date, as on PostgreSQL (SQLite gives ISO text)."""
    return [
        row
        if row.closed_until is None
        else row._replace(closed_until=date.fromisoformat(row.closed_until))
        for row in rows
    ]


def _settled_in_box(limit, metres_per_degree):
    """A walk's test: no station left in the box, unread, can be nearer than the limit-th found."""

    def enough(found, pairs):
        unread_m = metres_per_degree * sqrt(pairs[-1][0].rough_distance) - _RTREE_ROUNDING_M
        return len(found) >= limit and found[limit - 1][1] <= unread_m

    return enough


def _first_batch(limit, open_now_at):
    """How many candidates to read first: a few more than asked, more when many may be shut."""
    return (limit + 2) * (1 if open_now_at is None else 4)


def _rough_metres_per_degree(lat, box):
    """K such that a station in the box is at least K * sqrt(rough) metres away (rough: the
    SQLite order, degrees squared with longitudes scaled by cos(lat)).

    Along a meridian a degree is at least 110,574 m (the equator's); along a parallel, at the
    box's latitude farthest from the equator, at least 111,319 m times its cosine. A geodesic
    cuts a little across the parallel: 0.1 % off covers that for boxes far wider than a city.
    """
    farthest = min(max(abs(box.min_lat), abs(box.max_lat)), 90.0)
    along_parallel = _METRES_PER_DEGREE_LNG_EQUATOR * cos(radians(farthest)) / cos(radians(lat))
    return min(_METRES_PER_DEGREE_LAT_MIN, along_parallel) * 0.999


def _first_radius_m(connection, dialect, *, lat, lng, wanted):
    """A first search radius for about `wanted` stations, as dense as in the cells around.

    Only a guess to start from (the box grows until it surely holds the nearest): too large,
    and the R*Tree hands over hundreds of candidates to sort; too small, and the search takes
    several statements. Stations are counted in cells of _CELL_DEG degrees now and then.
    """
    counted_at, cells = _cells
    if monotonic() - counted_at > _CELLS_COUNTED_EVERY_S:
        corners = _corners_statement(dialect).rows(connection, {})
        cells = Counter(
            (floor(south / _CELL_DEG), floor(west / _CELL_DEG)) for south, west in corners
        )
        _cells[:] = [monotonic(), cells]
    row, column = floor(lat / _CELL_DEG), floor(lng / _CELL_DEG)
    around = sum(cells.get((row + i, column + j), 0) for i in (-1, 0, 1) for j in (-1, 0, 1))
    side_m = 3 * _CELL_DEG * _METRES_PER_DEGREE_LAT_MIN
    if not around:
        return side_m / 2
    return sqrt(wanted / around * side_m * side_m * max(cos(radians(lat)), 0.01) / pi)


def _spatially_indexed(bbox, dialect_name):
    """A condition that the spatial index answers, true of every station in `bbox` (a few more
    may pass it: the exact test is on lat and lng), so that the box is not a whole-table scan.

    PostGIS: `&&` on the geography column, against the box made wider by how far its
    great-circle sides can bow into it (width²/16 radians of latitude at 45°; twice that here,
    for the widening itself), for boxes up to _INDEXED_BOX_DEG wide (a wider one holds a good
    part of the table anyway). SQLite: the R*Tree, made wider than its 32-bit rounding.
    """
    if dialect_name == "postgresql":
        width_deg = bbox.max_lng - bbox.min_lng
        pad = degrees(radians(width_deg) ** 2 / 8) + _BOX_PAD_DEG
        south, north = bbox.min_lat - pad, bbox.max_lat + pad
        if not (0 <= width_deg <= _INDEXED_BOX_DEG and -89.0 < south and north < 89.0):
            return ()
        envelope = sa.func.ST_MakeEnvelope(
            bbox.min_lng - pad, south, bbox.max_lng + pad, north, 4326
        ).cast(Geography)
        return (_POSITION.op("&&", return_type=sa.Boolean)(envelope),)
    boxed = sa.select(_RTREE.c.id).where(
        _RTREE.c.max_lng >= bbox.min_lng - _BOX_PAD_DEG,
        _RTREE.c.min_lng <= bbox.max_lng + _BOX_PAD_DEG,
        _RTREE.c.max_lat >= bbox.min_lat - _BOX_PAD_DEG,
        _RTREE.c.min_lat <= bbox.max_lat + _BOX_PAD_DEG,
    )
    return (_STATION.c.id.in_(boxed),)


@lru_cache(maxsize=4)
def _corners_statement(dialect):
    """Every station's south-west R*Tree corner."""
    return DriverStatement(sa.select(_RTREE.c.min_lat, _RTREE.c.min_lng), dialect)


def stations_in_bbox(*, bbox, page, per_page):
    """A page of the stations inside `bbox` (a BBox; None: all), and how many there are."""
    inside = ()
    if bbox is not None:
        inside = (
            _STATION.c.lng.between(bbox.min_lng, bbox.max_lng),
            _STATION.c.lat.between(bbox.min_lat, bbox.max_lat),
            *_spatially_indexed(bbox, db.session.get_bind().dialect.name),
        )
    total = db.session.execute(
        sa.select(sa.func.count()).select_from(_STATION).where(*inside)
    ).scalar_one()
    query = (
        sa.select(_STATION)
        .where(*inside)
        .order_by(_STATION.c.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return db.session.execute(query).all(), total
