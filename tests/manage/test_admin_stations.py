"""The admin pages: stations (datums, near-duplicates, retiring), accounts, file imports."""

import io
import json
import re

import pytest
import sqlalchemy as sa
from support import fresh, make_station, post

from stations.core import datum
from stations.core.db import db
from stations.core.geo import distances_m
from stations.core.models import AuditEntry, Report, Station, Upload, User

NEW = {"external_id": "NEW-1", "kind": "driver_home", "name": "新司机之家", "address": "南山区"}


def station_by_external_id(external_id):
    db.session.expire_all()
    return db.session.scalar(sa.select(Station).where(Station.external_id == external_id))


def audit_fields(station_id):
    query = sa.select(AuditEntry).where(AuditEntry.station_id == station_id)
    return [(e.source, e.field) for e in db.session.scalars(query.order_by(AuditEntry.id))]


@pytest.mark.parametrize("coord", ["wgs84", "gcj02", "bd09"])
def test_a_new_station_is_stored_in_wgs84_whatever_the_datum_typed(browsers, coord):
    lat, lng = datum.from_wgs84(coord, lat=22.52, lng=113.93)
    form = NEW | {"datum": coord, "lat": repr(lat), "lng": repr(lng)}
    answer = post(browsers["admin"], "/admin/stations/new", form)
    assert answer.status_code == 302
    station = station_by_external_id("NEW-1")
    assert answer.location == f"/manage/stations/{station.id}"
    assert station.lat == pytest.approx(22.52, abs=1e-9)
    assert station.lng == pytest.approx(113.93, abs=1e-9)
    assert (station.kind, station.district, station.status) == ("driver_home", "南山区", "open")
    assert audit_fields(station.id) == [("admin", "created")]


def test_a_station_within_50_m_of_another_needs_confirming(browsers, world):
    client = browsers["admin"]
    near = NEW | {"datum": "wgs84", "lat": "22.5433", "lng": "114.0579"}  # 22 m north of A
    warned = post(client, "/admin/stations/new", near)
    assert warned.status_code == 422
    assert "1 个站点离这里不到 50 米" in warned.text and "驿站 A" in warned.text
    assert "有人刚刚修改" not in warned.text
    assert station_by_external_id("NEW-1") is None
    confirmed = post(client, "/admin/stations/new", near | {"confirm_nearby": "y"})
    assert confirmed.status_code == 302
    assert station_by_external_id("NEW-1") is not None
    farther = NEW | {"external_id": "NEW-2", "datum": "wgs84", "lat": "22.5426", "lng": "114.0579"}
    assert post(client, "/admin/stations/new", farther).status_code == 302  # 55 m: no warning


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"external_id": ""}, "必填"),
        ({"external_id": "A"}, "这个编号已被使用"),
        ({"lat": "91"}, "数值大小必须介于 -90 到 90 之间"),
        ({"lat": "abc"}, "不是有效的浮点数"),
        ({"name": ""}, "必填"),
        ({"kind": "hotel"}, "不是有效的选择"),
        ({"phone": "call me"}, "只能包含数字"),
    ],
)
def test_bad_new_stations_are_refused(browsers, world, changes, message):
    form = NEW | {"datum": "wgs84", "lat": "22.6", "lng": "114.1"} | changes
    answer = post(browsers["admin"], "/admin/stations/new", form)
    assert answer.status_code == 422
    assert message in answer.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Station)) == 2


def edit_form(station, **changes):
    base = {"version": station.version, "kind": station.kind, "name": station.name}
    base |= {"datum": "wgs84", "lat": repr(station.lat), "lng": repr(station.lng)}
    return base | changes


def test_editing_audits_only_what_changed(browsers, world):
    client = browsers["admin"]
    page = client.get(f"/admin/stations/{world.a.id}/edit")
    assert page.status_code == 200 and "a@example.org" in page.text  # its manager
    # The same position typed in GCJ-02 comes back within a millimetre: not a move.
    gcj_lat, gcj_lng = datum.from_wgs84("gcj02", lat=world.a.lat, lng=world.a.lng)
    form = edit_form(
        world.a, name="新名字", datum="gcj02", lat=f"{gcj_lat:.7f}", lng=f"{gcj_lng:.7f}"
    )
    assert post(client, f"/admin/stations/{world.a.id}/edit", form).status_code == 302
    station = fresh(Station, world.a.id)
    assert (station.name, station.lat, station.lng) == ("新名字", 22.5431, 114.0579)
    assert audit_fields(world.a.id) == [("admin", "name")]


def test_moving_a_station_updates_its_district(browsers, world):
    form = edit_form(world.a, lat="22.52", lng="113.93")
    assert post(browsers["admin"], f"/admin/stations/{world.a.id}/edit", form).status_code == 302
    station = fresh(Station, world.a.id)
    assert (station.lat, station.lng, station.district) == (22.52, 113.93, "南山区")


def test_a_stale_admin_edit_is_refused(browsers, world):
    client = browsers["admin"]
    url = f"/admin/stations/{world.a.id}/edit"
    assert post(client, url, edit_form(world.a, name="甲")).status_code == 302
    stale = post(client, url, edit_form(world.a, name="乙") | {"version": 1})
    assert stale.status_code == 409 and "有人刚刚修改了这个站点" in stale.text
    assert fresh(Station, world.a.id).name == "甲"
    assert post(client, url, {"name": "乙"}).status_code == 400  # no version at all


def test_retiring_removes_the_station_and_keeps_its_trail(app, browsers, world):
    client, report_id = browsers["admin"], world.report.id
    assert "确认撤销" in client.get(f"/admin/stations/{world.a.id}/retire").text
    answer = post(client, f"/admin/stations/{world.a.id}/retire")
    assert (answer.status_code, answer.location) == (302, "/admin/")
    assert client.get(f"/api/v1/stations/{world.a.id}").status_code == 404
    assert db.session.scalar(sa.select(Report).where(Report.id == report_id)) is None
    assert fresh(User, world.manager_a.id).stations == []
    [entry] = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.station_id == world.a.id))
    assert (entry.source, entry.field, entry.user_id) == ("admin", "retired", world.admin.id)
    assert json.loads(entry.before)["external_id"] == "A" and entry.after is None


def test_accounts_and_assignments(browsers, world):
    client = browsers["admin"]
    form = {
        "email": "new@example.org",
        "role": "manager",
        "active": "y",
        "stations": "A, B",
        "password": "0123456789",
    }
    assert post(client, "/admin/users/new", form).status_code == 302
    user = db.session.scalar(sa.select(User).where(User.email == "new@example.org"))
    assert sorted(s.external_id for s in user.stations) == ["A", "B"]
    assert "新建账号" in client.get("/admin/users/new").text
    listing = client.get("/admin/users").text
    assert "new@example.org" in listing and "驿站 A" in listing
    edit = {"email": "new@example.org", "role": "manager", "stations": "B"}  # not active
    assert post(client, f"/admin/users/{user.id}", edit).status_code == 302
    user = fresh(User, user.id)
    assert ([s.external_id for s in user.stations], user.active) == (["B"], False)


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"password": "short"}, "at least 10 characters"),
        ({"email": "a@example.org"}, "already exists"),
        ({"stations": "A NOPE"}, "no station has external_id NOPE"),
        ({"email": "nobody"}, "is not an email address"),
    ],
)
def test_bad_accounts_are_refused(browsers, world, form, message):
    base = {"email": "new@example.org", "role": "manager", "password": "0123456789"}
    answer = post(browsers["admin"], "/admin/users/new", base | form)
    assert answer.status_code == 422 and message in answer.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 3


def test_an_admin_cannot_lock_themselves_out(browsers, world):
    form = {"email": "admin@example.org", "role": "manager", "active": "y"}
    answer = post(browsers["admin"], f"/admin/users/{world.admin.id}", form)
    assert answer.status_code == 422 and "cannot take away your own" in answer.text
    assert fresh(User, world.admin.id).role == "admin"


def upload(client, content, name="stations.csv", crs="wgs84"):
    return post(client, "/admin/import", {"crs": crs, "file": (io.BytesIO(content), name)})


CSV_HEADER = b"external_id,kind,name,lat,lng,drinking_water\n"


def test_import_preview_then_commit(browsers, world):
    client = browsers["admin"]
    content = CSV_HEADER + "A,warm_station,驿站 A,22.5431,114.0579,no\n".encode()
    content += "C,warm_station,新站 C,22.60,114.10,yes\n".encode()
    preview = upload(client, content)
    assert preview.status_code == 200
    assert "新建 1 个，修改 1 个，不变 0 个" in preview.text
    assert "新站 C" in preview.text and "饮用水：有 → 无" in preview.text
    assert station_by_external_id("C") is None  # nothing written yet
    assert fresh(Station, world.a.id).drinking_water is True
    form = {
        "upload_id": _value(preview.text, "upload_id"),
        "digest": _value(preview.text, "digest"),
    }
    done = post(client, "/admin/import/commit", form)
    assert (done.status_code, done.location) == (302, "/admin/")
    assert "导入完成：created=1 updated=1 unchanged=0" in client.get("/admin/").text
    assert fresh(Station, world.a.id).drinking_water is False
    assert station_by_external_id("C") is not None
    assert ("import", "drinking_water") in audit_fields(world.a.id)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Upload)) == 0


def test_a_change_the_import_does_not_touch_does_not_block_it(browsers, world):
    client = browsers["admin"]
    preview = upload(client, CSV_HEADER + "A,warm_station,驿站 A,22.5431,114.0579,no\n".encode())
    form = {
        "upload_id": _value(preview.text, "upload_id"),
        "digest": _value(preview.text, "digest"),
    }
    post(browsers["manager_a"], f"/manage/stations/{world.a.id}/verify", {"version": 1})
    assert post(client, "/admin/import/commit", form).status_code == 302  # the same plan
    station = fresh(Station, world.a.id)
    assert station.drinking_water is False and station.verified_at is not None


def test_an_import_whose_plan_changed_is_shown_again(browsers, world):
    client = browsers["admin"]
    preview = upload(client, CSV_HEADER + "A,warm_station,驿站 A,22.5431,114.0579,no\n".encode())
    form = {
        "upload_id": _value(preview.text, "upload_id"),
        "digest": _value(preview.text, "digest"),
    }
    url = f"/manage/stations/{world.a.id}/amenities"
    post(browsers["manager_a"], url, {"version": 1, "amenity": "drinking_water", "value": "no"})
    answer = post(client, "/admin/import/commit", form)
    assert answer.status_code == 409
    assert "预览之后数据有了变化" in answer.text and "确认导入" in answer.text
    assert audit_fields(world.a.id) == [("manager", "drinking_water")]


def test_import_preview_lists_every_bad_row_and_offers_no_commit(browsers, world):
    content = CSV_HEADER + b"X,hotel,x,22.6,114.1,yes\nY,warm_station,y,95,114.1,maybe\n"
    preview = upload(browsers["admin"], content)
    assert preview.status_code == 200
    assert "有 3 个问题，不能导入" in preview.text
    assert "row 2: kind &#39;hotel&#39; is not one of" in preview.text
    assert "row 3: lat &#39;95&#39;" in preview.text and "row 3: drinking_water" in preview.text
    assert "确认导入" not in preview.text


def test_an_upload_of_the_wrong_kind_is_refused(browsers):
    answer = upload(browsers["admin"], b"hello", name="stations.txt")
    assert answer.status_code == 422 and "只支持 CSV、XLSX、GeoJSON" in answer.text


def test_only_the_uploader_can_commit_an_upload(app, browsers, world):
    from support import browser, make_user

    other = browser(app, make_user("other-admin@example.org", "admin"))
    preview = upload(browsers["admin"], CSV_HEADER + b"C,warm_station,c,22.6,114.1,yes\n")
    form = {
        "upload_id": _value(preview.text, "upload_id"),
        "digest": _value(preview.text, "digest"),
    }
    assert post(other, "/admin/import/commit", form).status_code == 404
    assert station_by_external_id("C") is None


def test_the_station_list_searches(browsers, world):
    make_station("ZZ-9", name="福田口岸驿站", lat=22.7)
    page = browsers["admin"].get("/admin/?q=口岸").text
    assert "福田口岸驿站" in page and "驿站 A" not in page


def _value(html, name):
    import re

    return re.search(rf'name="{name}" type="hidden" value="([^"]*)"', html).group(1)


@pytest.mark.parametrize("coord", ["wgs84", "gcj02", "bd09"])
def test_a_station_moved_in_any_datum_lands_within_a_metre(browsers, world, coord):
    lat, lng = datum.from_wgs84(coord, lat=22.52, lng=113.93)
    form = edit_form(world.a, datum=coord, lat=f"{lat:.7f}", lng=f"{lng:.7f}")  # as the map types
    assert post(browsers["admin"], f"/admin/stations/{world.a.id}/edit", form).status_code == 302
    station = fresh(Station, world.a.id)
    [off_m] = distances_m(lat=22.52, lng=113.93, lats=[station.lat], lngs=[station.lng])
    assert off_m < 1


@pytest.mark.parametrize(
    ("tiles", "map_datum"), [("gaode", "gcj02"), ("osm", "wgs84"), ("none", "wgs84")]
)
def test_the_position_map_shows_the_station_in_the_maps_datum(
    app, browsers, world, monkeypatch, tiles, map_datum
):
    monkeypatch.setitem(app.config, "MAP_TILES", tiles)
    page = browsers["admin"].get(f"/admin/stations/{world.a.id}/edit").text
    lat, lng = datum.from_wgs84(map_datum, lat=world.a.lat, lng=world.a.lng)
    assert f'data-datum="{map_datum}" data-lat="{lat}" data-lng="{lng}" hidden>' in page
    assert all(url.startswith("/") for url in re.findall(r'(?:src|href)="([^"#]+)"', page))
    # A refused form shows its own position, typed in any datum, on the map.
    bd_lat, bd_lng = datum.from_wgs84("bd09", lat=22.52, lng=113.93)
    typed = NEW | {"name": "", "datum": "bd09", "lat": repr(bd_lat), "lng": repr(bd_lng)}
    page = post(browsers["admin"], "/admin/stations/new", typed).text
    lat, lng = re.search(r'data-lat="([^"]+)" data-lng="([^"]+)"', page).groups()
    assert (float(lat), float(lng)) == pytest.approx(
        datum.from_wgs84(map_datum, lat=22.52, lng=113.93), abs=1e-9
    )
