"""Gauges of the data, read from the database when Prometheus scrapes: stations by kind and
status, open rider reports, and how long the oldest unverified station has waited."""

import sqlalchemy as sa
from flask import current_app
from prometheus_client.core import GaugeMetricFamily

from ..core.db import db, utcnow
from ..core.models import Report, Station

_BY_KIND_STATUS = sa.select(Station.kind, Station.status, sa.func.count()).group_by(
    Station.kind, Station.status
)
_OPEN_AND_OLDEST = sa.select(
    sa.select(sa.func.count()).where(Report.resolved_at.is_(None)).scalar_subquery(),
    sa.select(sa.func.min(Station.created_at))
    .where(Station.verified_at.is_(None))
    .scalar_subquery(),
)


def _families():
    """The three gauges, empty."""
    return (
        GaugeMetricFamily(
            "stations_stations", "Stations, by kind and status.", labels=("kind", "status")
        ),
        GaugeMetricFamily("stations_open_reports", "Rider reports not yet resolved."),
        GaugeMetricFamily(
            "stations_oldest_unverified_age_seconds",
            "Seconds since the oldest station never verified was added (0 when none).",
        ),
    )


class DataGauges:
    """A prometheus_client collector: two queries per scrape, in the scraping request;
    `on_error` is told of a database error (then no gauge is given)."""

    def __init__(self, on_error):
        self.on_error = on_error

    def describe(self):
        """The metric names, without reading anything."""
        return _families()

    def collect(self):
        """The gauges; none when the database does not answer."""
        stations, open_reports, oldest = _families()
        try:
            session = db.session
            counts = session.execute(_BY_KIND_STATUS).all()
            reports, oldest_at = session.execute(_OPEN_AND_OLDEST).one()
        except sa.exc.DBAPIError as error:
            db.session.rollback()
            self.on_error(error)
            current_app.logger.warning("Metrics: the database did not answer: %s", error.orig)
            return []
        for kind, status, count in counts:
            stations.add_metric((kind, status), count)
        open_reports.add_metric((), reports)
        age_s = (utcnow() - oldest_at).total_seconds() if oldest_at is not None else 0
        oldest.add_metric((), max(age_s, 0))
        return [stations, open_reports, oldest]
