"""The item store (items.py): stored fields reused while a station's change number holds."""

from collections import namedtuple

import orjson
import sqlalchemy as sa

from stations.core.db import db
from stations.core.hours import local_now
from stations.core.models import Station
from stations.core.station_json import station_items

SearchRow = namedtuple(
    "SearchRow",
    "id change_seq lat lng opening_hours status closed_until open_reports",
)


def search_row(station, **changes):
    values = {name: getattr(station, name) for name in SearchRow._fields if name != "open_reports"}
    return SearchRow(**(values | {"open_reports": 0} | changes))


def names(items):
    return [item["name"] for item in orjson.loads(orjson.dumps(items))]


def test_items_follow_changes_and_leave_out_stations_deleted_since_the_search(client):
    first, second = db.session.scalars(sa.select(Station).order_by(Station.id).limit(2))
    rows = [(search_row(first), 10.0), (search_row(second), 20.0)]
    assert names(station_items(rows, coord="wgs84", now=local_now())) == [first.name, second.name]
    first.name = "示例·改名"
    db.session.commit()
    db.session.delete(second)
    db.session.commit()
    # The search read both (before the delete); the store sees the new change number of one.
    rows = [(search_row(first), 10.0), (rows[1][0]._replace(change_seq=-1), 20.0)]
    assert names(station_items(rows, coord="wgs84", now=local_now())) == ["示例·改名"]
