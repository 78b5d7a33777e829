"""The admin pages under /admin: create, edit and retire stations.

Accounts (admin_users.py), imports (uploads.py) and API keys (admin_keys.py) have their own
blueprints. Station writes go through audit.apply_changes.
"""

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..core import audit, datum
from ..core.accounts import managers_of
from ..core.db import db
from ..core.districts import district_at
from ..core.geo import nearest_stations
from ..core.models import Station
from ..core.reports import open_report_counts
from ..rider.folium_map import build_map, tiles_for
from .forms import StationForm

bp = Blueprint("admin", __name__, url_prefix="/admin")
NEARBY_M = 50
_SAME_POSITION_DEG = 1e-6  # about 10 cm: a re-saved form, not a move


def require_admin():
    """Anonymous users go to the login page; logged-in non-admins get 403."""
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    if not current_user.is_admin:
        abort(403, "只有管理员可以打开这个页面。")


bp.before_request(require_admin)


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


_NAMED = (Station.name, Station.external_id)


def _nearby(lat, lng, station=None):
    """Other stations within NEARBY_M metres: maybe the same station entered twice."""
    found = nearest_stations(lat=lat, lng=lng, limit=5, radius_m=NEARBY_M, also=_NAMED)
    return [(row, d) for row, d in found if station is None or row.id != station.id]


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
            db.session.add(station)
            db.session.flush()
            audit.record_created(station, user=current_user, source="admin")
            db.session.commit()
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
                audit.apply_changes(
                    station, changes, user=current_user, source="admin", version=form.version.data
                )
                audit.commit(station)
            except audit.EditConflict as stale:
                station, conflict = stale.station, changes
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
        audit.record_retired(station, user=current_user, source="admin")
        db.session.delete(station)
        db.session.commit()
        flash(station.name, "retired")
        return redirect(url_for("admin.index"))
    managers = managers_of(station.id)
    return render_template("manage/admin/retire.html", station=station, managers=managers)
