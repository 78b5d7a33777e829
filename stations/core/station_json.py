"""Stations as the API shows them: the stored fields, kept per process, and the live ones.

The stored fields of a station's item (name, amenities, dates...) change only with the station,
and every change gives it a new change_seq (see changes.py). So each process works them out once
and reuses them while a search row brings the same change_seq. The live fields (the position in
the asked datum, the status in force, open now, open reports) are worked out for every answer.
Only read-only requests fill the store, so what it keeps was committed.
"""

from functools import lru_cache
from operator import attrgetter

import orjson
import sqlalchemy as sa

from . import datum
from .db import db
from .hours import effective_status, open_state_at
from .models import AMENITIES, Station

_STATION = Station.__table__
_amenities_of = attrgetter(*AMENITIES)
# station id -> (its change_seq, its stored fields as JSON object members, its stored
# (closed_reason, closed_until)), for every station this process has shown.
_stored = {}
_LOAD_SLICE = 2000
# What _live_fields works out: never kept in the store.
_LIVE_FIELDS = set(
    "id lat lng open_now next_change_at status closed_reason closed_until open_reports".split()
)


def station_json(row, *, coord, now, open_reports):
    """The public fields of a station row (all its columns), its position given in `coord`.

    `open_reports` is its number of open rider reports (see reports.open_report_counts).
    The status is the one in force `now`: a temporary closure past its end date is over.
    """
    item = stored_fields(row)
    closure = (item["closed_reason"], item["closed_until"])
    station = (row.id, row.lat, row.lng, row.opening_hours, row.status, row.closed_until)
    item.update(_live_fields(station, closure, coord=coord, now=now, open_reports=open_reports))
    return item


def station_items(found, *, coord, now):
    """station_json, with distance_m, for nearest_stations' (row, distance_m) pairs, as JSON.

    The rows hold id, change_seq, lat, lng, opening_hours, status, closed_until and
    open_reports; the stored fields come from this process's store, already in JSON, and
    each item is one orjson.Fragment. A station deleted since the search is left out.
    """
    stale = [
        row.id for row, _distance in found if _stored.get(row.id, (None,))[0] != row.change_seq
    ]
    if stale:
        _remember(stale)
    items = []
    for row, distance in found:
        # Unpacked once: a Row's attributes cost more than its items.
        station_id, _seq, lat, lng, hours, status, closed_until, open_reports = row[:8]
        if station_id in _stored:
            _seq, members, closure = _stored[station_id]
            live = _live_fields(
                (station_id, lat, lng, hours, status, closed_until),
                closure,
                coord=coord,
                now=now,
                open_reports=open_reports,
            )
            live["distance_m"] = round(distance, 1)
            # Two JSON objects with no key in common, made one: {live..., stored...}.
            items.append(orjson.Fragment(orjson.dumps(live)[:-1] + b"," + members + b"}"))
    return items


def forget_stored():
    """Empty the store (tests roll back changes, and with them change numbers)."""
    _stored.clear()


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
        _stored[row.id] = (row.change_seq, members[1:-1], closure)
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
        "verified_at": iso(row.verified_at),
        "updated_at": iso(row.updated_at),
        "is_sample": row.is_sample,
    }


def _live_fields(station, closure, *, coord, now, open_reports):
    """The fields worked out at `now`: position in `coord`, status in force, open now...

    `station` is (id, lat, lng, opening_hours, status, closed_until); `closure` the stored
    (closed_reason, closed_until as text), shown while a closure is in force.
    """
    station_id, wgs84_lat, wgs84_lng, hours, stored_status, closed_until = station
    lat, lng = datum.from_wgs84(coord, lat=wgs84_lat, lng=wgs84_lng)
    status = effective_status(status=stored_status, closed_until=closed_until, at=now)
    open_now, next_change = open_state_at(hours=hours, status=status, at=now)
    closed = status == "temporarily_closed"
    return {
        "id": station_id,
        "lat": round(lat, 7),
        "lng": round(lng, 7),
        "open_now": open_now,
        "next_change_at": _iso_cached(next_change),
        "status": status,
        "closed_reason": closure[0] if closed else None,
        "closed_until": closure[1] if closed else None,
        "open_reports": open_reports,
    }


def iso(moment):
    """An ISO 8601 instant, in UTC written with a Z; None stays None."""
    return moment.isoformat().replace("+00:00", "Z") if moment else None


# Next changes repeat from answer to answer (the same hours change at the same moments).
_iso_cached = lru_cache(maxsize=1024)(iso)


def station_feature(item):
    """A station item as a GeoJSON Feature (RFC 7946: WGS-84, [lng, lat])."""
    properties = {k: v for k, v in item.items() if k not in ("lat", "lng")}
    point = {"type": "Point", "coordinates": [item["lng"], item["lat"]]}
    return {"type": "Feature", "id": item["id"], "geometry": point, "properties": properties}
