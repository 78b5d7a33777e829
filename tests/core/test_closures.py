"""A temporary closure ends by itself after its last day, in the API and the nearest search."""

from datetime import UTC, date, datetime, timedelta

import pytest
from support import make_station, post

from stations.api import views
from stations.core import geo
from stations.core.db import db
from stations.core.hours import SHENZHEN_TZ, local_date, local_now
from stations.core.models import Report
from stations.manage import my_stations

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=SHENZHEN_TZ)  # a Friday noon in Shenzhen
TODAY = date(2026, 11, 27)
NEAR = {"lat": "22.5431", "lng": "114.0579", "limit": "50"}


@pytest.fixture(autouse=True)
def fixed_now(monkeypatch):
    """Every clock the station pages and the API read says NOW."""
    for module in (views, geo, my_stations):
        monkeypatch.setattr(module, "local_now", lambda: NOW)


@pytest.fixture
def client(app):
    return app.test_client()


def closed_until(days_from_today, **fields):
    """A station closed for a typhoon until TODAY + days (None: no end date); its id."""
    until = None if days_from_today is None else TODAY + timedelta(days=days_from_today)
    values = {"status": "temporarily_closed", "closed_reason": "台风", "closed_until": until}
    external_id = fields.pop("external_id", f"T{days_from_today}")
    return make_station(external_id, **(values | fields)).id


def nearest_ids(client, **filters):
    answer = client.get("/api/v1/stations/nearest", query_string=NEAR | filters)
    return [item["id"] for item in answer.get_json()["data"]]


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        # Until yesterday: open again today, per its hours (08:00-20:00, and it is noon).
        (-1, ("open", True, None, None)),
        (-30, ("open", True, None, None)),
        (0, ("temporarily_closed", False, "台风", "2026-11-27")),  # until today: closed all day
        (1, ("temporarily_closed", False, "台风", "2026-11-28")),
        (None, ("temporarily_closed", False, "台风", None)),  # no end date: until reopened
    ],
)
def test_a_closure_past_its_last_day_is_over_for_riders(client, days, expected):
    station_id = closed_until(days)
    item = client.get(f"/api/v1/stations/{station_id}").get_json()["data"]
    fields = ("status", "open_now", "closed_reason", "closed_until")
    assert tuple(item[name] for name in fields) == expected
    open_now = expected[1]
    assert (station_id in nearest_ids(client, open_now="true")) is open_now
    assert station_id in nearest_ids(client, open_now="false")


def test_after_a_closure_the_hours_and_unknown_hours_still_count(client):
    shut_at_noon = closed_until(-1, external_id="EVENING", opening_hours="Mo-Su 18:00-22:00")
    unknown = closed_until(-1, external_id="UNKNOWN", opening_hours=None)
    always = closed_until(-1, external_id="ALWAYS", opening_hours="24/7")
    closed_until(0, external_id="ALWAYS-BUT-TODAY", opening_hours="24/7")
    evening = client.get(f"/api/v1/stations/{shut_at_noon}").get_json()["data"]
    assert (evening["status"], evening["open_now"]) == ("open", False)
    assert evening["next_change_at"] == "2026-11-27T18:00:00+08:00"
    assert client.get(f"/api/v1/stations/{unknown}").get_json()["data"]["open_now"] is None
    assert nearest_ids(client, open_now="true") == [always]
    assert nearest_ids(client, open_24_7="true", open_now="false") == [always]


def test_the_manager_sees_that_the_closure_is_over(browsers, world):
    world.a.status, world.a.closed_reason = "temporarily_closed", "台风"
    world.a.closed_until = TODAY - timedelta(days=1)
    page = browsers["manager_a"].get(f"/manage/stations/{world.a.id}").text
    assert "暂停开放（至 2026-11-26，已到期：骑手看到的是正常开放）" in page
    assert "现在营业" in page


def test_a_closure_confirmed_by_a_rider_report_has_no_old_end_date(browsers, world):
    world.a.status, world.a.closed_reason = "temporarily_closed", "台风"
    world.a.closed_until = TODAY - timedelta(days=1)
    report = Report(station_id=world.a.id, reason="closed", text="还是关着")
    db.session.add(report)
    db.session.commit()
    client = browsers["manager_a"]
    assert client.get(f"/api/v1/stations/{world.a.id}").get_json()["data"]["status"] == "open"
    url = f"/manage/stations/{world.a.id}/reports/{report.id}/resolve"
    assert post(client, url, {"version": 2, "action": "fix:status"}).status_code == 302
    item = client.get(f"/api/v1/stations/{world.a.id}").get_json()["data"]
    closure = (item["status"], item["closed_reason"], item["closed_until"], item["open_now"])
    assert closure == ("temporarily_closed", "还是关着", None, False)


def test_a_closure_that_ended_moves_last_modified(client, monkeypatch):
    """Caches must see a closure end by itself: Last-Modified is no older than its end."""
    now = local_now() + timedelta(days=2)
    monkeypatch.setattr(views, "local_now", lambda: now)
    station = make_station(
        "LM",
        opening_hours="24/7",
        status="temporarily_closed",
        closed_until=local_date(now) - timedelta(days=1),
        updated_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    response = client.get(f"/api/v1/stations/{station.id}")
    assert response.get_json()["data"]["status"] == "open"
    reopened = datetime.combine(local_date(now), datetime.min.time(), SHENZHEN_TZ)
    assert response.last_modified >= reopened
