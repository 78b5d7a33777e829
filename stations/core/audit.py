"""The one way stations change: every write goes through here and leaves an audit row per field.

Values are stored as JSON text ("true", "null", "\"Mo-Su 08:00-20:00\""), so unknown (null) and
an empty string stay distinct.
"""

import json
from datetime import date

import sqlalchemy as sa
from flask import has_request_context, request
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError

from .db import db, utcnow
from .models import SOURCES, AuditEntry, Station

# What a station snapshot holds: every column a person can see or change.
SNAPSHOT_FIELDS = tuple(
    column.key for column in Station.__table__.columns if column.key not in ("id", "version")
)


_STATION = Station.__table__
# A new station's columns before its fields are set: what the model's defaults give.
_NEW_STATION = {
    key: None for key in SNAPSHOT_FIELDS if key not in ("change_seq", "created_at", "updated_at")
} | {"status": "open", "is_sample": False, "version": 1}
_ID_BATCH = 500


class EditConflict(Exception):
    """The station changed after the editor read it: nothing was written."""

    def __init__(self, station):
        super().__init__("someone changed this station meanwhile")
        self.station = station


def to_json(value):
    """A field value as JSON text (dates as ISO 8601)."""
    if isinstance(value, date):
        value = value.isoformat()
    return json.dumps(value, ensure_ascii=False)


def json_values(values):
    """A {field: value} dict with JSON-ready values (dates as ISO 8601)."""
    return {
        name: value.isoformat() if isinstance(value, date) else value
        for name, value in values.items()
    }


def snapshot(station):
    """Every visible field of a station, as a JSON-ready dict."""
    return json_values({name: getattr(station, name) for name in SNAPSHOT_FIELDS})


def _snapshot_of(values):
    """snapshot() of a station given as a dict of its column values."""
    return json_values({name: values[name] for name in SNAPSHOT_FIELDS})


def request_origin():
    """(IP address, browser) of the request being served; (None, None) outside one."""
    if not has_request_context():
        return None, None
    return request.remote_addr, (request.user_agent.string or "")[:200] or None


def _record(station_id, field, before, after, *, user, source):
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}")
    entry = AuditEntry(
        station_id=station_id,
        user_id=user.id if user is not None else None,
        source=source,
        field=field,
        before=before,
        after=after,
        at=utcnow(),
    )
    entry.ip, entry.user_agent = request_origin()
    db.session.add(entry)


def apply_changes(station, changes, *, user, source, version=None):
    """Set the fields that really change and audit each; {field: (before, after)} of those.

    With `version` (the one the editor saw), a station changed since then raises EditConflict.
    Does not commit: the caller's transaction holds the change and its audit rows together
    (save() commits them; the importer commits many stations at once).
    """
    if version is not None and version != station.version:
        raise EditConflict(station)
    changed = {}
    with db.session.no_autoflush:  # a stale write must fail in commit(), where it is handled
        for field, value in changes.items():
            before = getattr(station, field)
            if before != value:
                changed[field] = (before, value)
                setattr(station, field, value)
                _record(
                    station.id, field, to_json(before), to_json(value), user=user, source=source
                )
    return changed


def record_created(station, *, user, source):
    """Audit a new station (flushed, so it has an id): one row holding the whole snapshot."""
    _record(station.id, "created", None, to_json(snapshot(station)), user=user, source=source)


def record_retired(station, *, user, source):
    """Audit a station about to be deleted: one row keeping its last snapshot."""
    _record(station.id, "retired", to_json(snapshot(station)), None, user=user, source=source)


def save(station, changes, *, user, source, version=None):
    """Apply `changes` to the station (apply_changes) and commit them, with whatever else the
    session holds; {field: (before, after)} of the fields that changed.

    With `version` (the one the editor saw), a station changed since then raises EditConflict,
    and so does a write that commits after the editor read it (version_id_col): then the session
    is rolled back and nothing of it was written. The conflict carries the station as it is.
    """
    try:
        changed = apply_changes(station, changes, user=user, source=source, version=version)
        db.session.commit()
    except (EditConflict, StaleDataError):
        _conflict(station)
    return changed


def create(station, *, user, source):
    """Add a new station and commit, audited as created."""
    db.session.add(station)
    db.session.flush()
    record_created(station, user=user, source=source)
    db.session.commit()


def create_many(new_stations, *, user, source):
    """Insert new stations (field dicts) with one "created" audit row each, as create() would,
    a few statements for them all; does not commit (the importer's transaction holds them)."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}")
    now = utcnow()
    values = [_NEW_STATION | {"created_at": now, "updated_at": now} | f for f in new_stations]
    insert = sa.insert(_STATION).returning(_STATION.c.id, sort_by_parameter_order=True)
    ids = db.session.execute(insert, values).scalars().all()
    # The change numbers come from triggers (SQLite's runs after the insert): read them back.
    change_seqs = {}
    for start in range(0, len(ids), _ID_BATCH):
        batch = _STATION.c.id.in_(ids[start : start + _ID_BATCH])
        query = sa.select(_STATION.c.id, _STATION.c.change_seq).where(batch)
        change_seqs.update((row.id, row.change_seq) for row in db.session.execute(query))
    ip, user_agent = request_origin()
    entries = [
        {
            "station_id": station_id,
            "user_id": user.id if user is not None else None,
            "source": source,
            "field": "created",
            "before": None,
            "after": to_json(_snapshot_of(station | {"change_seq": change_seqs[station_id]})),
            "at": now,
            "ip": ip,
            "user_agent": user_agent,
        }
        for station_id, station in zip(ids, values, strict=True)
    ]
    if entries:
        db.session.execute(sa.insert(AuditEntry.__table__), entries)


def retire(station, *, user, source):
    """Delete a station and commit, its last snapshot kept in the audit trail.

    Raises EditConflict, nothing written, when the station changed after it was read.
    """
    record_retired(station, user=user, source=source)
    db.session.delete(station)
    try:
        db.session.commit()
    except StaleDataError:
        _conflict(station)


def _conflict(station):
    """Roll back, and raise EditConflict with the station as it now is (None: deleted)."""
    identity = sa.inspect(station).identity  # read without loading: the row may be gone
    db.session.rollback()
    raise EditConflict(db.session.get(Station, identity, populate_existing=True)) from None


def history(station_id, *, limit=100):
    """The station's latest audit entries, newest first."""
    return newest_first(AuditEntry, AuditEntry.station_id == station_id, AuditEntry.user, limit)


def newest_first(entries, condition, author, limit):
    """The latest `limit` rows of an audit table (`entries`) meeting `condition`, newest first,
    with their `author` relationship loaded."""
    query = (
        sa.select(entries)
        .options(selectinload(author))
        .where(condition)
        .order_by(entries.id.desc())
        .limit(limit)
    )
    return db.session.scalars(query).all()
