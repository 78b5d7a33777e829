"""Keeping a copy of the stations: the change feed and the open-data export, under /api/v1."""

import csv
import io

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, jsonify, request

from ..core import datum
from ..core.changes import LIVE_FIELDS, CursorAhead, changes_since, data_version, parse_since
from ..core.db import db
from ..core.hours import local_now
from ..core.models import AMENITIES, Station
from ..core.station_json import station_feature, station_json
from .http_cache import REVALIDATE, cacheable, not_modified
from .params import QueryArgs
from .problems import problem

bp = Blueprint("feed", __name__, url_prefix="/api/v1")

LICENSE = {
    "name": "CC BY 4.0",
    "url": "https://creativecommons.org/licenses/by/4.0/",
    "attribution": "深圳驿站地图 Shenzhen rest-station locator",
    "notice": "Stations marked is_sample are generated sample data, not real places.",
}
CSV_COLUMNS = (
    "id",
    "external_id",
    "kind",
    "name",
    "address",
    "district",
    "lat",
    "lng",
    "phone",
    "opening_hours",
    "status",
    "closed_reason",
    "closed_until",
    *AMENITIES,
    "verified_at",
    "updated_at",
    "is_sample",
)
_AMENITY_WORDS = {True: "yes", False: "no", None: ""}


def station_record(row, *, coord):
    """A station's stored fields, as the API shows them, without the live ones."""
    item = station_json(row, coord=coord, now=local_now(), open_reports=0)
    return {name: value for name, value in item.items() if name not in LIVE_FIELDS}


@bp.get("/stations/changes")
def changes():
    """Stations created or changed, and ids of stations deleted, after a cursor or a time."""
    args = QueryArgs(request.args, ("since", "limit", "coord"))
    since = args.text("since", max_length=40)
    limit = args.integer("limit", low=1, high=1000, default=100)
    coord = args.choice("coord", datum.DATUMS, default="wgs84")
    after_seq, after_time = 0, None
    if since is not None:
        try:
            after_seq, after_time = parse_since(since)
        except ValueError as error:
            args.errors["since"] = str(error)
    args.check()
    try:
        found, next_cursor, has_more = changes_since(
            after_seq=after_seq, after_time=after_time, limit=limit
        )
    except CursorAhead:
        return problem(
            409,
            "Conflict",
            "This cursor is ahead of the feed: the data was restored or replaced since. "
            "Drop your copy and replay the feed from the start (no since).",
        )
    items = [_change_json(change, coord=coord) for change in found]
    response = jsonify(changes=items, next_cursor=str(next_cursor), has_more=has_more, coord=coord)
    response.headers["Cache-Control"] = "no-cache"
    return response


def _change_json(change, *, coord):
    if change.station is not None:
        station = station_record(change.station, coord=coord)
        return {"seq": change.seq, "op": "upsert", "id": change.station_id, "station": station}
    tombstone = change.tombstone
    return {
        "seq": change.seq,
        "op": "delete",
        "id": change.station_id,
        "external_id": tombstone.external_id,
        "reason": "deleted",
        "deleted_at": tombstone.deleted_at.isoformat().replace("+00:00", "Z"),
    }


@bp.get("/stations/export")
def export():
    """Every station, as GeoJSON or CSV, under the data licence."""
    args = QueryArgs(request.args, ("format",))
    fmt = args.choice("format", ("geojson", "csv"), default="geojson")
    args.check()
    last_seq, changed_at = data_version()
    # No live fields here, so the data version alone identifies the body.
    etag = f"export-{fmt}-{last_seq}"
    if not_modified(etag=etag, last_modified=changed_at):
        response = Response(status=304)
    else:
        response = _geojson_export() if fmt == "geojson" else _csv_export()
    response.headers["Link"] = f'<{LICENSE["url"]}>; rel="license"'
    response.headers["X-Data-License"] = LICENSE["name"]
    return cacheable(response, last_modified=changed_at, cache_control=REVALIDATE, etag=etag)


def _all_stations():
    return db.session.scalars(sa.select(Station).order_by(Station.id))


def _geojson_export():
    features = [station_feature(station_record(row, coord="wgs84")) for row in _all_stations()]
    body = {"type": "FeatureCollection", "license": LICENSE, "count": len(features)}
    response = jsonify(body | {"features": features})
    response.content_type = "application/geo+json"
    response.headers["Content-Disposition"] = 'inline; filename="shenzhen-rest-stations.geojson"'
    return response


def _csv_export():
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in _all_stations():
        values = {column: getattr(row, column) for column in CSV_COLUMNS}
        for name in AMENITIES:
            values[name] = _AMENITY_WORDS[values[name]]
        for name in ("closed_until", "verified_at", "updated_at"):
            values[name] = values[name].isoformat().replace("+00:00", "Z") if values[name] else ""
        values["is_sample"] = "yes" if row.is_sample else "no"
        writer.writerow([values[column] for column in CSV_COLUMNS])
    response = current_app.response_class(out.getvalue(), content_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = 'attachment; filename="shenzhen-rest-stations.csv"'
    return response
