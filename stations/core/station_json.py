"""Stations as the API shows them: the stored fields, kept per process, and the live ones.

The stored fields of a station's item (name, amenities, dates...) change only with the station,
and every change gives it a new change_seq (see changes.py). So each process works them out once
and reuses them while a search row brings the same change_seq, for the STORE_SIZE stations it
showed last (a bounded LRU: a worker's memory does not grow with the number of stations).
The live fields (the position in the asked datum, the status in force, open now, open reports)
are worked out for every answer.
Only read-only requests fill the store, so what it keeps was committed.

Rider check-ins are live fields too (checkins.py): summed at each request for one station or a
box; for nearest, kept per station until its latest check-in or change_seq moves, or a minute
passes (a search row brings its latest check-in time). A check-in does not renumber its
station: that would update the station row, bumping the version that every manager's open form
was read at (their next save would be refused as stale), queue riders' taps behind the one
station writer the change numbers allow, and fill the change feed, which carries the stations'
own record, with riders' taps. So the feed and export leave them out, and Last-Modified counts
check-ins as it counts reports (changes.data_version).
"""

from collections import OrderedDict
from contextlib import suppress
from datetime import UTC
from functools import lru_cache
from operator import attrgetter

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from . import datum
from .checkins import checkin_summaries, confirmations, manager_facts
from .db import DriverStatement, UTCDateTime, db, iso, read_connection
from .hours import local_now, state_at
from .models import AMENITIES, Station

_STATION = Station.__table__
_INSTANTS = [column.key for column in _STATION.columns if isinstance(column.type, UTCDateTime)]
_amenities_of = attrgetter(*AMENITIES)
# station id -> (its change_seq, its stored fields as JSON object members, its stored
# (closed_reason, closed_until), its checkins.ManagerFacts), for the STORE_SIZE stations this
# process showed last: ~1 KB each, so ~50 MB at most, whatever the number of stations (a
# rider's searches stay local).
STORE_SIZE = 50_000
_stored = OrderedDict()
# station id -> ((its change_seq, its latest check-in, the minute), its check-in fields), for
# the STORE_SIZE stations this process listed last: a new check-in or a change to the station
# makes them be worked out again, and so does the next minute (riders' counts are of the last
# 24 hours).
_confirmed = OrderedDict()
# What _live_fields works out: never kept in the store.
_LIVE_FIELDS = set(
    "id lat lng open_now next_change_at status closed_reason closed_until open_reports "
    "confirmations riders_report_otherwise may_be_out_of_date".split()
)


def station_json(row, *, coord, now, open_reports, checkins=None):
    """The public fields of a station row (all its columns), its position given in `coord`.

    `open_reports` is its number of open rider reports (see reports.open_report_counts),
    `checkins` what riders said of it ({fact: FactCheckins}, see checkins.checkin_summaries).
    The status is the one in force `now`: a temporary closure past its end date is over.
    """
    item = stored_fields(row)
    state = state_at(
        hours=row.opening_hours, status=row.status, closed_until=row.closed_until, at=now
    )
    closure = (item["closed_reason"], item["closed_until"])
    item.update(_live_fields(row, state, closure, coord=coord, open_reports=open_reports))
    item.update(confirmations(checkins or {}, manager_facts(row), now=now))
    return item


def station_items(found, *, coord):
    """station_json, with distance_m, for what geo.nearest_stations found, as JSON.

    The stored fields come from this process's store, already in JSON, and each item is one
    orjson.Fragment. A station deleted since the search is left out. The check-in fields are
    kept per process too (_confirm): read again, in one query, only for stations with a check-in
    or a change since, or after a minute.
    """
    held = {}
    stale = []
    for f in found:
        entry = _stored.get(f.station.id)
        if entry is not None and entry[0] == f.station.change_seq:
            held[f.station.id] = entry
            with suppress(KeyError):  # another thread's request may have let it go meanwhile
                _stored.move_to_end(f.station.id)
        else:
            stale.append(f.station.id)
    if stale:
        held |= _remember(stale)
    confirmed = _confirm([f.station for f in found if f.station.id in held], held)
    items = []
    for row, distance_m, state in found:
        if row.id in held:
            _seq, members, closure, _manager = held[row.id]
            live = _live_fields(row, state, closure, coord=coord, open_reports=row.open_reports)
            live |= confirmed[row.id]
            live["distance_m"] = round(distance_m, 1)
            # Two JSON objects with no key in common, made one: {live..., stored...}.
            items.append(orjson.Fragment(orjson.dumps(live)[:-1] + b"," + members + b"}"))
    return items


def forget_stored():
    """Empty the store (tests roll back changes, and with them change numbers)."""
    _stored.clear()
    _confirmed.clear()


def _confirm(rows, held):
    """{station id: check-in fields} of these search rows (whose store entries are `held`), kept
    up to date: one query for those with check-ins whose fields are not current, none for the
    others."""
    now = local_now()
    minute = int(now.timestamp() // 60)
    keys = {row.id: (row.change_seq, row.last_checkin_at, minute) for row in rows}
    found = {}
    for row in rows:
        kept = _confirmed.get(row.id)
        if kept is not None and kept[0] == keys[row.id]:
            found[row.id] = kept[1]
            with suppress(KeyError):  # as in station_items
                _confirmed.move_to_end(row.id)
    stale = [row for row in rows if row.id not in found]
    if not stale:
        return found
    said = checkin_summaries((row.id for row in stale if row.last_checkin_at is not None), now=now)
    for row in stale:
        found[row.id] = confirmations(said.get(row.id, {}), held[row.id][3], now=now)
        _confirmed[row.id] = (keys[row.id], found[row.id])
    while len(_confirmed) > STORE_SIZE:
        _confirmed.popitem(last=False)
    return found


def _remember(station_ids):
    """Read these stations' stored fields and keep them, the least recently used leaving past
    STORE_SIZE; {station id: entry} of those still there (not deleted since the search)."""
    dialect = db.session.get_bind().dialect
    if dialect.name == "postgresql":  # on the driver, as the search: no session, no transaction
        with read_connection() as connection:
            rows = _by_ids(dialect).rows(connection, {"ids": list(station_ids)})
        rows = [row._replace(**_in_utc(row)) for row in rows]
    else:
        rows = db.session.execute(sa.select(_STATION).where(_STATION.c.id.in_(station_ids)))
    fresh = {row.id: _entry(row) for row in rows}
    for station_id in station_ids:
        _stored.pop(station_id, None)  # deleted since the search, or about to be renewed
    _stored.update(fresh)
    while len(_stored) > STORE_SIZE:
        _stored.popitem(last=False)
    return fresh


@lru_cache(maxsize=2)
def _by_ids(dialect):
    """PostgreSQL: the stations whose ids are in the array `ids`, every column."""
    ids = sa.bindparam("ids", type_=postgresql.ARRAY(sa.Integer))
    return DriverStatement(sa.select(_STATION).where(_STATION.c.id == sa.func.any(ids)), dialect)


def _in_utc(row):
    """The driver gives instants in the connection's time zone: in UTC, as UTCDateTime does."""
    return {name: getattr(row, name).astimezone(UTC) for name in _INSTANTS if getattr(row, name)}


def _entry(row):
    """A station row's store entry: (change_seq, stored fields as JSON members, closure, the
    manager's facts)."""
    fields = stored_fields(row)
    closure = (fields["closed_reason"], fields["closed_until"])
    members = orjson.dumps({k: v for k, v in fields.items() if k not in _LIVE_FIELDS})
    return row.change_seq, members[1:-1], closure, manager_facts(row)


def stored_fields(row):
    """The item's fields that change only with the station; the live ones are placeholders,
    so that every item lists its fields in this order."""
    return {
        "id": row.id,
        "external_id": row.external_id,
        "name": row.name,
        "kind": row.kind,
        "lat": None,
        "lng": None,
        "address": row.address,
        "district": row.district,
        "phone": row.phone,
        "amenities": dict(zip(AMENITIES, _amenities_of(row), strict=True)),
        "opening_hours": row.opening_hours,
        "open_now": None,
        "next_change_at": None,
        "status": row.status,
        "closed_reason": row.closed_reason,
        "closed_until": row.closed_until.isoformat() if row.closed_until else None,
        "open_reports": 0,
        "confirmations": None,
        "riders_report_otherwise": False,
        "may_be_out_of_date": False,
        "verified_at": iso(row.verified_at),
        "updated_at": iso(row.updated_at),
        "is_sample": row.is_sample,
    }


def _live_fields(row, state, closure, *, coord, open_reports):
    """The fields of the moment: the position in `coord`, and the station's state (an OpenState).

    `row` has the station's id, lat and lng (WGS-84); `closure` is the stored (closed_reason,
    closed_until as text), shown while a closure is in force.
    """
    lat, lng = datum.from_wgs84(coord, lat=row.lat, lng=row.lng)
    closed = state.status == "temporarily_closed"
    return {
        "id": row.id,
        "lat": round(lat, 7),
        "lng": round(lng, 7),
        "open_now": state.open_now,
        "next_change_at": _iso_cached(state.next_change_at),
        "status": state.status,
        "closed_reason": closure[0] if closed else None,
        "closed_until": closure[1] if closed else None,
        "open_reports": open_reports,
    }


# Next changes repeat from answer to answer (the same hours change at the same moments).
_iso_cached = lru_cache(maxsize=1024)(iso)


def station_feature(item):
    """A station item as a GeoJSON Feature (RFC 7946: WGS-84, [lng, lat])."""
    properties = {k: v for k, v in item.items() if k not in ("lat", "lng")}
    point = {"type": "Point", "coordinates": [item["lng"], item["lat"]]}
    return {"type": "Feature", "id": item["id"], "geometry": point, "properties": properties}
