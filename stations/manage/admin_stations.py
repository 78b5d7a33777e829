"""The admin pages under /admin: create, edit and retire stations.

Accounts (admin_users.py), imports (admin_import.py) and API keys (admin_keys.py) have their own
blueprints. Station writes go through audit.save, create and retire.
"""

from typing import NamedTuple

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..core import audit, datum
from ..core.accounts import managers_of
from ..core.db import db
from ..core.districts import district_at
from ..core.geo import Position, Search, nearest_stations
from ..core.models import Station
from ..core.reports import open_report_counts
from ..rider.folium_map import build_map, tiles_for
from .auth import require_login
from .forms import StationForm

bp = Blueprint("admin", __name__, url_prefix="/admin")
NEARBY_M = 50
_SAME_POSITION_DEG = 1e-6  # about 10 cm: a re-saved form, not a move


require_login(bp, admin=True)


@bp.get("/")
def index():
    """Every station, searchable by name or external id, a page at a time."""
    query = db.select(Station).order_by(Station.id)
    text = request.args.get("q", "").strip()
    if text:
        pattern = f"%{text}%"
        query = query.where(Station.name.ilike(pattern) | Station.external_id.ilike(pattern))
    page = db.paginate(query, per_page=50, error_out=False)
    counts = open_report_counts(s.id for s in page.items)
    return render_template("manage/admin/index.html", page=page, q=text, counts=counts)


def _position(form, station=None):
    """The form's position in WGS-84; a station's stored one when the form did not move it."""
    lat, lng = datum.to_wgs84(form.datum.data, lat=form.lat.data, lng=form.lng.data)
    if station is not None and abs(lat - station.lat) < _SAME_POSITION_DEG:
        if abs(lng - station.lng) < _SAME_POSITION_DEG:
            return station.lat, station.lng
    return lat, lng


class Nearby(NamedTuple):
    """Another station close to the form's position: maybe the same station entered twice."""

    station: Station
    distance_m: float


def _nearby(lat, lng, station=None):
    """The other stations within NEARBY_M metres, nearest first, as Nearby values."""
    search = Search(limit=5, radius_m=NEARBY_M)
    found = nearest_stations(near=Position(lat=lat, lng=lng), search=search)
    distances = {
        f.station.id: f.distance_m for f in found if station is None or f.station.id != station.id
    }
    if not distances:
        return []
    others = db.session.scalars(sa.select(Station).where(Station.id.in_(distances)))
    nearby = [Nearby(other, distances[other.id]) for other in others]
    return sorted(nearby, key=lambda near: near.distance_m)


def _fields(form, lat, lng):
    return {
        "kind": form.kind.data,
        "name": form.name.data.strip(),
        "address": (form.address.data or "").strip() or None,
        "phone": (form.phone.data or "").strip() or None,
        "lat": lat,
        "lng": lng,
        "district": district_at(lat=lat, lng=lng),
    }


def _station_page(form, status, **context):
    """The station form, with a map to tap the position on (drawn in the basemap's datum).

    The marker shows the form's position, whatever datum it was typed in, in the map's datum.
    """
    fmap = build_map(tiles_for(current_app.config), cluster=False)
    marker = None
    if form.lat.data is not None and form.lng.data is not None and form.datum.data in datum.DATUMS:
        if not (form.lat.errors or form.lng.errors):
            lat, lng = datum.to_wgs84(form.datum.data, lat=form.lat.data, lng=form.lng.data)
            marker = datum.from_wgs84(fmap["datum"], lat=lat, lng=lng)
    page = render_template(
        "manage/admin/station.html", form=form, fmap=fmap, marker=marker, **context
    )
    return page, status


def _external_id_taken(external_id, station=None):
    query = db.select(Station.id).where(Station.external_id == external_id)
    found = db.session.scalar(query)
    return found is not None and (station is None or found != station.id)


@bp.route("/stations/new", methods=("GET", "POST"))
def new_station():
    """Create a station; warns when another one is within 50 m."""
    form = StationForm()
    nearby = []
    if form.validate_on_submit():
        lat, lng = _position(form)
        nearby = _nearby(lat, lng)
        external_id = (form.external_id.data or "").strip()
        if not external_id:
            form.external_id.errors.append("必填")
        elif _external_id_taken(external_id):
            form.external_id.errors.append("这个编号已被使用")
        elif not nearby or form.confirm_nearby.data:
            station = Station(external_id=external_id, **_fields(form, lat, lng))
            audit.create(station, user=current_user, source="admin")
            return redirect(url_for("manage.station", station_id=station.id))
    status = 422 if form.errors or nearby else 200
    return _station_page(form, status, station=None, nearby=nearby, conflict=None)


@bp.route("/stations/<id:station_id>/edit", methods=("GET", "POST"))
def edit_station(station_id):
    """Change a station's name, kind, address, phone or position."""
    station = db.get_or_404(Station, station_id)
    # A POST is read from the form alone: the version must be the one the editor saw.
    form = StationForm() if request.method == "POST" else StationForm(obj=station, datum="wgs84")
    nearby, conflict = [], None
    if form.is_submitted() and form.version.data is None:
        abort(400, "The form has no version: reload the page.")
    if form.validate_on_submit():
        lat, lng = _position(form, station)
        nearby = _nearby(lat, lng, station) if (lat, lng) != (station.lat, station.lng) else []
        if not nearby or form.confirm_nearby.data:
            changes = _fields(form, lat, lng)
            try:
                audit.save(
                    station, changes, user=current_user, source="admin", version=form.version.data
                )
            except audit.EditConflict as stale:
                station, conflict = stale.station or abort(404), changes
            else:
                return redirect(url_for("admin.edit_station", station_id=station.id))
    status = 409 if conflict else 422 if form.errors or nearby else 200
    if conflict:
        form = StationForm(formdata=None, obj=station, datum="wgs84")
    context = {"station": station, "nearby": nearby, "conflict": conflict}
    context |= {"managers": managers_of(station.id), "history": audit.history(station.id)}
    return _station_page(form, status, **context)


@bp.route("/stations/<id:station_id>/retire", methods=("GET", "POST"))
def retire_station(station_id):
    """Remove a station for good; its audit trail keeps its last state."""
    station = db.get_or_404(Station, station_id)
    if request.method == "POST":
        try:
            audit.retire(station, user=current_user, source="admin")
        except audit.EditConflict:
            abort(409, "有人刚刚修改了这个站点，没有删除。Someone changed it meanwhile: reload.")
        flash(station.name, "retired")
        return redirect(url_for("admin.index"))
    managers = managers_of(station.id)
    return render_template("manage/admin/retire.html", station=station, managers=managers)
