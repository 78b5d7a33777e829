"""Opening hours in OSM syntax, evaluated in Asia/Shanghai time."""

import re
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import opening_hours

SHENZHEN_TZ = ZoneInfo("Asia/Shanghai")


@lru_cache(maxsize=2048)
def parse_hours(expression):
    """The parsed expression; raises ValueError with the parser's reason when it is invalid."""
    try:
        return opening_hours.OpeningHours(expression, timezone=SHENZHEN_TZ, country="CN")
    except (opening_hours.ParserError, SyntaxError) as error:
        where = re.search(r"--> \d+:(\d+)", str(error))
        at = f" (at character {where.group(1)})" if where else ""
        raise ValueError(f"is not valid OpenStreetMap opening_hours syntax{at}") from None


def local_now():
    """The current time in Shenzhen."""
    return datetime.now(SHENZHEN_TZ)


def is_open_at(*, hours, status, at):
    """True or False, or None where the hours are unknown; closed stations are never open."""
    if status != "open":
        return False
    if not hours:
        return None
    state, _comment = parse_hours(hours).state(at.astimezone(SHENZHEN_TZ))
    if state == opening_hours.State.UNKNOWN:
        return None
    return state == opening_hours.State.OPEN


def open_state_at(*, hours, status, at):
    """(open now, when that next changes): is_open_at, and when a station in service next opens
    or closes (Shenzhen time; None if never, or if the hours are unknown)."""
    open_now = is_open_at(hours=hours, status=status, at=at)
    if status != "open" or open_now is None:
        return open_now, None
    return open_now, parse_hours(hours).next_change(at.astimezone(SHENZHEN_TZ))


def open_state_since(*, hours, status, at):
    """When is_open_at() last changed its answer before `at` (at most 8 days back).

    None when the answer does not depend on the time (closed stations, unknown hours).
    """
    if status != "open" or not hours:
        return None
    minute = at.astimezone(SHENZHEN_TZ).replace(second=0, microsecond=0)
    return _state_began(hours, minute)


@lru_cache(maxsize=4096)
def _state_began(hours, minute):
    # A midnight a week or more back: a state older than that reads as starting there, which is
    # later than the truth (safe for Last-Modified) and stays the same all day.
    start = (minute - timedelta(days=8)).replace(hour=0, minute=0)
    for begin, end, _state, _comment in parse_hours(hours).intervals(start, minute + _MINUTE):
        if begin <= minute < end:
            return max(begin, start)
    return start


_MINUTE = timedelta(minutes=1)
