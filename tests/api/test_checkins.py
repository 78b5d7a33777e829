"""Rider check-ins through the API: checked, stored once per device and hour, rate-limited, and
summed into every station's confirmations; the manager's flags stay what the filters use."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
from support import make_station, statements_run

from stations.core.checkins import device_hash, record_checkin
from stations.core.db import db, utcnow
from stations.core.models import Checkin, Station

NEAREST = "/api/v1/stations/nearest?lat=22.5431&lng=114.0579&limit=50"
DEVICE = "a" * 32


def checkin_url(station_id):
    return f"/api/v1/stations/{station_id}/checkins"


def device(n):
    return f"device-{n:010d}-abcdef"


def checkins_at(station_id):
    db.session.expire_all()
    query = sa.select(Checkin).where(Checkin.station_id == station_id).order_by(Checkin.id)
    return db.session.scalars(query).all()


def check_in(client, station_id, body, *, by=DEVICE, address="127.0.0.1"):
    client.environ_base["REMOTE_ADDR"] = address
    return client.post(checkin_url(station_id), json={"device": by} | body)


def shown(client, station_id):
    return client.get(f"/api/v1/stations/{station_id}").get_json()["data"]


def test_a_checkin_is_stored_and_shown_everywhere(app):
    station = make_station("A")
    client = app.test_client()
    answer = check_in(client, station.id, {"amenities": {"drinking_water": True}, "open": True})
    assert answer.status_code == 201
    assert answer.get_json() == {
        "data": {
            "station_id": station.id,
            "open": True,
            "amenities": {"drinking_water": True},
            "counted": True,
        }
    }
    rows = checkins_at(station.id)
    assert sorted((r.fact, r.value, r.device) for r in rows) == [
        ("drinking_water", True, device_hash(DEVICE)),
        ("open", True, device_hash(DEVICE)),
    ]
    assert DEVICE not in {r.device for r in rows}  # only its hash is kept
    item = shown(client, station.id)
    water = item["confirmations"]["drinking_water"]
    assert water | {"confirmed_at": None} == {
        "confirmed_at": None,
        "confirmed_by": "riders",
        "riders_yes_24h": 1,
        "riders_no_24h": 0,
        "riders_yes_7d": 1,
        "riders_no_7d": 0,
        "riders_otherwise": False,
    }
    assert water["confirmed_at"].endswith("Z")
    assert item["confirmations"]["toilet"]["confirmed_by"] is None
    assert (item["riders_report_otherwise"], item["may_be_out_of_date"]) == (False, False)
    listed = client.get("/api/v1/stations").get_json()["data"][0]
    nearest = client.get(NEAREST).get_json()["data"][0]
    for other in (listed, nearest):
        assert other["confirmations"] == item["confirmations"]


@pytest.mark.parametrize(
    ("body", "bad"),
    [
        ({"device": DEVICE}, {"body"}),
        ({"device": DEVICE, "amenities": {}}, {"body"}),
        ({"device": DEVICE, "open": "yes"}, {"open"}),
        ({"device": DEVICE, "open": 1}, {"open"}),
        ({"device": DEVICE, "open": None}, {"open"}),
        ({"device": DEVICE, "amenities": {"drinking_water": "true"}}, {"amenities.drinking_water"}),
        ({"device": DEVICE, "amenities": {"sauna": True}}, {"amenities.sauna"}),
        ({"device": DEVICE, "amenities": {"wifi": True}}, {"amenities.wifi"}),
        ({"device": DEVICE, "amenities": ["toilet"]}, {"amenities"}),
        ({"device": DEVICE, "open": True, "colour": "red"}, {"colour"}),
        ({"open": True}, {"device"}),
        ({"device": "short", "open": True}, {"device"}),
        ({"device": "x" * 65, "open": True}, {"device"}),
        ({"device": "空" * 20, "open": True}, {"device"}),
        ({"device": 12345678901234567890, "open": True}, {"device"}),
        ({}, {"device", "body"}),
        ([], {"body"}),
        ("open", {"body"}),
        (None, {"body"}),
    ],
)
def test_bad_checkins_are_problems_naming_each_field(app, body, bad):
    station = make_station("A")
    answer = app.test_client().post(checkin_url(station.id), json=body)
    assert answer.status_code == 400
    assert answer.mimetype == "application/problem+json"
    assert {error["name"] for error in answer.get_json()["errors"]} == bad
    assert checkins_at(station.id) == []


def test_a_checkin_needs_json_and_a_real_station(app):
    station = make_station("A")
    client = app.test_client()
    not_json = client.post(checkin_url(station.id), data="open=true")
    assert (not_json.status_code, not_json.mimetype) == (400, "application/problem+json")
    for station_id in (999999, 2**31, 10**22):
        missing = check_in(client, station_id, {"open": True})
        assert (missing.status_code, missing.mimetype) == (404, "application/problem+json")
    get = client.get(checkin_url(station.id))
    assert (get.status_code, get.mimetype) == (405, "application/problem+json")


def test_one_device_counts_once_an_hour(app):
    station = make_station("A")
    client = app.test_client()
    first = check_in(client, station.id, {"amenities": {"drinking_water": True}})
    again = check_in(client, station.id, {"amenities": {"drinking_water": False}})
    assert [first.get_json()["data"]["counted"], again.get_json()["data"]["counted"]] == [
        True,
        False,
    ]
    [row] = checkins_at(station.id)
    assert row.value is False  # its latest word replaced the earlier one
    water = shown(client, station.id)["confirmations"]["drinking_water"]
    assert (water["riders_yes_24h"], water["riders_no_24h"]) == (0, 1)
    # A new fact from the same device is counted; so is another device.
    toilet = check_in(client, station.id, {"amenities": {"toilet": True}})
    assert toilet.get_json()["data"]["counted"] is True
    other = check_in(client, station.id, {"amenities": {"drinking_water": False}}, by=device(2))
    assert other.get_json()["data"]["counted"] is True
    assert shown(client, station.id)["confirmations"]["drinking_water"]["riders_no_24h"] == 2
    # More than an hour later, the same device's check-in is a new one (still one rider).
    row = checkins_at(station.id)[0]
    row.at = utcnow() - timedelta(minutes=61)
    db.session.commit()
    later = check_in(client, station.id, {"amenities": {"drinking_water": False}})
    assert later.get_json()["data"]["counted"] is True
    assert len([r for r in checkins_at(station.id) if r.fact == "drinking_water"]) == 3
    assert shown(client, station.id)["confirmations"]["drinking_water"]["riders_no_24h"] == 2


def test_checkins_are_limited_per_address(app, monkeypatch):
    monkeypatch.setitem(app.config, "CHECKIN_LIMIT_PER_IP", "2 per hour")
    a, b = make_station("A"), make_station("B", lat=22.6)
    client = app.test_client()
    for n, station in enumerate((a, b)):
        assert check_in(client, station.id, {"open": True}, by=device(n)).status_code == 201
    refused = check_in(client, a.id, {"open": True}, by=device(9))
    assert refused.status_code == 429
    assert refused.mimetype == "application/problem+json"
    assert int(refused.headers["Retry-After"]) > 0
    other = check_in(app.test_client(), a.id, {"open": True}, by=device(9), address="10.0.0.2")
    assert other.status_code == 201
    assert len(checkins_at(a.id)) == 2


def test_checkins_are_limited_per_station(app, monkeypatch):
    monkeypatch.setitem(app.config, "CHECKIN_LIMIT_PER_STATION", "3 per hour")
    a, b = make_station("A"), make_station("B", lat=22.6)
    for n in range(3):
        answer = check_in(
            app.test_client(), a.id, {"open": True}, by=device(n), address=f"10.1.{n}"
        )
        assert answer.status_code == 201
    late = app.test_client()
    assert check_in(late, a.id, {"open": True}, by=device(7), address="10.1.99").status_code == 429
    assert check_in(late, b.id, {"open": True}, by=device(7), address="10.1.99").status_code == 201


def test_checkins_older_than_30_days_are_pruned(app):
    station = make_station("P")
    db.session.commit()
    now = utcnow()
    for age_days in (45, 31, 29, 0):
        db.session.add(
            Checkin(
                station_id=station.id,
                fact="toilet",
                device=device_hash(device(age_days)),
                value=True,
                expected=None,
                at=now - timedelta(days=age_days),
            )
        )
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["prune-checkins"])
    assert result.exit_code == 0, result.output
    assert result.output == "Deleted 2 check-in(s) older than 30 days.\n"
    ages = sorted((now - at).days for at in db.session.scalars(sa.select(Checkin.at)))
    assert ages == [0, 29]


def test_a_checkin_is_not_a_report_and_leaves_the_station_alone(app):
    station = make_station("A")
    version, seq = station.version, station.change_seq
    client = app.test_client()
    check_in(client, station.id, {"open": False, "amenities": {"drinking_water": False}})
    db.session.expire_all()
    station = db.session.get(Station, station.id)
    assert (station.version, station.change_seq, station.drinking_water) == (version, seq, True)
    item = shown(client, station.id)
    assert item["open_reports"] == 0
    feed = client.get("/api/v1/stations/changes").get_json()
    [change] = feed["changes"]  # the station's creation, and nothing since
    assert change["seq"] == seq and "confirmations" not in change["station"]


def test_three_devices_against_the_manager_show_riders_report_otherwise(app):
    station = make_station("A", lat=22.5431, lng=114.0579, drinking_water=True)
    near_but_dry = make_station("B", lat=22.5441, lng=114.0579, drinking_water=False)
    client = app.test_client()
    for n in range(2):
        check_in(client, station.id, {"amenities": {"drinking_water": False}}, by=device(n))
    check_in(client, station.id, {"amenities": {"drinking_water": True}}, by=device(5))
    assert shown(client, station.id)["riders_report_otherwise"] is False
    check_in(client, station.id, {"amenities": {"drinking_water": False}}, by=device(2))
    item = shown(client, station.id)
    assert item["riders_report_otherwise"] is True
    water = item["confirmations"]["drinking_water"]
    assert (water["riders_otherwise"], water["riders_yes_24h"], water["riders_no_24h"]) == (
        True,
        1,
        3,
    )
    assert item["amenities"]["drinking_water"] is True  # the manager's flag stands
    # The filters follow the manager's flags, whatever riders say.
    for n in range(3):
        check_in(client, near_but_dry.id, {"amenities": {"drinking_water": True}}, by=device(n))
    with_water = client.get(NEAREST + "&amenities=drinking_water").get_json()["data"]
    assert [s["id"] for s in with_water] == [station.id]
    assert shown(client, near_but_dry.id)["riders_report_otherwise"] is True


def test_riders_against_the_open_state_of_their_moment(app):
    always = make_station("ALWAYS", opening_hours="24/7")
    client = app.test_client()
    for n in range(3):
        check_in(client, always.id, {"open": False}, by=device(n))
    item = shown(client, always.id)
    assert item["open_now"] is True and item["riders_report_otherwise"] is True
    assert item["confirmations"]["open"]["riders_no_24h"] == 3
    closed = make_station("CLOSED", status="temporarily_closed", closed_reason="装修")
    for n in range(3):
        check_in(client, closed.id, {"open": False}, by=device(n))
    item = shown(client, closed.id)
    assert item["riders_report_otherwise"] is False
    assert item["confirmations"]["open"]["confirmed_by"] == "riders"


def test_a_manager_confirming_settles_what_riders_said_before(app):
    station = make_station("A")
    client = app.test_client()
    for n in range(3):
        check_in(client, station.id, {"amenities": {"drinking_water": False}}, by=device(n))
    assert shown(client, station.id)["riders_report_otherwise"] is True
    station = db.session.get(Station, station.id)
    station.verified_at = utcnow()
    db.session.commit()
    item = shown(client, station.id)
    assert item["riders_report_otherwise"] is False
    assert item["confirmations"]["drinking_water"]["confirmed_by"] == "manager"
    assert item["confirmations"]["drinking_water"]["riders_no_24h"] == 3  # still said


def test_a_station_unconfirmed_for_30_days_may_be_out_of_date(app):
    station = make_station("A", verified_at=utcnow() - timedelta(days=31))
    client = app.test_client()
    assert shown(client, station.id)["may_be_out_of_date"] is True
    station.verified_at = utcnow() - timedelta(days=29)
    db.session.commit()
    assert shown(client, station.id)["may_be_out_of_date"] is False
    never = make_station("NEVER")
    item = shown(client, never.id)
    assert item["may_be_out_of_date"] is True
    assert item["confirmations"]["drinking_water"]["confirmed_at"] is None
    # A rider denying what the data says confirms nothing; one agreeing does.
    check_in(client, never.id, {"amenities": {"drinking_water": False}})
    assert shown(client, never.id)["may_be_out_of_date"] is True
    check_in(client, never.id, {"amenities": {"drinking_water": True}}, by=device(1))
    assert shown(client, never.id)["may_be_out_of_date"] is False
    # Riders' check-ins older than 30 days no longer count.
    for row in checkins_at(never.id):
        row.at = utcnow() - timedelta(days=31)
    db.session.commit()
    item = shown(client, never.id)
    assert item["may_be_out_of_date"] is True
    assert item["confirmations"]["drinking_water"]["riders_yes_7d"] == 0


def test_counts_follow_their_windows(app):
    station = make_station("A")
    ago = {"now": timedelta(0), "2 days": timedelta(days=2), "8 days": timedelta(days=8)}
    for n, age in enumerate(ago.values()):
        record_checkin(station, {"toilet": False}, device=device(n), at=utcnow() - age)
    db.session.commit()
    toilet = shown(app.test_client(), station.id)["confirmations"]["toilet"]
    assert (toilet["riders_no_24h"], toilet["riders_no_7d"]) == (1, 2)


def test_last_modified_moves_with_a_checkin(app):
    station = make_station("A")
    client = app.test_client()
    before = client.get(f"/api/v1/stations/{station.id}")
    row = db.session.get(Station, station.id)
    record_checkin(row, {"open": True}, device=DEVICE, at=utcnow() + timedelta(seconds=2))
    db.session.commit()
    after = client.get(
        f"/api/v1/stations/{station.id}",
        headers={"If-Modified-Since": before.headers["Last-Modified"]},
    )
    assert after.status_code == 200
    assert after.last_modified > before.last_modified


def test_nearest_sums_checkins_once_in_a_while_and_for_stations_that_have_them(app):
    stations = [make_station(f"S-{n}", lat=22.5431 + n * 0.001) for n in range(12)]
    for station in stations[::3]:
        record_checkin(station, {"open": True}, device=DEVICE, at=utcnow())
    db.session.commit()
    client = app.test_client()

    def summing():
        """The summaries a nearest request reads, as the stations they ask for."""
        with statements_run(db.engine) as seen:
            body = client.get(NEAREST).get_json()
        assert body["count"] == 12
        summaries = [params for sql, params in seen if "GROUP BY checkin.station_id" in sql]
        searches = [sql for sql, _ in seen if "FROM checkin" in sql and "GROUP BY" not in sql]
        # The search tells which stations have check-ins, in its own statement.
        assert searches and all("station.change_seq" in sql for sql in searches)
        return body, summaries

    body, summaries = summing()
    assert sum(item["confirmations"]["open"]["riders_yes_24h"] for item in body["data"]) == 4
    assert len(summaries) == 1  # one statement, for the four stations that have check-ins
    assert summing()[1] == []  # nothing new: the process knows them
    check_in(client, stations[1].id, {"open": False})
    body, summaries = summing()
    assert len(summaries) == 1
    [item] = [item for item in body["data"] if item["id"] == stations[1].id]
    assert item["confirmations"]["open"]["riders_no_24h"] == 1


def test_the_api_documents_checkins(app):
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    operation = document["paths"]["/api/v1/stations/{station_id}/checkins"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert list(schema["properties"]["amenities"]["properties"]) == [
        "drinking_water",
        "food_heating",
        "phone_charging",
        "ebike_charging",
        "toilet",
    ]
    assert set(operation["responses"]) == {"201", "400", "401", "404", "414", "429", "431"}
    station = document["components"]["schemas"]["Station"]
    assert {"confirmations", "riders_report_otherwise", "may_be_out_of_date"} <= set(
        station["required"]
    )
