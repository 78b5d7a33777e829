"""Rider check-ins on a phone in Debian's Chromium (SQLite and PostGIS): a rider confirms water
and the detail shows it; three devices denying it make the station show "riders report
otherwise", its manager sees it, and the water filter still follows the manager's flag."""

import re

import pytest
from support import PASSWORD, make_station, make_user

from stations.core.db import db

from .conftest import FUTIAN, Phone

PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "has_touch": True,
    "is_mobile": True,
    "locale": "zh-CN",
    "timezone_id": "Asia/Shanghai",
    "geolocation": FUTIAN,
    "permissions": ["geolocation"],
    "service_workers": "block",
}


@pytest.fixture
def phones(browser, tiled_live_server):
    """Phones on the tiled live server: each call a new device (its own local storage)."""
    base, app = tiled_live_server
    app.config.update(MAP_TILES="gaode")
    made = []

    def new_phone():
        made.append(Phone(browser.new_context(**PHONE), base))
        return made[-1]

    yield new_phone
    for phone in made:
        phone.context.close()
    for phone in made:
        assert phone.external == [], "requests left the machine"
        assert phone.console_errors == [], "the browser console showed errors"


@pytest.fixture(scope="module")
def station(tiled_live_server):
    """A station open all day with water (its manager says), at the phones' position."""
    _, app = tiled_live_server
    with app.app_context():
        here = make_station(
            "CHECKIN", lat=FUTIAN["latitude"], lng=FUTIAN["longitude"], opening_hours="24/7"
        )
        make_user("checkin-manager@example.org", "manager", [here])
        station_id = here.id
        db.session.remove()
    return station_id


def water_row(page):
    return page.locator('#detail-checkins li[data-fact="drinking_water"]')


def open_detail(phone, path="/"):
    page = phone.open(path)
    page.locator("#list li.station .station-open").first.tap()
    page.locator("#detail").wait_for(state="visible")
    return page


def tap_no_water(page):
    water_row(page).get_by_role("button", name="✗ 没有").tap()
    page.get_by_text("谢谢！已记下。").wait_for()


def test_riders_confirm_and_deny_water(phones, station, tiled_live_server):
    rider = phones()
    page = open_detail(rider)
    assert not page.locator("#detail-otherwise").is_visible()
    water = water_row(page)
    water.get_by_role("button", name="✓ 有").tap()
    page.get_by_text("谢谢！已记下。").wait_for()
    water.get_by_text("1 位骑手 24 小时内确认有饮水 · 今天骑手确认").wait_for()
    assert water.get_by_role("button", name="✓ 有").get_attribute("aria-pressed") == "true"
    # The same device again within the hour counts once.
    water.get_by_role("button", name="✓ 有").tap()
    page.get_by_text("谢谢！一小时内你的反馈只算一次，已更新。").wait_for()
    assert "1 位骑手" in water.inner_text()
    rider.screenshot("rider-checkin.png")

    # Three other devices (each keeps its own id) say there is no water.
    others = phones()
    page = open_detail(others)
    for n in range(3):
        if n:
            page.evaluate("localStorage.removeItem('stations.device')")  # another device
            page.get_by_text("谢谢！已记下。").evaluate("node => node.textContent = ''")
        tap_no_water(page)
    water = water_row(page)
    water.get_by_text("3 位骑手 24 小时内说没有饮水").wait_for()
    page.locator("#detail-otherwise").wait_for(state="visible")
    assert page.locator("#detail-otherwise").inner_text() == "⚠ 骑手反馈与此不同"
    assert "⚠ 骑手反馈与此不同" in page.locator("#list li.station").first.inner_text()
    others.screenshot("rider-checkin-otherwise.png")

    # The filters still follow the manager's flag: the water chip keeps the station.
    filtered = others.open("/?amenities=drinking_water")
    assert others.listed_ids()[0] == station
    assert "骑手反馈与此不同" in filtered.locator("#list li.station").first.inner_text()

    # Its manager sees it at the top of /manage.
    manager = phones().page
    base, _ = tiled_live_server
    manager.goto(f"{base}/manage/")
    manager.get_by_label("邮箱").fill("checkin-manager@example.org")
    manager.get_by_label("密码").fill(PASSWORD)
    manager.get_by_role("button", name="登录").tap()
    alert = manager.locator("#riders-otherwise")
    alert.wait_for()
    assert "饮用水：3 位骑手 24 小时内说“无”，站点写的是“有”" in alert.inner_text()


def test_in_english(phones, station):
    rider = phones()
    page = open_detail(rider, "/?lang=en")
    group = water_row(page).get_by_role("group", name="Water")
    group.get_by_role("button", name="✗ Doesn't").tap()
    page.get_by_text("Thanks! Noted.").wait_for()
    said = re.compile(r"Riders who said no water in the last 24 hours: [0-9]+")
    water_row(page).get_by_text(said).wait_for()
