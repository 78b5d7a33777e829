"""The station change feed: every station change numbered in commit order, deletions included.

Database triggers (migration 0003) number each change, handing numbers only to the one
transaction allowed to write stations at a time, so that they become visible in order. A page
is read up to the highest number visible when the call began: every change at or below it has
committed, so a cursor never skips a change that commits later. A station changed again between
two calls is sent again under its new number; replaying every page in order, from the start,
rebuilds exactly the current stations.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import sqlalchemy as sa

from .db import db
from .hours import local_now
from .models import Checkin, Report, Station, StationTombstone
from .station_json import station_json

# Station JSON fields worked out at each request (from the time, or from rider reports and
# check-ins), not stored: the feed and the export carry the stored record only; the live
# endpoints have these.
LIVE_FIELDS = (
    "open_now",
    "next_change_at",
    "open_reports",
    "confirmations",
    "riders_report_otherwise",
    "may_be_out_of_date",
)
# What Last-Modified says before anything was ever stored.
_BEGINNING = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Change:
    """One entry of the feed: a station as it is now, or the id of a deleted one."""

    seq: int
    station_id: int
    station: object | None = None  # a Station row; None for a deletion
    tombstone: StationTombstone | None = None


class CursorAhead(Exception):
    """The cursor is past the last change: the data was restored or replaced since."""


def station_record(row, *, coord):
    """A station's stored fields, as the API shows them, without the live ones."""
    item = station_json(row, coord=coord, now=local_now(), open_reports=0)
    return {name: value for name, value in item.items() if name not in LIVE_FIELDS}


def data_version():
    """(the last change number, the time of the latest change) of the data the API shows.

    The time counts rider reports and check-ins too (they are in every station's JSON). One
    statement, so everything comes from one snapshot; each part is an index lookup.
    """
    latest = [
        sa.select(sa.func.max(column)).scalar_subquery()
        for column in (
            Station.change_seq,
            StationTombstone.change_seq,
            Station.updated_at,
            StationTombstone.deleted_at,
            Report.created_at,
            Report.resolved_at,
            Checkin.at,
        )
    ]
    seq, gone_seq, *moments = db.session.execute(sa.select(*latest)).one()
    changed = [moment for moment in moments if moment is not None]
    return max(seq or 0, gone_seq or 0), max(changed, default=_BEGINNING)


def changes_since(*, after_seq=0, after_time=None, limit):
    """Up to `limit` changes numbered above after_seq (or made after after_time), in order.

    Returns (changes, next_cursor, has_more). Raises CursorAhead for a cursor past the end.
    """
    last_seq, _ = data_version()
    if after_seq > last_seq:
        raise CursorAhead(last_seq)
    in_range = (Station.change_seq > after_seq, Station.change_seq <= last_seq)
    gone_range = (
        StationTombstone.change_seq > after_seq,
        StationTombstone.change_seq <= last_seq,
    )
    if after_time is not None:
        in_range += (Station.updated_at > after_time,)
        gone_range += (StationTombstone.deleted_at > after_time,)
    stations = db.session.scalars(
        sa.select(Station).where(*in_range).order_by(Station.change_seq).limit(limit + 1)
    ).all()
    tombstones = db.session.scalars(
        sa.select(StationTombstone)
        .where(*gone_range)
        .order_by(StationTombstone.change_seq)
        .limit(limit + 1)
    ).all()
    changes = sorted(
        [Change(row.change_seq, row.id, station=row) for row in stations]
        + [Change(row.change_seq, row.station_id, tombstone=row) for row in tombstones],
        key=lambda change: change.seq,
    )
    if len(changes) > limit:
        return changes[:limit], changes[limit - 1].seq, True
    # Everything numbered up to last_seq has been sent (or moved past it, to be sent later).
    return changes, max(after_seq, last_seq), False


def parse_since(text):
    """A cursor (digits) as (seq, None), or an RFC 3339 time as (0, an aware datetime in UTC).

    Raises ValueError with a reason a person can act on.
    """
    if text.isascii() and text.isdigit():
        if len(text) > 18:
            raise ValueError("must be a cursor from next_cursor or an ISO-8601 time")
        return int(text), None
    match = _RFC3339.fullmatch(text)
    if match is None:
        if _NO_ZONE.fullmatch(text):
            raise ValueError("must give the time zone of the time, such as Z or +08:00")
        raise ValueError(
            "must be a cursor from next_cursor or an ISO-8601 time such as 2026-05-01T08:00:00Z"
        )
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        offset = timedelta(0)
        if zone.upper() != "Z":
            sign = -1 if zone[0] == "-" else 1
            offset = sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            min(int(second), 59),  # a leap second reads as the second before it
            int((fraction or ".0")[1:7].ljust(6, "0")),
            tzinfo=timezone(offset),
        )
    except ValueError:
        raise ValueError("must be a real date and time, such as 2026-05-01T08:00:00Z") from None
    try:
        return 0, moment.astimezone(UTC)
    except OverflowError:  # within a day of the first or last representable moment
        return 0, (datetime.min if moment.year == 1 else datetime.max).replace(tzinfo=UTC)


_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})",
    re.ASCII,
)
_NO_ZONE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt ][0-9:.]+)?", re.ASCII)
