"""The station manager's pages under /manage: my stations, and for each its amenities, hours,
status, phone, confirmation, open rider reports and history.

Every station route loads its station through accounts.station_for_user (the one ownership
check); every write goes through audit.save with the version the editor saw.
"""

import json
from functools import wraps

from flask import (
    Blueprint,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy.exc import DBAPIError

from ..api.problems import database_unavailable, problem
from ..core import audit, reports
from ..core.accounts import station_for_user
from ..core.checkins import riders_against
from ..core.db import utcnow
from ..core.hours import SHENZHEN_TZ, effective_status, is_open_at, local_now, parse_hours
from ..core.weekly import DAYS, read_week, week_from_expression, weekly_expression
from .auth import require_login
from .forms import AmenityForm, HoursForm, PhoneForm, ResolveForm, StatusForm, VersionForm

bp = Blueprint("manage", __name__, url_prefix="/manage")
require_login(bp)


@bp.app_template_filter()
def from_json(text):
    """An audit value (JSON text) as a Python value."""
    return None if text is None else json.loads(text)


@bp.app_template_filter()
def local_time(moment):
    """A timestamp as Shenzhen local time, to the minute."""
    return moment.astimezone(SHENZHEN_TZ).strftime("%Y-%m-%d %H:%M") if moment else "—"


def owned_station(view):
    """Pass the route's station to the view if the current user may edit it; 404 otherwise."""

    @wraps(view)
    def wrapper(station_id, **kwargs):
        return view(station_for_user(current_user, station_id), **kwargs)

    return wrapper


def wants_json():
    """True for API-style requests (Accept: application/json), which get JSON answers."""
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def current_values(station):
    """What the station holds now, for a conflict answer."""
    return audit.snapshot(station) | {"version": station.version}


@bp.get("/")
def index():
    """My stations, with their open report counts; first, those where riders report otherwise."""
    stations = current_user.stations
    counts = reports.open_report_counts(s.id for s in stations)
    otherwise = riders_against(stations, now=local_now())
    return render_template(
        "manage/index.html", stations=stations, counts=counts, otherwise=otherwise
    )


@bp.get("/stations/<id:station_id>")
@owned_station
def station(station):
    """One station: everything a manager can change, open reports, history."""
    return station_page(station)


def station_page(station, *, status=200, invalid=None, conflict=None, unsaved=None):
    """The station page; `invalid` is a submitted form to show with its errors, `unsaved` why
    the database could not save it."""
    forms = {
        "hours": HoursForm(formdata=None, obj=station),
        "status": StatusForm(formdata=None, obj=station),
        "phone": PhoneForm(formdata=None, obj=station),
    }
    week = week_from_expression(station.opening_hours)
    hours_mode = "weekly" if week is not None else "raw"
    if invalid is not None:
        key = {HoursForm: "hours", StatusForm: "status", PhoneForm: "phone"}.get(type(invalid))
        if key:
            forms[key] = invalid
        if key == "hours":
            week = {
                day: (request.form.get(f"{day}_opens"), request.form.get(f"{day}_closes"))
                for day in DAYS
            }
            hours_mode = invalid.mode.data
    now = local_now()
    status_now = effective_status(status=station.status, closed_until=station.closed_until, at=now)
    page = render_template(
        "manage/station.html",
        station=station,
        forms=forms,
        days=DAYS,
        week=week or {},
        hours_mode=hours_mode,
        status_now=status_now,
        open_now=is_open_at(hours=station.opening_hours, status=status_now, at=now),
        reports=reports.open_reports(station.id),
        otherwise=riders_against([station], now=now).get(station.id, {}),
        actions_for=reports.actions_for,
        history=audit.history(station.id),
        conflict=conflict,
        unsaved=unsaved,
    )
    return page, status


def edit(station, form, *, changes=None):
    """Apply a station form's changes if it is valid and was made on the current version."""
    if not form.validate_on_submit():
        if wants_json():
            errors = {name: "; ".join(why) for name, why in form.errors.items()}
            return problem(422, "Unprocessable Content", "the form has errors", errors)
        return station_page(station, status=422, invalid=form)
    changes = form.changes() if changes is None else changes
    version = form.version.data
    try:
        changed = audit.save(station, changes, user=current_user, source="manager", version=version)
    except audit.EditConflict as conflict:
        return refuse_stale(conflict.station, attempted=changes)
    except DBAPIError as error:
        return refuse_unsaved(station, error)
    return saved(station, changed)


def refuse_unsaved(station, error):
    """503 on the station page saying why, when the database could not save (busy, down, or
    its disk full or read-only); a 500 for any other database error."""
    return database_unavailable(
        error, page=lambda why: station_page(station, status=503, unsaved=why)[0]
    )


def refuse_stale(station, *, attempted):
    """409: someone changed the station since this page was loaded; nothing was written."""
    if station is None:
        abort(404, "这个站点已被删除。This station was removed.")
    detail = "someone changed this station meanwhile; nothing was saved"
    if wants_json():
        current, attempted = current_values(station), audit.json_values(attempted)
        return problem(409, "Conflict", detail, current=current, attempted=attempted)
    return station_page(station, status=409, conflict=attempted)


def saved(station, changed):
    """After a write: JSON for API-style requests, else back to the station page with a note."""
    if wants_json():
        return jsonify(data=current_values(station), changed=sorted(changed))
    flash(",".join(changed), "saved" if changed else "unchanged")
    return redirect(url_for("manage.station", station_id=station.id))


@bp.post("/stations/<id:station_id>/amenities")
@owned_station
def amenities(station):
    """Set one amenity to yes, no or unknown."""
    return edit(station, AmenityForm())


@bp.post("/stations/<id:station_id>/hours")
@owned_station
def hours(station):
    """Set the opening hours, from the weekly editor or the raw OSM field."""
    return edit(station, HoursForm())


@bp.post("/stations/<id:station_id>/status")
@owned_station
def status(station):
    """Open, temporarily closed (with reason and until-date) or closed."""
    return edit(station, StatusForm())


@bp.post("/stations/<id:station_id>/phone")
@owned_station
def phone(station):
    """Set the phone number."""
    return edit(station, PhoneForm())


@bp.post("/stations/<id:station_id>/verify")
@owned_station
def verify(station):
    """Confirm that everything shown is still right (sets verified_at)."""
    return edit(station, VersionForm(), changes={"verified_at": utcnow()})


@bp.post("/stations/<id:station_id>/reports/<id:report_id>/resolve")
@owned_station
def resolve(station, report_id):
    """Resolve an open rider report, with or without a fix to the station."""
    report = reports.open_report(station, report_id)
    form = ResolveForm()
    if report is None:
        flash("", "report_gone")
        return redirect(url_for("manage.station", station_id=station.id))
    if not form.validate_on_submit() or form.action.data not in reports.actions_for(report):
        return station_page(station, status=422)
    action, version = form.action.data, form.version.data
    try:
        reports.resolve_report(report, station, action=action, user=current_user, version=version)
    except audit.EditConflict as conflict:
        return refuse_stale(conflict.station, attempted={})
    except DBAPIError as error:
        return refuse_unsaved(station, error)
    flash(report.reason, "resolved")
    return redirect(url_for("manage.station", station_id=station.id))


@bp.get("/hours/preview")
def hours_preview():
    """The expression the editor's fields make, whether it is valid, and whether it is open now."""
    if request.args.get("mode") == "raw":
        expression, problems = (request.args.get("opening_hours") or "").strip() or None, {}
    else:
        week, problems = read_week(request.args)
        expression = None if problems else weekly_expression(week)
    answer = {"opening_hours": expression, "valid": not problems, "errors": problems}
    answer |= {"open_now": None, "next_change": None}
    if expression and not problems:
        try:
            parsed = parse_hours(expression)
        except ValueError as error:
            return jsonify(answer | {"valid": False, "errors": {"opening_hours": str(error)}})
        now = local_now()
        change = parsed.next_change(now)
        answer["open_now"] = is_open_at(hours=expression, status="open", at=now)
        answer["next_change"] = change.isoformat() if change else None
    return jsonify(answer)
