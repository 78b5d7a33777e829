"""Opening hours in OSM syntax, evaluated in Asia/Shanghai time; temporary closures that end."""

import re
from datetime import datetime, time, timedelta
from functools import lru_cache
from typing import NamedTuple
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


def local_date(at):
    """The calendar day in Shenzhen at an instant."""
    return at.astimezone(SHENZHEN_TZ).date()


def effective_status(*, status, closed_until, at):
    """The status in force at `at`: a temporary closure with an end date ends by itself.

    `closed_until` is the last day closed: "until Thursday" is closed through Thursday and in
    service again from Friday 00:00 Shenzhen time, whether or not a manager reopens it.
    """
    if status == "temporarily_closed" and closed_until is not None:
        if closed_until < local_date(at):
            return "open"
    return status


class OpenState(NamedTuple):
    """A station at an instant: the status in force, whether it is open (None: its hours are
    unknown), and when that next changes (None: never, or unknown)."""

    status: str
    open_now: bool | None
    next_change_at: datetime | None


def state_at(*, hours, status, closed_until, at):
    """The station's OpenState at `at`: a temporary closure past its last day is over."""
    status = effective_status(status=status, closed_until=closed_until, at=at)
    if status != "open":
        return OpenState(status, False, None)
    if not hours:
        return OpenState(status, None, None)
    return OpenState(status, *_hours_state(hours, at))


def is_open_at(*, hours, status, at, closed_until=None):
    """True or False, or None where the hours are unknown; closed stations are never open
    (a temporary closure only until the end of its `closed_until` day)."""
    return state_at(hours=hours, status=status, at=at, closed_until=closed_until).open_now


def open_state_at(*, hours, status, at, closed_until=None):
    """(open now, when that next changes): is_open_at, and when a station in service next opens
    or closes (Shenzhen time; None if never, or if the hours are unknown)."""
    state = state_at(hours=hours, status=status, at=at, closed_until=closed_until)
    return state.open_now, state.next_change_at


# hours -> (from, until, open now, next change): one evaluation serves every request until the
# state changes, and a city has few distinct opening_hours (a rider's list repeats them).
_STATES = {}
_STATES_MAX = 4096
_STATE_HELD_AT_MOST = timedelta(days=1)


def _hours_state(hours, at):
    """(open, next change) by the hours alone: True, False, or None (unknown, no next change)."""
    held = _STATES.get(hours)
    if held is not None and held[0] <= at < held[1]:
        return held[2], held[3]
    local = at.astimezone(SHENZHEN_TZ)
    rules = parse_hours(hours)
    state, _comment = rules.state(local)
    next_change = rules.next_change(local)
    if state == opening_hours.State.UNKNOWN:
        answer = (None, None)
    else:
        answer = (state == opening_hours.State.OPEN, next_change)
    # The state holds until its next change; "never changes" is re-checked daily all the same.
    until = min(next_change or at + _STATE_HELD_AT_MOST, at + _STATE_HELD_AT_MOST)
    if len(_STATES) >= _STATES_MAX:
        _STATES.clear()
    _STATES[hours] = (at, until, *answer)
    return answer


def open_state_since(*, hours, status, at, closed_until=None):
    """When is_open_at() last changed its answer before `at` (at most 8 days back).

    None when the answer does not depend on the time (closed stations, unknown hours). A
    temporary closure that has ended counts as a change at 00:00 after its last day.
    """
    in_force = effective_status(status=status, closed_until=closed_until, at=at)
    reopened = None
    if in_force != status:
        reopened = datetime.combine(closed_until + timedelta(days=1), time(0), SHENZHEN_TZ)
    if in_force != "open" or not hours:
        return reopened
    minute = at.astimezone(SHENZHEN_TZ).replace(second=0, microsecond=0)
    since = _state_began(hours, minute)
    return since if reopened is None else max(since, reopened)


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
