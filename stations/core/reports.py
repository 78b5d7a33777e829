"""Rider reports: stored without login, counted in the public API, resolved by station managers."""

import sqlalchemy as sa

from .audit import save
from .db import db, utcnow
from .models import Report, Station

MAX_TEXT_LENGTH = 200
# What resolving a report may change at the station: the fixes a manager can choose from.
FIXES = {
    "closed": {"status": "temporarily_closed"},
    "no_water": {"drinking_water": False},
    "heating_broken": {"food_heating": False},
    "charging_broken": {"phone_charging": False, "ebike_charging": False},
}
# Resolving without a fix: the problem was dealt with, or the report was wrong.
PLAIN_RESOLUTIONS = ("resolved", "dismissed")


def create_report(station_id, *, reason, text):
    """A new open report (the caller has validated the reason and text, and commits)."""
    report = Report(station_id=station_id, reason=reason, text=text or None)
    db.session.add(report)
    return report


_REPORT = Report.__table__
_OPEN_COUNTS = (
    sa.select(_REPORT.c.station_id, sa.func.count())
    .where(
        _REPORT.c.station_id.in_(sa.bindparam("ids", expanding=True)),
        _REPORT.c.resolved_at.is_(None),
    )
    .group_by(_REPORT.c.station_id)
)


# The same count as a column of a query on stations (the search rows of core/geo.py).
OPEN_REPORTS = (
    sa.select(sa.func.count())
    .where(_REPORT.c.station_id == Station.__table__.c.id, _REPORT.c.resolved_at.is_(None))
    .scalar_subquery()
    .label("open_reports")
)


def open_report_counts(station_ids):
    """{station_id: number of open reports} for these stations, in one query; absent means 0."""
    ids = list(set(station_ids))
    if not ids:
        return {}
    return dict(db.session.connection().execute(_OPEN_COUNTS, {"ids": ids}).all())


def open_reports(station_id):
    """A station's open reports, oldest first."""
    query = (
        sa.select(Report)
        .where(Report.station_id == station_id, Report.resolved_at.is_(None))
        .order_by(Report.id)
    )
    return db.session.scalars(query).all()


def open_report(station, report_id):
    """The open report with this id at this station, or None."""
    report = db.session.get(Report, report_id)
    if report is None or report.station_id != station.id or report.resolved_at is not None:
        return None
    return report


def actions_for(report):
    """The ways to resolve a report: "fix:<field>" for each offered fix, then the plain ones."""
    return [f"fix:{field}" for field in FIXES.get(report.reason, {})] + list(PLAIN_RESOLUTIONS)


def resolve_report(report, station, *, action, user, version):
    """Close a report and commit; a "fix:<field>" action also changes the station (audited,
    source report).

    Raises ValueError for an action not offered for this report, EditConflict (nothing written)
    for a stale version.
    """
    if action not in actions_for(report):
        raise ValueError(f"'{action}' is not a way to resolve this report")
    changes = {}
    if action.startswith("fix:"):
        field = action.removeprefix("fix:")
        changes[field] = FIXES[report.reason][field]
        if field == "status":  # closed until a manager reopens it: an old end date must not hold
            changes |= {"closed_reason": report.text or "骑手报告", "closed_until": None}
    report.resolved_at = utcnow()
    report.resolved_by = user.id
    report.resolution = "fixed" if changes else action
    # A plain resolution changes nothing at the station, so a stale page does not matter there.
    save(station, changes, user=user, source="report", version=version if changes else None)
