"""Open now, in Shenzhen time, at fixed instants."""

from datetime import UTC, datetime

import pytest

from stations.hours import SHENZHEN_TZ, is_open_at, open_state_at, parse_hours


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
