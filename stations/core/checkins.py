"""Rider check-ins: one tap per fact (open now, five amenities), yes or no, told apart by device.

A device is a random id the rider's browser keeps; only its SHA-256 is stored, with no account,
IP address or key. A device's check-ins on a station within an hour count once: its latest word
replaces the earlier one. Check-ins never change the station: the manager's flags stay the
answer the filters use. What riders said is summed, per request, for the stations shown (see
station_json.py for why a check-in does not renumber its station).
"""

import hashlib
from datetime import datetime, timedelta
from typing import NamedTuple

import sqlalchemy as sa

from .db import db, iso
from .hours import state_at
from .models import CHECKIN_AMENITIES, CHECKIN_FACTS, Checkin, Station

REPEAT_WINDOW = timedelta(hours=1)  # a device's check-ins within it count once
DAY = timedelta(hours=24)
WEEK = timedelta(days=7)
DISAGREEING_DEVICES = 3  # this many devices in 24 hours against the manager: "otherwise"
STALE_AFTER = timedelta(days=30)  # unconfirmed for this long: "may be out of date"


class ManagerFacts(NamedTuple):
    """What the station's managers say: when they last confirmed it all, and their flags."""

    verified_at: datetime | None
    flags: dict  # amenity name -> True, False or None (unknown)


class FactCheckins(NamedTuple):
    """What riders said about one fact of one station in the last 30 days.

    Counts are of distinct devices. `*_recent` count the last 24 hours, but only after the
    manager's latest confirmation: a manager who checked settles what riders said before.
    """

    last_yes_at: datetime | None = None
    last_no_at: datetime | None = None
    last_as_expected_at: datetime | None = None  # the latest agreeing with the data then
    yes_24h: int = 0
    no_24h: int = 0
    yes_7d: int = 0
    no_7d: int = 0
    yes_recent: int = 0
    no_recent: int = 0
    unexpected_recent: int = 0  # disagreeing with the data at their moment
    # The latest check-ins that have left the 24-hour and the 7-day windows (Last-Modified).
    left_day_at: datetime | None = None
    left_week_at: datetime | None = None


NO_CHECKINS = FactCheckins()


def device_hash(device):
    """What is stored of a device id."""
    return hashlib.sha256(device.encode()).hexdigest()


def manager_facts(station):
    """The ManagerFacts of a station row."""
    flags = {name: getattr(station, name) for name in CHECKIN_AMENITIES}
    return ManagerFacts(station.verified_at, flags)


def expected_values(station, at):
    """{fact: what the station's data says at `at`}: open now (None: hours unknown), the flags."""
    state = state_at(
        hours=station.opening_hours, status=station.status, closed_until=station.closed_until, at=at
    )
    return {"open": state.open_now} | manager_facts(station).flags


def record_checkin(station, facts, *, device, at):
    """Store a rider's check-in of `facts` ({fact: bool}) at a station; the caller commits.

    True when something new was counted, False when it only repeated (and replaced) this
    device's check-ins of the last hour.
    """
    digest = device_hash(device)
    earlier = db.session.scalars(
        sa.select(Checkin)
        .where(
            Checkin.station_id == station.id,
            Checkin.device == digest,
            Checkin.at > at - REPEAT_WINDOW,
        )
        .order_by(Checkin.at)
    ).all()
    latest = {row.fact: row for row in earlier}
    expected = expected_values(station, at)
    counted = False
    for fact, value in facts.items():
        row = latest.get(fact)
        if row is None:
            counted = True
            row = Checkin(station_id=station.id, fact=fact, device=digest)
            db.session.add(row)
        row.value, row.expected, row.at = value, expected[fact], at
    return counted


def prune(*, now):
    """Delete the check-ins older than anything reads (STALE_AFTER); how many rows."""
    deleted = db.session.execute(sa.delete(Checkin).where(Checkin.at < now - STALE_AFTER))
    db.session.commit()
    return deleted.rowcount


_C = Checkin.__table__
_S = Station.__table__

# A station's latest check-in, as a column of a query on stations (the search rows of geo.py):
# an index lookup that tells whether what riders said of it can have changed.
LAST_CHECKIN = (
    sa.select(sa.func.max(_C.c.at))
    .where(_C.c.station_id == _S.c.id)
    .scalar_subquery()
    .label("last_checkin_at")
)


def _devices(condition):
    return sa.func.count(sa.distinct(sa.case((condition, _C.c.device))))


def _latest(condition):
    return sa.func.max(sa.case((condition, _C.c.at)))


def _summary_query():
    """What riders said of each fact of some stations (FactCheckins' fields), in one statement:
    built once, its times given at each call."""
    day = _C.c.at > sa.bindparam("day_ago")
    week = _C.c.at > sa.bindparam("week_ago")
    recent = sa.and_(day, sa.or_(_S.c.verified_at.is_(None), _C.c.at > _S.c.verified_at))
    yes, no = _C.c.value, sa.not_(_C.c.value)
    columns = (
        _latest(yes),
        _latest(no),
        _latest(_C.c.value == _C.c.expected),
        _devices(sa.and_(yes, day)),
        _devices(sa.and_(no, day)),
        _devices(sa.and_(yes, week)),
        _devices(sa.and_(no, week)),
        _devices(sa.and_(yes, recent)),
        _devices(sa.and_(no, recent)),
        _devices(sa.and_(recent, _C.c.value != _C.c.expected)),
        _latest(sa.not_(day)),
        _latest(sa.not_(week)),
    )
    return (
        sa.select(_C.c.station_id, _C.c.fact, *columns)
        .select_from(_C.join(_S, _S.c.id == _C.c.station_id))
        .where(_C.c.station_id.in_(sa.bindparam("ids", expanding=True)))
        .where(_C.c.at > sa.bindparam("since"))
        .group_by(_C.c.station_id, _C.c.fact)
    )


_SUMMARY = _summary_query()


def checkin_summaries(station_ids, *, now):
    """{station_id: {fact: FactCheckins}} for these stations, in one query; absent means none."""
    ids = list(set(station_ids))
    if not ids:
        return {}
    times = {"day_ago": now - DAY, "week_ago": now - WEEK, "since": now - STALE_AFTER}
    summaries = {}
    for station_id, fact, *values in db.session.connection().execute(
        _SUMMARY, times | {"ids": ids}
    ):
        summaries.setdefault(station_id, {})[fact] = FactCheckins(*values)
    return summaries


def _riders_on(fact, said, manager):
    """(when riders last confirmed what the station's data says of a fact, how many devices
    said otherwise lately)."""
    if fact == "open":
        return said.last_as_expected_at, said.unexpected_recent
    flag = manager.flags[fact]
    confirmed = {True: said.last_yes_at, False: said.last_no_at}.get(flag)
    return confirmed, {True: said.no_recent, False: said.yes_recent}.get(flag, 0)


def confirmations(checkins, manager, *, now):
    """The check-in fields of a station's JSON: per fact when it was last confirmed and by
    whom, how many riders said yes or no; whether riders report otherwise; whether it may be
    out of date. `checkins` is {fact: FactCheckins}, `manager` the station's ManagerFacts."""
    facts = {}
    for fact in CHECKIN_FACTS:
        said = checkins.get(fact, NO_CHECKINS)
        riders_at, against = _riders_on(fact, said, manager)
        by, at = _newest(("manager", manager.verified_at), ("riders", riders_at))
        facts[fact] = {
            "confirmed_at": iso(at),
            "confirmed_by": by,
            "riders_yes_24h": said.yes_24h,
            "riders_no_24h": said.no_24h,
            "riders_yes_7d": said.yes_7d,
            "riders_no_7d": said.no_7d,
            "riders_otherwise": against >= DISAGREEING_DEVICES,
        }
    latest = _last_confirmed(checkins, manager)
    return {
        "confirmations": facts,
        "riders_report_otherwise": any(f["riders_otherwise"] for f in facts.values()),
        "may_be_out_of_date": latest is None or latest <= now - STALE_AFTER,
    }


def riders_against(stations, *, now):
    """{station id: {fact: devices against the station's data}} for those of these stations
    where riders report otherwise (for their managers)."""
    said = checkin_summaries((station.id for station in stations), now=now)
    found = {}
    for station in stations:
        manager, theirs = manager_facts(station), said.get(station.id, {})
        against = {
            fact: _riders_on(fact, theirs.get(fact, NO_CHECKINS), manager)[1]
            for fact in CHECKIN_FACTS
        }
        against = {fact: n for fact, n in against.items() if n >= DISAGREEING_DEVICES}
        if against:
            found[station.id] = against
    return found


def _last_confirmed(checkins, manager):
    """When the manager or riders last confirmed any fact of the station; None if never."""
    moments = [manager.verified_at]
    for fact in CHECKIN_FACTS:
        moments.append(_riders_on(fact, checkins.get(fact, NO_CHECKINS), manager)[0])
    return max(filter(None, moments), default=None)


def changed_at(checkins, manager, *, now):
    """When the check-in fields last changed by the passing of time alone (a check-in leaving a
    window, the station going out of date), for Last-Modified; None if never. (A check-in
    leaving the 30 days read is not seen: the ETag, a hash of the body, still changes.)"""
    moments = []
    for said in checkins.values():
        if said.left_day_at:
            moments.append(said.left_day_at + DAY)
        if said.left_week_at:
            moments.append(said.left_week_at + WEEK)
    latest = _last_confirmed(checkins, manager)
    if latest is not None and latest + STALE_AFTER <= now:
        moments.append(latest + STALE_AFTER)
    return max(moments, default=None)


def _newest(*pairs):
    """(who, when) of the latest of these; (None, None) when none has a time."""
    dated = [pair for pair in pairs if pair[1] is not None]
    return max(dated, key=lambda pair: pair[1]) if dated else (None, None)
