"""The change feed under /api/v1: how a partner keeps an exact copy of the stations."""

from flask import Blueprint, jsonify, request

from ..core.changes import CursorAhead, changes_since, parse_since, station_record
from ..core.replicas import not_behind, public_read
from ..core.station_json import iso
from .params import QueryArgs
from .problems import problem

bp = Blueprint("feed", __name__, url_prefix="/api/v1")

# Room for an RFC 3339 time with a zone and a fraction of a second.
MAX_SINCE_LENGTH = 40


@bp.get("/stations/changes")
@public_read
def changes():
    """Stations created or changed, and ids of stations deleted, after a cursor or a time."""
    args = QueryArgs(request.args, ("since", "limit", "coord"))
    after_seq, after_time = _since(args)
    limit = args.integer("limit", low=1, high=1000, default=100)
    coord = args.coord()
    args.check()
    try:
        found, next_cursor, has_more = changes_since(
            after_seq=after_seq, after_time=after_time, limit=limit
        )
    except CursorAhead:
        # A replica behind a cursor the primary (or a replica ahead of it) gave: ask the primary.
        not_behind()
        return problem(
            409,
            "Conflict",
            "This cursor is ahead of the feed: the data was restored or replaced since. "
            "Drop your copy and replay the feed from the start (no since).",
        )
    items = [_change_json(change, coord=coord) for change in found]
    response = jsonify(changes=items, next_cursor=str(next_cursor), has_more=has_more, coord=coord)
    response.headers["Cache-Control"] = "no-cache"
    return response


def _since(args):
    """(after_seq, after_time) from `since`, a cursor or a time; (0, None) without one."""
    since = args.text("since", max_length=MAX_SINCE_LENGTH)
    if since is None:
        return 0, None
    try:
        return parse_since(since)
    except ValueError as error:
        args.errors["since"] = str(error)
        return 0, None


def _change_json(change, *, coord):
    if change.station is not None:
        station = station_record(change.station, coord=coord)
        return {"seq": change.seq, "op": "upsert", "id": change.station_id, "station": station}
    tombstone = change.tombstone
    return {
        "seq": change.seq,
        "op": "delete",
        "id": change.station_id,
        "external_id": tombstone.external_id,
        "reason": "deleted",
        "deleted_at": iso(tombstone.deleted_at),
    }
