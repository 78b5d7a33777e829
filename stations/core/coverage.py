"""Coverage counts: where riders search for a station and find none open near.

Of each nearest search only this is kept: its ~500 m grid cell (H3 resolution 8), its day
(Shenzhen time), its kind filter, and how far the nearest open station matching its filters was,
in bands of BAND_M metres. The position is reduced to its cell before it is counted, even in
memory; no position, address, device, IP or key is kept anywhere.

So that counting costs a search next to nothing, each process counts in memory and writes its
counts in one statement when a search comes more than COVERAGE_FLUSH_S seconds after its last
write (and when it exits): a crash loses at most the searches of those few seconds.
"""

import atexit
import threading
import time
from datetime import timedelta
from math import ceil
from typing import NamedTuple

import click
import h3
import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite

from .db import db
from .geo import Position, nearest_stations
from .hours import local_date, local_now
from .models import CoverageCount

CELL_RESOLUTION = 8  # hexagons of ~0.74 km², ~530 m a side
BAND_M = 250
LAST_BAND_M = 3000  # the last band: more than 3 km, or no open match at all
KEEP_DAYS = 180
_KEY = ("day", "cell", "kind", "nearest_over_m")


class SearchCount(NamedTuple):
    """What one search adds 1 to: all that is kept of it."""

    day: object  # datetime.date
    cell: str
    kind: str
    nearest_over_m: int


def cell_of(*, lat, lng):
    """The grid cell holding a WGS-84 position."""
    return h3.latlng_to_cell(lat, lng, CELL_RESOLUTION)


def cell_centre(cell):
    """A cell's centre, as a Position."""
    lat, lng = h3.cell_to_latlng(cell)
    return Position(lat=lat, lng=lng)


def cell_outline(cell):
    """A cell's corners, as Positions (not closed: the first is not repeated)."""
    return [Position(lat=lat, lng=lng) for lat, lng in h3.cell_to_boundary(cell)]


def distance_band_m(distance_m):
    """The band of a distance: d lies in (band, band + BAND_M], or beyond LAST_BAND_M (None:
    no open match at all)."""
    if distance_m is None:
        return LAST_BAND_M
    return min(max(ceil(distance_m / BAND_M) - 1, 0) * BAND_M, LAST_BAND_M)


def kind_key(kinds):
    """A kind filter as stored: its kinds sorted, comma-separated; empty for every kind."""
    return ",".join(sorted(kinds))


def nearest_open_m(*, near, search, found, at):
    """Metres to the nearest station open at `at` that matches the search's filters (None:
    none within LAST_BAND_M). Read from what the search found; one more query only when that
    cannot tell."""
    for item in found:
        if item.state.open_now is True:
            return item.distance_m
    whole = search.radius_m is None and len(found) < search.limit
    if whole or (found and len(found) == search.limit and found[-1].distance_m > LAST_BAND_M):
        return None  # every match was read, or the nearest open one is beyond the last band
    open_match = search._replace(limit=1, radius_m=LAST_BAND_M, open_now=True)
    nearest = nearest_stations(near=near, search=open_match, at=at)
    return nearest[0].distance_m if nearest else None


class _Pending:
    """Counts not yet written, for one app in one process."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}  # SearchCount -> searches
        self.written_at = time.monotonic()


def _pending():
    return current_app.extensions["stations.coverage"]


def record_search(*, near, search, found, at):
    """Count one nearest search (near: its WGS-84 Position; found: its Found values)."""
    config = current_app.config
    if not config["COVERAGE_ENABLED"]:
        return
    distance_m = nearest_open_m(near=near, search=search, found=found, at=at)
    key = SearchCount(
        day=local_date(at),
        cell=cell_of(lat=near.lat, lng=near.lng),
        kind=kind_key(search.kinds),
        nearest_over_m=distance_band_m(distance_m),
    )
    pending = _pending()
    with pending.lock:
        pending.counts[key] = pending.counts.get(key, 0) + 1
        due = time.monotonic() - pending.written_at >= config["COVERAGE_FLUSH_S"]
    if due:
        write_counts()


def _upsert(dialect_name):
    """INSERT, or add to the row already there (ON CONFLICT, on both backends)."""
    insert = postgresql.insert if dialect_name == "postgresql" else sqlite.insert
    statement = insert(CoverageCount)
    return statement.on_conflict_do_update(
        index_elements=list(_KEY),
        set_={"searches": CoverageCount.searches + statement.excluded.searches},
    )


def upsert_rows(counts):
    """The rows to add for {SearchCount: searches}, in the key's order. Every worker writes its
    rows in this one order, so that two writing at once wait for each other's row locks in turn:
    in the order they were counted, two could each hold a row the other wants (PostgreSQL then
    finds a deadlock, after a second, and one write fails)."""
    return [key._asdict() | {"searches": n} for key, n in sorted(counts.items())]


def write_counts():
    """Write this process's counts; kept for the next time if the database cannot take them now
    (a count is not worth a failed search)."""
    pending = _pending()
    with pending.lock:
        taken, pending.counts = pending.counts, {}
        pending.written_at = time.monotonic()
    if not taken:
        return
    try:
        db.session.execute(_upsert(db.session.get_bind().dialect.name), upsert_rows(taken))
        db.session.commit()
    except sa.exc.OperationalError as error:  # SQLite busy with another writer, say
        db.session.rollback()
        current_app.logger.warning("Coverage counts kept for the next write: %s", error.orig)
        with pending.lock:
            for key, n in taken.items():
                pending.counts[key] = pending.counts.get(key, 0) + n


def prune(*, today, keep_days=KEEP_DAYS):
    """Delete the counts of days before the last `keep_days` (today included); how many rows."""
    oldest_kept = today - timedelta(days=keep_days - 1)
    deleted = db.session.execute(sa.delete(CoverageCount).where(CoverageCount.day < oldest_kept))
    db.session.commit()
    return deleted.rowcount


@click.command("prune-coverage")
@click.option("--keep-days", type=click.IntRange(min=1), default=KEEP_DAYS, show_default=True)
def prune_coverage_command(keep_days):
    """Delete coverage counts older than KEEP_DAYS days (the deploy guide runs this daily)."""
    deleted = prune(today=local_date(local_now()), keep_days=keep_days)
    click.echo(f"Deleted {deleted} coverage count row(s) older than {keep_days} days.")


def check_config(config):
    """Refuse a COVERAGE_GAP_M the distance bands cannot tell, at start-up."""
    gap_m = config["COVERAGE_GAP_M"]
    if not (BAND_M <= gap_m <= LAST_BAND_M and gap_m % BAND_M == 0):
        raise RuntimeError(
            f"COVERAGE_GAP_M must be a multiple of {BAND_M} from {BAND_M} to {LAST_BAND_M}."
        )


def _write_at_exit(app):
    """Write what is pending when the process ends (best effort: the database may be gone)."""
    if app.extensions["stations.coverage"].counts:
        with app.app_context():
            try:
                write_counts()
            except sa.exc.SQLAlchemyError:
                app.logger.warning("Coverage counts of this process could not be written")
            finally:
                db.session.remove()
                db.engine.dispose()  # the connection closed before the process ends


def init_app(app):
    """Keep the app's pending counts, write them at exit, add the prune-coverage command."""
    check_config(app.config)
    app.extensions["stations.coverage"] = _Pending()
    atexit.register(_write_at_exit, app)
    app.cli.add_command(prune_coverage_command)
