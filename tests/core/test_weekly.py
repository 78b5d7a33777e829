"""The weekly hours editor's translation to and from OSM opening_hours."""

import pytest

from stations.core.hours import parse_hours
from stations.core.weekly import DAYS, read_week, week_from_expression, weekly_expression

WEEKDAYS = dict.fromkeys(DAYS[:5], ("08:00", "20:00"))

ROUND_TRIPS = [
    ({}, None),
    (dict.fromkeys(DAYS, ("00:00", "00:00")), "24/7"),
    (WEEKDAYS, "Mo-Fr 08:00-20:00"),
    (
        WEEKDAYS | dict.fromkeys(("Sa", "Su"), ("09:00", "18:00")),
        "Mo-Fr 08:00-20:00; Sa,Su 09:00-18:00",
    ),
    (
        {"Mo": ("08:00", "12:00"), "We": ("08:00", "12:00"), "Th": ("13:00", "00:00")},
        "Mo,We 08:00-12:00; Th 13:00-24:00",
    ),
    ({"Fr": ("20:00", "02:00"), "Sa": ("20:00", "02:00")}, "Fr,Sa 20:00-02:00"),
    (dict.fromkeys(DAYS, ("07:30", "22:00")), "Mo-Su 07:30-22:00"),
]


@pytest.mark.parametrize(("week", "expression"), ROUND_TRIPS)
def test_week_to_osm_and_back(week, expression):
    assert weekly_expression(week) == expression
    assert week_from_expression(expression) == week
    if expression:
        parse_hours(expression)  # what the editor writes, the parser accepts


@pytest.mark.parametrize(
    "expression",
    [
        "Mo-Fr 08:00-12:00,14:00-18:00",  # two intervals a day
        "Mo-Fr 08:00-20:00; PH off",
        "Mo-Fr 08:00-20:00; Fr 09:00-10:00",  # a day twice
        "Fr-Mo 08:00-20:00",  # a wrapping range
        "sunrise-sunset",
        "Mo 8:00-20:00",
    ],
)
def test_expressions_the_editor_cannot_show(expression):
    assert week_from_expression(expression) is None


@pytest.mark.parametrize(
    ("values", "problems"),
    [
        ({"Mo_opens": "08:00"}, {"Mo_closes"}),
        ({"Mo_opens": "8:00", "Mo_closes": "20:00"}, {"Mo_opens"}),
        ({"Tu_opens": "24:00", "Tu_closes": "20:00"}, {"Tu_opens"}),
        ({"Su_opens": "10:00", "Su_closes": "10:00"}, {"Su_closes"}),
        ({"Mo_opens": " 08:00 ", "Mo_closes": "20:00 "}, set()),
    ],
)
def test_bad_week_fields_are_named(values, problems):
    _week, found = read_week(values)
    assert set(found) == problems
