"""The JSON API under /api/v1: nearest stations, one station, stations in a box, rider reports
and check-ins."""

from flask import Blueprint, abort, jsonify, request

from ..core import coverage, datum
from ..core.changes import data_version
from ..core.checkins import changed_at, checkin_summaries, manager_facts, record_checkin
from ..core.db import db
from ..core.geo import BBox, Position, Search, nearest_stations, stations_in_bbox
from ..core.hours import local_now, open_state_since
from ..core.models import AMENITIES, KINDS, REPORT_REASONS, Station
from ..core.replicas import public_read
from ..core.reports import MAX_TEXT_LENGTH, create_report, open_report_counts
from ..core.station_json import station_feature, station_items, station_json
from ..ops import readiness
from .bodies import checkin_body
from .http_cache import cacheable
from .limits import limited, remote_address
from .openapi import openapi_document
from .params import QueryArgs
from .problems import InvalidParameters, problem

bp = Blueprint("api", __name__, url_prefix="/api/v1")

GEOJSON = "application/geo+json"


def _last_modified(rows, said, *, data_since, now):
    """When what these rows show last changed: their data, a station opening or closing, or
    riders' check-ins (`said`, by station id) leaving their windows."""
    moments = [
        open_state_since(
            hours=r.opening_hours, status=r.status, closed_until=r.closed_until, at=now
        )
        for r in rows
    ]
    moments += [changed_at(said.get(r.id, {}), manager_facts(r), now=now) for r in rows]
    return max([data_since, *(moment for moment in moments if moment is not None)])


def _wants_geojson(args):
    """GeoJSON when asked by format=geojson or by an Accept header that prefers it."""
    fmt = args.choice("format", ("json", "geojson"), default=None)
    if fmt is not None:
        return fmt == "geojson"
    return request.accept_mimetypes.best_match(["application/json", GEOJSON]) == GEOJSON


def _negotiated(body, *, geojson):
    """A JSON response, typed as GeoJSON when it is, that says it depends on Accept."""
    response = jsonify(body)
    if geojson:
        response.content_type = GEOJSON
    response.vary.add("Accept")
    return response


def _coord(args, geojson):
    coord = args.coord()
    if geojson and coord != "wgs84":
        args.errors["coord"] = "must be wgs84 for GeoJSON output (RFC 7946)"
    return coord


def _nearest_search(args):
    """The limit and filters of a nearest query."""
    return Search(
        limit=args.integer("limit", low=1, high=50, default=10),
        radius_m=args.number("radius_m", low=1, high=50000),
        kinds=args.choice_list("kind", KINDS),
        amenities=args.choice_list("amenities", AMENITIES),
        open_now=args.boolean("open_now"),
        open_24_7=args.boolean("open_24_7"),
    )


def _box_in_wgs84(box, coord):
    """A box given in `coord`, in WGS-84."""
    if box is None or coord == "wgs84":
        return box
    south, west = datum.to_wgs84(coord, lat=box.min_lat, lng=box.min_lng)
    north, east = datum.to_wgs84(coord, lat=box.max_lat, lng=box.max_lng)
    return BBox(min_lng=west, min_lat=south, max_lng=east, max_lat=north)


@bp.get("/stations/nearest")
@public_read
def nearest():
    """The nearest stations to a position, filtered, nearest first."""
    args = QueryArgs(
        request.args,
        ("lat", "lng", "coord", "limit", "radius_m", "kind", "amenities", "open_now", "open_24_7"),
    )
    lat = args.number("lat", low=-90, high=90, required=True)
    lng = args.number("lng", low=-180, high=180, required=True)
    coord = _coord(args, geojson=False)
    search = _nearest_search(args)
    args.check()
    lat, lng = datum.to_wgs84(coord, lat=lat, lng=lng)
    near, now = Position(lat=lat, lng=lng), local_now()
    found = nearest_stations(near=near, search=search, at=now)
    coverage.record_search(near=near, search=search, found=found, at=now)
    data = station_items(found, coord=coord)
    # An ETag only: positions vary too much for dates to pay for the query they cost.
    return cacheable(jsonify(data=data, count=len(data), coord=coord), last_modified=None)


@bp.get("/stations/<id:station_id>")
@public_read
def station(station_id):
    """One station."""
    args = QueryArgs(request.args, ("coord", "format"))
    geojson = _wants_geojson(args)
    coord = _coord(args, geojson)
    args.check()
    row = db.session.get(Station, station_id) or abort(404, "No station has this id.")
    now = local_now()
    _, data_since = data_version()
    reports = open_report_counts([row.id]).get(row.id, 0)
    said = checkin_summaries([row.id], now=now)
    item = station_json(row, coord=coord, now=now, open_reports=reports, checkins=said.get(row.id))
    response = _negotiated(station_feature(item) if geojson else {"data": item}, geojson=geojson)
    since = _last_modified([row], said, data_since=data_since, now=now)
    return cacheable(response, last_modified=since)


@bp.get("/stations")
@public_read
def station_list():
    """Stations inside a bounding box (or all), a page at a time, by id."""
    args = QueryArgs(request.args, ("bbox", "coord", "format", "page", "per_page"))
    geojson = _wants_geojson(args)
    coord = _coord(args, geojson)
    box = args.bbox("bbox")
    page = args.integer("page", low=1, high=1_000_000, default=1)
    per_page = args.integer("per_page", low=1, high=500, default=100)
    args.check()
    now = local_now()
    _, data_since = data_version()
    rows, total = stations_in_bbox(bbox=_box_in_wgs84(box, coord), page=page, per_page=per_page)
    reports = open_report_counts(row.id for row in rows)
    said = checkin_summaries((row.id for row in rows), now=now)
    items = [
        station_json(
            row,
            coord=coord,
            now=now,
            open_reports=reports.get(row.id, 0),
            checkins=said.get(row.id),
        )
        for row in rows
    ]
    paging = {"page": page, "per_page": per_page, "total": total}
    if geojson:
        body = {"type": "FeatureCollection", "features": [station_feature(i) for i in items]}
    else:
        body = {"data": items}
    response = _negotiated(body | paging, geojson=geojson)
    since = _last_modified(rows, said, data_since=data_since, now=now)
    return cacheable(response, last_modified=since)


def _station_key():
    return f"station:{request.view_args['station_id']}"


@bp.post("/stations/<id:station_id>/reports")
@limited(
    ("REPORT_LIMIT_PER_IP", remote_address),
    ("REPORT_LIMIT_PER_STATION", _station_key),
    message="Too many reports: try again after the number of seconds in Retry-After.",
)
def report(station_id):
    """A rider reports a problem at a station (no login; limited per IP and per station)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidParameters({"body": "must be a JSON object with reason and text"})
    reason, text = body.get("reason"), body.get("text", "")
    errors = {name: "is not a known field" for name in body if name not in ("reason", "text")}
    if reason not in REPORT_REASONS:
        errors["reason"] = "must be one of " + ", ".join(REPORT_REASONS)
    if not isinstance(text, str | None) or len((text or "").strip()) > MAX_TEXT_LENGTH:
        errors["text"] = f"must be text of at most {MAX_TEXT_LENGTH} characters"
    if errors:
        raise InvalidParameters(errors)
    if db.session.get(Station, station_id) is None:
        abort(404, "No station has this id.")
    saved = create_report(station_id, reason=reason, text=(text or "").strip())
    db.session.commit()
    item = {"id": saved.id, "station_id": station_id, "reason": reason, "text": saved.text}
    return jsonify(data=item | {"status": "open"}), 201


@bp.post("/stations/<id:station_id>/checkins")
@limited(
    ("CHECKIN_LIMIT_PER_IP", remote_address),
    ("CHECKIN_LIMIT_PER_STATION", _station_key),
    message="Too many check-ins: try again after the number of seconds in Retry-After.",
)
def checkin(station_id):
    """A rider says what is true at a station now (no login; limited per IP and per station)."""
    facts, device = checkin_body(request.get_json(silent=True))
    row = db.session.get(Station, station_id) or abort(404, "No station has this id.")
    counted = record_checkin(row, facts, device=device, at=local_now())
    db.session.commit()
    said = {"open": facts.pop("open")} if "open" in facts else {}
    item = {"station_id": station_id} | said | {"amenities": facts, "counted": counted}
    return jsonify(data=item), 201


@bp.get("/health")
def health():
    """A liveness probe that touches nothing: also the benchmarks' baseline."""
    response = jsonify(status="ok")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/ready")
def ready():
    """A readiness probe: the database answers at the latest schema, and Redis if configured."""
    checks = readiness.checks()
    failed = readiness.failures(checks)
    if failed:
        response = problem(503, "Service Unavailable", failed, checks=checks)
        response.headers["Retry-After"] = str(readiness.RETRY_AFTER_S)
    else:
        response = jsonify(status="ready", checks=checks)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3.1 description of this API."""
    response = jsonify(openapi_document())
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response
