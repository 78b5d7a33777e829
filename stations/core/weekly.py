"""The weekly hours editor: at most one opening interval per weekday, to and from OSM syntax.

A closing time of 00:00 means midnight at the end of the day (OSM writes 24:00), so 00:00-00:00
is open all day. Expressions this editor cannot show (holidays, two intervals a day...) are left
to the raw field.
"""

import re

DAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
TIME = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")
_RULE = re.compile(r"([A-Za-z,\-]+) ([0-9:]{5})-([0-9:]{5})")


def weekly_expression(week):
    """OSM opening_hours for {day: (opens, closes)} (days left out are closed); None if empty."""
    spans = {}
    for day in DAYS:
        if week.get(day):
            opens, closes = week[day]
            spans[day] = f"{opens}-{'24:00' if closes == '00:00' else closes}"
    if not spans:
        return None
    if len(spans) == 7 and set(spans.values()) == {"00:00-24:00"}:
        return "24/7"
    groups = {}
    for day, span in spans.items():
        groups.setdefault(span, []).append(DAYS.index(day))
    return "; ".join(f"{_day_list(indexes)} {span}" for span, indexes in groups.items())


def _day_list(indexes):
    """Weekday indexes as OSM days: runs of three or more as ranges (Mo-Fr), others listed."""
    runs = []
    for index in indexes:
        if runs and runs[-1][-1] == index - 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    parts = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{DAYS[run[0]]}-{DAYS[run[-1]]}")
        else:
            parts += [DAYS[i] for i in run]
    return ",".join(parts)


def week_from_expression(expression):
    """{day: (opens, closes)} for an expression the editor can show, else None."""
    if not expression:
        return {}
    if expression.strip() == "24/7":
        return dict.fromkeys(DAYS, ("00:00", "00:00"))
    week = {}
    for rule in expression.split(";"):
        match = _RULE.fullmatch(rule.strip())
        if not match:
            return None
        days, opens, closes = match.groups()
        closes = "00:00" if closes == "24:00" else closes
        if not (TIME.fullmatch(opens) and TIME.fullmatch(closes)):
            return None
        for day in _days(days):
            if day is None or day in week:
                return None
            week[day] = (opens, closes)
    return week


def _days(text):
    """The days of "Mo-We,Fr"; None in the list for anything that is not a day."""
    for part in text.split(","):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            yield None
            return
        start, end = DAYS.index(first), DAYS.index(last or first)
        if end < start:
            yield None
            return
        yield from DAYS[start : end + 1]


def read_week(values):
    """The week in form values ({day}_opens, {day}_closes) and {field: problem} for bad ones."""
    week, problems = {}, {}
    for day in DAYS:
        opens = (values.get(f"{day}_opens") or "").strip()
        closes = (values.get(f"{day}_closes") or "").strip()
        if not opens and not closes:
            continue
        for name, value in ((f"{day}_opens", opens), (f"{day}_closes", closes)):
            if not TIME.fullmatch(value):
                problems[name] = "请填写时间（HH:MM）"
        if opens == closes and opens != "00:00":
            problems[f"{day}_closes"] = "开门和关门时间相同"
        week[day] = (opens, closes)
    return week, problems
