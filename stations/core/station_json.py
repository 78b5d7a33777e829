"""Stations as the API shows them: the stored fields, kept per process, and the live ones.

The stored fields of a station's item (name, amenities, dates...) change only with the station,
and every change gives it a new change_seq (see changes.py). So each process works them out once
and reuses them while a search row brings the same change_seq. The live fields (the position in
the asked datum, the status in force, open now, open reports) are worked out for every answer.
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

from functools import lru_cache
from operator import attrgetter

import orjson
import sqlalchemy as sa

from . import datum
from .checkins import checkin_summaries, confirmations, manager_facts
from .db import db, iso
from .hours import local_now, state_at
from .models import AMENITIES, Station

_STATION = Station.__table__
_amenities_of = attrgetter(*AMENITIES)
# station id -> (its change_seq, its stored fields as JSON object members, its stored
# (closed_reason, closed_until), its checkins.ManagerFacts), for every station this process
# has shown.
_stored = {}
# station id -> ((its change_seq, its latest check-in, the minute), its check-in fields), for
# the stations this process has listed: a new check-in or a change to the station makes them
# be worked out again, and so does the next minute (riders' counts are of the last 24 hours).
_confirmed = {}
_LOAD_SLICE = 2000
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
    stale = [
        f.station.id for f in found if _stored.get(f.station.id, (None,))[0] != f.station.change_seq
    ]
    if stale:
        _remember(stale)
    _confirm([f.station for f in found if f.station.id in _stored])
    items = []
    for row, distance_m, state in found:
        if row.id in _stored:
            _seq, members, closure, _manager = _stored[row.id]
            live = _live_fields(row, state, closure, coord=coord, open_reports=row.open_reports)
            live |= _confirmed[row.id][1]
            live["distance_m"] = round(distance_m, 1)
            # Two JSON objects with no key in common, made one: {live..., stored...}.
            items.append(orjson.Fragment(orjson.dumps(live)[:-1] + b"," + members + b"}"))
    return items


def forget_stored():
    """Empty the store (tests roll back changes, and with them change numbers)."""
    _stored.clear()
    _confirmed.clear()


def _confirm(rows):
    """Keep the check-in fields of these search rows (stations in the store) up to date: one
    query for those with check-ins whose fields are not current, none for the others."""
    now = local_now()
    minute = int(now.timestamp() // 60)
    keys = {row.id: (row.change_seq, row.last_checkin_at, minute) for row in rows}
    stale = [row for row in rows if _confirmed.get(row.id, (None,))[0] != keys[row.id]]
    if not stale:
        return
    said = checkin_summaries((row.id for row in stale if row.last_checkin_at is not None), now=now)
    for row in stale:
        fields = confirmations(said.get(row.id, {}), _stored[row.id][3], now=now)
        _confirmed[row.id] = (keys[row.id], fields)


def _remember(station_ids):
    """Keep the stored fields of these stations (of all stations, the first time)."""
    if _stored:
        rows = db.session.execute(sa.select(_STATION).where(_STATION.c.id.in_(station_ids)))
        gone = set(station_ids) - {row.id for row in _keep(rows)}
        for station_id in gone:  # deleted since the search
            _stored.pop(station_id, None)
        return
    # All of them, a slice at a time: a whole table of rows at once would swell the worker.
    after_id = 0
    while rows := db.session.execute(
        sa.select(_STATION)
        .where(_STATION.c.id > after_id)
        .order_by(_STATION.c.id)
        .limit(_LOAD_SLICE)
    ).all():
        _keep(rows)
        after_id = rows[-1].id


def _keep(rows):
    """Store these station rows; return them."""
    rows = list(rows)
    for row in rows:
        fields = stored_fields(row)
        closure = (fields["closed_reason"], fields["closed_until"])
        members = orjson.dumps({k: v for k, v in fields.items() if k not in _LIVE_FIELDS})
        _stored[row.id] = (row.change_seq, members[1:-1], closure, manager_facts(row))
    return rows


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
