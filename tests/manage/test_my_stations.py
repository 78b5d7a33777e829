"""The manager's pages: every edit is checked, versioned, audited and seen by the next API call."""

import json

import pytest
import sqlalchemy as sa
from support import csrf_token, fresh, post

from stations.core import audit
from stations.core.db import db
from stations.core.models import AuditEntry, Report, Station


def audit_rows(station_id):
    return db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.station_id == station_id).order_by(AuditEntry.id)
    ).all()


def api_station(client, station_id):
    return client.get(f"/api/v1/stations/{station_id}").get_json()["data"]


def test_toggling_water_is_saved_audited_and_seen_by_the_next_api_call(browsers, world):
    client = browsers["manager_a"]
    before = api_station(client, world.a.id)
    assert before["amenities"]["drinking_water"] is True
    answer = post(
        client,
        f"/manage/stations/{world.a.id}/amenities",
        {"version": 1, "amenity": "drinking_water", "value": "no"},
        environ_base={"REMOTE_ADDR": "10.1.2.3"},
        headers={"User-Agent": "phone"},
    )
    assert (answer.status_code, answer.location) == (302, f"/manage/stations/{world.a.id}")
    after = api_station(client, world.a.id)
    assert after["amenities"]["drinking_water"] is False
    assert after["updated_at"] > before["updated_at"]
    nearest = client.get("/api/v1/stations/nearest?lat=22.5431&lng=114.0579&limit=1").get_json()
    assert nearest["data"][0]["amenities"]["drinking_water"] is False
    [row] = audit_rows(world.a.id)
    recorded = (row.user_id, row.source, row.field, row.before, row.after, row.ip, row.user_agent)
    assert recorded == (
        world.manager_a.id,
        "manager",
        "drinking_water",
        "true",
        "false",
        "10.1.2.3",
        "phone",
    )
    page = client.get(answer.location).text
    assert "已保存：饮用水" in page and "a@example.org" in page


def test_two_edits_from_the_same_version_one_wins_the_other_is_refused(browsers, world):
    client = browsers["manager_a"]
    url = f"/manage/stations/{world.a.id}/amenities"
    first = post(client, url, {"version": 1, "amenity": "toilet", "value": "yes"})
    second = post(client, url, {"version": 1, "amenity": "drinking_water", "value": "no"})
    assert first.status_code == 302
    assert second.status_code == 409
    assert "有人刚刚修改了这个站点，您的修改没有保存" in second.text
    assert "饮用水 → 无" in second.text  # what they tried, next to the current values
    assert 'name="version" value="2"' in second.text
    station = fresh(Station, world.a.id)
    assert (station.toilet, station.drinking_water, station.version) == (True, True, 2)
    assert [(r.field, r.after) for r in audit_rows(world.a.id)] == [("toilet", "true")]


def test_a_stale_json_edit_gets_409_with_the_current_values(browsers, world):
    client = browsers["manager_a"]
    url = f"/manage/stations/{world.a.id}/phone"
    json_style = {"headers": {"Accept": "application/json"}}
    assert post(client, url, {"version": 1, "phone": "111"}, **json_style).status_code == 200
    answer = post(client, url, {"version": 1, "phone": "222"}, **json_style)
    assert answer.status_code == 409
    assert answer.mimetype == "application/problem+json"
    body = answer.get_json()
    assert body["detail"] == "someone changed this station meanwhile; nothing was saved"
    assert (body["current"]["phone"], body["current"]["version"]) == ("111", 2)
    assert body["attempted"] == {"phone": "222"}


def test_a_write_racing_past_the_version_check_is_refused_at_commit(app, world):
    """Between this request reading the station and writing it, another one committed a change."""
    station = db.session.get(Station, world.a.id)
    db.session().expire_on_commit = False  # keep this request's (now stale) copy of the row
    db.session.execute(
        sa.update(Station.__table__).where(Station.id == station.id).values(version=2, toilet=False)
    )
    db.session.commit()
    with pytest.raises(audit.EditConflict) as caught:
        audit.save(station, {"wifi": True}, user=world.manager_a, source="manager", version=1)
    assert (caught.value.station.version, caught.value.station.toilet) == (2, False)
    assert fresh(Station, world.a.id).wifi is None
    assert audit_rows(world.a.id) == []


CSRF_CASES = [
    ("/manage/stations/{a}/amenities", {"version": 1, "amenity": "toilet", "value": "no"}),
    ("/manage/stations/{a}/hours", {"version": 1, "mode": "raw", "opening_hours": "24/7"}),
    ("/manage/stations/{a}/status", {"version": 1, "status": "closed"}),
    ("/manage/stations/{a}/phone", {"version": 1, "phone": "1"}),
    ("/manage/stations/{a}/verify", {"version": 1}),
    (
        "/manage/stations/{a}/reports/{report}/resolve",
        {"version": 1, "action": "fix:drinking_water"},
    ),
    (
        "/admin/stations/{a}/edit",
        {
            "version": 1,
            "name": "x",
            "kind": "warm_station",
            "datum": "wgs84",
            "lat": "22",
            "lng": "114",
        },
    ),
    ("/admin/stations/{a}/retire", {}),
    ("/logout", {}),
]


@pytest.mark.parametrize("token", [None, "", "not-a-token", "other-session"])
@pytest.mark.parametrize(("path", "data"), CSRF_CASES)
def test_missing_or_wrong_csrf_token_is_400_and_changes_nothing(
    app, browsers, world, path, data, token
):
    client = browsers["admin"] if path.startswith("/admin") else browsers["manager_a"]
    if token == "other-session":
        token = browsers["manager_b"].csrf  # valid, but for someone else's session
    form = data | ({} if token is None else {"csrf_token": token})
    before = audit.snapshot(fresh(Station, world.a.id))
    answer = client.post(path.format(a=world.a.id, report=world.report.id), data=form)
    assert answer.status_code == 400
    assert "CSRF" in answer.text
    assert audit.snapshot(fresh(Station, world.a.id)) == before
    assert fresh(Report, world.report.id).resolved_at is None
    assert audit_rows(world.a.id) == []
    assert client.get("/manage/").status_code == 200  # still logged in


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        (
            {
                "mode": "weekly",
                "Mo_opens": "08:00",
                "Mo_closes": "20:00",
                "Tu_opens": "08:00",
                "Tu_closes": "20:00",
                "We_opens": "08:00",
                "We_closes": "20:00",
                "Sa_opens": "10:00",
                "Sa_closes": "00:00",
            },
            "Mo-We 08:00-20:00; Sa 10:00-24:00",
        ),
        ({"mode": "weekly"}, None),
        (
            {"mode": "raw", "opening_hours": " Mo-Fr 09:00-17:00; PH off "},
            "Mo-Fr 09:00-17:00; PH off",
        ),
        ({"mode": "raw", "opening_hours": ""}, None),
    ],
)
def test_hours_from_the_weekly_editor_or_the_raw_field(browsers, world, form, expected):
    client = browsers["manager_a"]
    answer = post(client, f"/manage/stations/{world.a.id}/hours", {"version": 1} | form)
    assert answer.status_code == 302
    assert fresh(Station, world.a.id).opening_hours == expected


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"mode": "raw", "opening_hours": "8am-5pm"}, "is not valid OpenStreetMap"),
        ({"mode": "weekly", "Mo_opens": "08:00"}, "请填写时间"),
        ({"mode": "weekly", "Mo_opens": "25:00", "Mo_closes": "20:00"}, "请填写时间"),
        ({"mode": "weekly", "Mo_opens": "08:00", "Mo_closes": "08:00"}, "开门和关门时间相同"),
        ({"mode": "sideways"}, "不是有效的选择"),
    ],
)
def test_bad_hours_are_refused_and_change_nothing(browsers, world, form, message):
    client = browsers["manager_a"]
    answer = post(client, f"/manage/stations/{world.a.id}/hours", {"version": 1} | form)
    assert answer.status_code == 422
    assert message in answer.text
    assert fresh(Station, world.a.id).opening_hours == "Mo-Su 08:00-20:00"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            "mode=raw&opening_hours=24/7",
            {"opening_hours": "24/7", "valid": True, "open_now": True, "next_change": None},
        ),
        (
            "mode=raw&opening_hours=off",
            {"opening_hours": "off", "valid": True, "open_now": False, "next_change": None},
        ),
        ("mode=raw&opening_hours=nonsense", {"valid": False}),
        (
            "mode=weekly&Mo_opens=00:00&Mo_closes=00:00&Tu_opens=00:00&Tu_closes=00:00&"
            "We_opens=00:00&We_closes=00:00&Th_opens=00:00&Th_closes=00:00&Fr_opens=00:00&"
            "Fr_closes=00:00&Sa_opens=00:00&Sa_closes=00:00&Su_opens=00:00&Su_closes=00:00",
            {"opening_hours": "24/7", "valid": True, "open_now": True},
        ),
        ("mode=weekly&Mo_opens=9", {"valid": False, "opening_hours": None}),
        ("mode=weekly", {"valid": True, "opening_hours": None, "open_now": None}),
    ],
)
def test_open_now_preview(browsers, query, expected):
    answer = browsers["manager_a"].get(f"/manage/hours/preview?{query}")
    assert answer.status_code == 200
    body = answer.get_json()
    assert {key: body[key] for key in expected} == expected


def test_temporarily_closed_needs_a_reason_and_shows_in_the_api(browsers, world):
    client = browsers["manager_a"]
    url = f"/manage/stations/{world.a.id}/status"
    refused = post(client, url, {"version": 1, "status": "temporarily_closed"})
    assert refused.status_code == 422 and "请写明暂停原因" in refused.text
    past = post(
        client,
        url,
        {
            "version": 1,
            "status": "temporarily_closed",
            "closed_reason": "台风",
            "closed_until": "2000-01-01",
        },
    )
    assert past.status_code == 422 and "日期已经过去" in past.text
    form = {
        "version": 1,
        "status": "temporarily_closed",
        "closed_reason": " 台风 ",
        "closed_until": "2099-09-30",
    }
    assert post(client, url, form).status_code == 302
    item = api_station(client, world.a.id)
    shown = (item["status"], item["closed_reason"], item["closed_until"], item["open_now"])
    assert shown == ("temporarily_closed", "台风", "2099-09-30", False)
    assert post(client, url, {"version": 2, "status": "open"}).status_code == 302
    item = api_station(client, world.a.id)
    assert (item["status"], item["closed_reason"], item["closed_until"]) == ("open", None, None)
    fields = [r.field for r in audit_rows(world.a.id)]
    assert fields == ["status", "closed_reason", "closed_until"] * 2


def test_phone_is_checked(browsers, world):
    client = browsers["manager_a"]
    url = f"/manage/stations/{world.a.id}/phone"
    assert post(client, url, {"version": 1, "phone": "call me"}).status_code == 422
    assert post(client, url, {"version": 1, "phone": " 0755-8888 8888 "}).status_code == 302
    assert fresh(Station, world.a.id).phone == "0755-8888 8888"


def test_confirming_sets_verified_at_for_riders(browsers, world):
    client = browsers["manager_a"]
    assert api_station(client, world.a.id)["verified_at"] is None
    assert post(client, f"/manage/stations/{world.a.id}/verify", {"version": 1}).status_code == 302
    verified = api_station(client, world.a.id)["verified_at"]
    assert verified is not None and verified.endswith("Z")
    [row] = audit_rows(world.a.id)
    assert (row.field, row.before, json.loads(row.after)[:10]) == (
        "verified_at",
        "null",
        verified[:10],
    )


def test_a_missing_or_bad_version_is_refused(browsers, world):
    client = browsers["manager_a"]
    url = f"/manage/stations/{world.a.id}/amenities"
    for version in (None, "x"):
        form = {"amenity": "toilet", "value": "no"} | ({"version": version} if version else {})
        assert post(client, url, form).status_code == 422
    assert audit_rows(world.a.id) == []


def test_the_station_page_shows_the_history(browsers, world):
    client = browsers["manager_a"]
    url = f"/manage/stations/{world.a.id}"
    post(client, url + "/amenities", {"version": 1, "amenity": "wifi", "value": "yes"})
    page = client.get(url).text
    assert "修改记录" in page and "无线网络：未知 → 有" in page and "站长页面" in page
    assert csrf_token(page)


def test_audit_rows_are_never_updated_or_deleted(app, world):
    entry = AuditEntry(station_id=world.a.id, source="admin", field="name", before="1", after="2")
    db.session.add(entry)
    db.session.commit()
    entry.after = "3"
    with pytest.raises(RuntimeError, match="never updated or deleted"):
        db.session.flush()
    db.session.rollback()
    db.session.delete(db.session.get(AuditEntry, entry.id))
    with pytest.raises(RuntimeError, match="never updated or deleted"):
        db.session.flush()
    db.session.rollback()


def test_a_rider_report_shows_up_for_that_stations_manager_only(app, browsers, world):
    rider = app.test_client()
    assert (
        rider.post(
            f"/api/v1/stations/{world.a.id}/reports",
            json={"reason": "heating_broken", "text": "微波炉坏了"},
        ).status_code
        == 201
    )
    manager_a, manager_b = browsers["manager_a"], browsers["manager_b"]
    assert "2 条骑手报告" in manager_a.get("/manage/").text
    page = manager_a.get(f"/manage/stations/{world.a.id}").text
    assert "热饭设备坏了" in page and "微波炉坏了" in page and "没水了" in page
    assert "条骑手报告" not in manager_b.get("/manage/").text
    own = manager_b.get(f"/manage/stations/{world.b.id}").text
    assert "微波炉坏了" not in own and "骑手报告" not in own
    assert manager_b.get(f"/manage/stations/{world.a.id}").status_code == 404


def deny_water(app, station_id, devices):
    """`devices` riders (each its own device and address) say there is no water."""
    for n in range(devices):
        rider = app.test_client()
        rider.environ_base["REMOTE_ADDR"] = f"10.9.0.{n}"
        body = {"device": f"rider-device-{n:08d}", "amenities": {"drinking_water": False}}
        assert rider.post(f"/api/v1/stations/{station_id}/checkins", json=body).status_code == 201


def test_riders_against_the_data_show_at_the_top_for_that_stations_manager(app, browsers, world):
    manager_a, manager_b = browsers["manager_a"], browsers["manager_b"]
    deny_water(app, world.a.id, 2)
    assert "骑手反馈" not in manager_a.get("/manage/").text
    deny_water(app, world.a.id, 3)
    index = manager_a.get("/manage/").text
    assert index.index('id="riders-otherwise"') < index.index('<ul class="plain">')
    said = "饮用水：3 位骑手 24 小时内说“无”，站点写的是“有”"
    assert said in index and "骑手反馈不同" in index
    page = manager_a.get(f"/manage/stations/{world.a.id}").text
    assert said in page and 'id="riders-otherwise"' in page
    assert "骑手反馈" not in manager_b.get("/manage/").text
    assert "骑手反馈" not in manager_b.get(f"/manage/stations/{world.b.id}").text
    # A check-in is not a report: no report opened, the station unchanged.
    assert "条骑手报告" in index and "2 条骑手报告" not in index
    assert api_station(manager_a, world.a.id)["amenities"]["drinking_water"] is True
    # The manager looks and confirms: what riders said before is settled.
    assert (
        post(manager_a, f"/manage/stations/{world.a.id}/verify", {"version": 1}).status_code == 302
    )
    assert "骑手反馈" not in manager_a.get("/manage/").text


def test_a_manager_who_agrees_with_riders_changes_the_flag(browsers, app, world):
    manager_a = browsers["manager_a"]
    deny_water(app, world.a.id, 3)
    form = {"version": 1, "amenity": "drinking_water", "value": "no"}
    assert post(manager_a, f"/manage/stations/{world.a.id}/amenities", form).status_code == 302
    assert "骑手反馈" not in manager_a.get("/manage/").text
    item = api_station(manager_a, world.a.id)
    assert item["riders_report_otherwise"] is False
    assert item["confirmations"]["drinking_water"]["confirmed_by"] == "riders"


def test_resolving_a_report_with_a_fix_changes_the_station_audited_as_report(browsers, world):
    client = browsers["manager_a"]
    url = f"/manage/stations/{world.a.id}/reports/{world.report.id}/resolve"
    assert api_station(client, world.a.id)["open_reports"] == 1
    answer = post(client, url, {"version": 1, "action": "fix:drinking_water"})
    assert answer.status_code == 302
    report = fresh(Report, world.report.id)
    assert (report.resolution, report.resolved_by) == ("fixed", world.manager_a.id)
    item = api_station(client, world.a.id)
    assert (item["open_reports"], item["amenities"]["drinking_water"]) == (0, False)
    [row] = audit_rows(world.a.id)
    assert (row.source, row.user_id, row.field, row.after) == (
        "report",
        world.manager_a.id,
        "drinking_water",
        "false",
    )
    again = post(client, url, {"version": 2, "action": "dismissed"})
    assert again.status_code == 302
    assert "这条报告已经处理过了" in client.get(again.location).text


@pytest.mark.parametrize(
    ("reason", "action", "status", "resolution"),
    [
        ("no_water", "fix:status", 422, None),
        ("no_water", "delete", 422, None),
        ("other", "dismissed", 302, "dismissed"),
        ("wrong_location", "resolved", 302, "resolved"),
        ("charging_broken", "fix:ebike_charging", 302, "fixed"),
        ("closed", "fix:status", 302, "fixed"),
    ],
)
def test_how_reports_can_be_resolved(browsers, world, reason, action, status, resolution):
    report = Report(station_id=world.a.id, reason=reason, text="看看")
    db.session.add(report)
    db.session.commit()
    url = f"/manage/stations/{world.a.id}/reports/{report.id}/resolve"
    answer = post(browsers["manager_a"], url, {"version": 1, "action": action})
    assert answer.status_code == status
    assert fresh(Report, report.id).resolution == resolution
    if (action, resolution) == ("fix:status", "fixed"):
        station = fresh(Station, world.a.id)
        assert (station.status, station.closed_reason) == ("temporarily_closed", "看看")


def test_a_plain_resolution_does_not_need_the_latest_version(browsers, world):
    client = browsers["manager_a"]
    post(client, f"/manage/stations/{world.a.id}/phone", {"version": 1, "phone": "1"})
    url = f"/manage/stations/{world.a.id}/reports/{world.report.id}/resolve"
    assert post(client, url, {"version": 1, "action": "resolved"}).status_code == 302
    stale_fix = Report(station_id=world.a.id, reason="no_water")
    db.session.add(stale_fix)
    db.session.commit()
    url = f"/manage/stations/{world.a.id}/reports/{stale_fix.id}/resolve"
    assert post(client, url, {"version": 1, "action": "fix:drinking_water"}).status_code == 409
    assert fresh(Report, stale_fix.id).resolved_at is None
