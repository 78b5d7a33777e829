"""The open-data export under /api/v1: every station as GeoJSON or CSV, under the data licence."""

import csv
import io

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, jsonify, request

from ..core.changes import data_version, station_record
from ..core.db import db
from ..core.models import AMENITIES, Station
from ..core.replicas import public_read
from ..core.station_json import iso, station_feature
from .http_cache import REVALIDATE, cacheable, not_modified
from .params import QueryArgs

bp = Blueprint("export", __name__, url_prefix="/api/v1")

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


@bp.get("/stations/export")
@public_read
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
            values[name] = iso(values[name]) or ""
        values["is_sample"] = "yes" if row.is_sample else "no"
        writer.writerow([values[column] for column in CSV_COLUMNS])
    response = current_app.response_class(out.getvalue(), content_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = 'attachment; filename="shenzhen-rest-stations.csv"'
    return response
