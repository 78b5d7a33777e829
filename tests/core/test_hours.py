"""Open now, in Shenzhen time, at fixed instants."""

import random
from datetime import UTC, date, datetime, timedelta

import pytest
from opening_hours import State

from stations.core.hours import (
    SHENZHEN_TZ,
    effective_status,
    is_open_at,
    open_state_at,
    parse_hours,
)


def shenzhen(*args):
    return datetime(*args, tzinfo=SHENZHEN_TZ)


@pytest.mark.parametrize(
    ("hours", "status", "at", "expected"),
    [
        ("24/7", "open", shenzhen(2026, 11, 27, 3, 0), True),
        ("Mo-Su 08:00-20:00", "open", shenzhen(2026, 11, 27, 7, 59), False),
        ("Mo-Su 08:00-20:00", "open", shenzhen(2026, 11, 27, 8, 0), True),
        ("Mo-Su 08:00-20:00", "open", shenzhen(2026, 11, 27, 20, 0), False),
        # Past midnight: Thursday's evening hours still hold at 01:30 on Friday.
        ("Mo-Su 10:00-02:00", "open", shenzhen(2026, 11, 27, 1, 30), True),
        ("Mo-Su 10:00-02:00", "open", shenzhen(2026, 11, 27, 2, 30), False),
        ("Th 18:00-02:00", "open", shenzhen(2026, 11, 27, 1, 0), True),
        ("Fr 18:00-02:00", "open", shenzhen(2026, 11, 27, 1, 0), False),
        ("Mo-Fr 09:00-18:00; Sa,Su 10:00-17:00", "open", shenzhen(2026, 11, 28, 9, 30), False),
        ("Mo-Fr 09:00-18:00; Sa,Su 10:00-17:00", "open", shenzhen(2026, 11, 27, 9, 30), True),
        ("Mo-Su 09:00-12:00,14:00-21:00", "open", shenzhen(2026, 11, 27, 13, 0), False),
        # The instant is converted to Shenzhen time: 17:30 UTC is 01:30 the next day there.
        ("Mo-Su 18:00-02:00", "open", datetime(2026, 11, 26, 17, 30, tzinfo=UTC), True),
        ("Mo-Su 08:00-20:00", "open", datetime(2026, 11, 26, 23, 30, tzinfo=UTC), False),
        ("Mo-Su 08:00-20:00", "open", datetime(2026, 11, 27, 0, 30, tzinfo=UTC), True),
        # Unknown hours are unknown, never open; closed stations are never open.
        (None, "open", shenzhen(2026, 11, 27, 12, 0), None),
        ("", "open", shenzhen(2026, 11, 27, 12, 0), None),
        ("Mo-Su 08:00-20:00 unknown", "open", shenzhen(2026, 11, 27, 12, 0), None),
        ("24/7", "temporarily_closed", shenzhen(2026, 11, 27, 12, 0), False),
        ("24/7", "closed", shenzhen(2026, 11, 27, 12, 0), False),
        (None, "closed", shenzhen(2026, 11, 27, 12, 0), False),
    ],
)
def test_is_open_at(hours, status, at, expected):
    assert is_open_at(hours=hours, status=status, at=at) is expected


@pytest.mark.parametrize("bad", ["garbage", "Mo-Fr 09:00-25:99", "Mo-Fr 9-17", "24/8"])
def test_bad_hours_say_why(bad):
    with pytest.raises(ValueError, match="not valid OpenStreetMap opening_hours syntax"):
        parse_hours(bad)


@pytest.mark.parametrize(
    ("hours", "status", "at", "expected"),
    [
        ("Mo-Su 08:00-20:00", "open", shenzhen(2026, 11, 27, 12, 0), shenzhen(2026, 11, 27, 20, 0)),
        ("Mo-Su 08:00-20:00", "open", shenzhen(2026, 11, 27, 21, 0), shenzhen(2026, 11, 28, 8, 0)),
        ("Mo-Fr 09:00-18:00", "open", shenzhen(2026, 11, 28, 12, 0), shenzhen(2026, 11, 30, 9, 0)),
        ("Mo-Su 10:00-02:00", "open", shenzhen(2026, 11, 27, 1, 0), shenzhen(2026, 11, 27, 2, 0)),
        (
            "Mo-Su 08:00-20:00",
            "open",
            datetime(2026, 11, 27, 4, 0, tzinfo=UTC),
            shenzhen(2026, 11, 27, 20, 0),
        ),
        ("24/7", "open", shenzhen(2026, 11, 27, 12, 0), None),
        (None, "open", shenzhen(2026, 11, 27, 12, 0), None),
        ("Mo-Su 08:00-20:00 unknown", "open", shenzhen(2026, 11, 27, 12, 0), None),
        ("Mo-Su 08:00-20:00", "temporarily_closed", shenzhen(2026, 11, 27, 12, 0), None),
    ],
)
def test_open_state_at_says_when_it_next_changes(hours, status, at, expected):
    open_now, next_change = open_state_at(hours=hours, status=status, at=at)
    assert open_now is is_open_at(hours=hours, status=status, at=at)
    assert next_change == expected


THURSDAY = date(2026, 11, 26)


@pytest.mark.parametrize(
    ("status", "closed_until", "at", "expected"),
    [
        # "Closed until Thursday": closed through Thursday, open from Friday 00:00 in Shenzhen.
        ("temporarily_closed", THURSDAY, shenzhen(2026, 11, 26, 23, 59), "temporarily_closed"),
        ("temporarily_closed", THURSDAY, shenzhen(2026, 11, 27, 0, 0), "open"),
        ("temporarily_closed", THURSDAY, shenzhen(2027, 3, 1, 12, 0), "open"),
        ("temporarily_closed", THURSDAY, shenzhen(2026, 11, 20, 12, 0), "temporarily_closed"),
        # Shenzhen's day, not UTC's: 15:59 UTC is still Thursday there, 16:00 UTC is Friday.
        (
            "temporarily_closed",
            THURSDAY,
            datetime(2026, 11, 26, 15, 59, tzinfo=UTC),
            "temporarily_closed",
        ),
        ("temporarily_closed", THURSDAY, datetime(2026, 11, 26, 16, 0, tzinfo=UTC), "open"),
        # No end date: closed until a manager reopens it. Other statuses have no end.
        ("temporarily_closed", None, shenzhen(2030, 1, 1, 12, 0), "temporarily_closed"),
        ("closed", THURSDAY, shenzhen(2030, 1, 1, 12, 0), "closed"),
        ("open", THURSDAY, shenzhen(2026, 11, 20, 12, 0), "open"),
    ],
)
def test_a_temporary_closure_ends_after_its_last_day(status, closed_until, at, expected):
    assert effective_status(status=status, closed_until=closed_until, at=at) == expected
    opens = is_open_at(hours="24/7", status=status, closed_until=closed_until, at=at)
    assert opens is (expected == "open")
    assert open_state_at(hours="24/7", status=status, closed_until=closed_until, at=at)[0] is opens


def test_after_a_closure_the_hours_decide():
    after = {"status": "temporarily_closed", "closed_until": THURSDAY}
    hours = "Mo-Su 08:00-20:00"
    assert is_open_at(hours=hours, at=shenzhen(2026, 11, 27, 7, 0), **after) is False
    assert is_open_at(hours=hours, at=shenzhen(2026, 11, 27, 9, 0), **after) is True
    assert is_open_at(hours=None, at=shenzhen(2026, 11, 27, 9, 0), **after) is None
    next_change = open_state_at(hours=hours, at=shenzhen(2026, 11, 27, 7, 0), **after)[1]
    assert next_change == shenzhen(2026, 11, 27, 8, 0)


@pytest.mark.parametrize(
    "hours",
    [
        "Mo-Su 08:00-20:00",
        "Mo-Su 10:00-02:00",
        "Mo-Fr 09:00-18:00; Sa,Su 10:00-17:00",
        "Mo-Su 09:00-12:00,14:00-21:00; We off",
        "Mo-Su 08:00-20:00; Sa 12:00-14:00 unknown",
        "24/7",
    ],
)
def test_remembered_states_match_a_fresh_evaluation_at_any_instant(hours):
    # open_state_at remembers a state until its next change: asked at instants out of order
    # (a week, every 7 minutes, shuffled), it must answer as the parser itself does.
    rules = parse_hours(hours)
    instants = [shenzhen(2026, 11, 23) + timedelta(minutes=7 * i) for i in range(1440)]
    random.Random(hours).shuffle(instants)
    for at in instants:
        state, _comment = rules.state(at)
        fresh = None if state == State.UNKNOWN else state == State.OPEN
        next_change = rules.next_change(at) if fresh is not None else None
        assert open_state_at(hours=hours, status="open", at=at) == (fresh, next_change), at
