"""A station manager on a phone, in a real browser (Debian's Chromium driven by Playwright)."""

import os
import re
from urllib.parse import urlsplit

import pytest
from support import PASSWORD, make_station, make_user

from stations.core.db import db

PHONE = {"width": 390, "height": 844}
SHOTS = os.path.join(os.path.dirname(__file__), "..", "..", "test-output")


@pytest.fixture
def phone(browser):
    """A phone-sized page that may reach only loopback addresses."""
    context = browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, locale="zh-CN"
    )

    def only_loopback(route):
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            route.abort()

    context.route("**/*", only_loopback)
    yield context.new_page()
    context.close()


def test_a_manager_marks_water_unavailable_and_riders_see_it(empty_live_server, phone):
    base, app = empty_live_server
    with app.app_context():
        mine = make_station("MINE", lat=22.5431, lng=114.0579, name="福田测试驿站")
        theirs = make_station("THEIRS", lat=22.5531, lng=114.0679, name="别人的驿站")
        make_user("zhang@example.org", "manager", [mine])
        mine_id, theirs_id = mine.id, theirs.id
        db.session.remove()
    nearest = f"{base}/api/v1/stations/nearest?lat=22.5431&lng=114.0579&limit=1"
    assert phone.request.get(nearest).json()["data"][0]["amenities"]["drinking_water"] is True

    phone.goto(f"{base}/manage/")
    assert phone.url.startswith(f"{base}/login")
    phone.get_by_label("邮箱").fill("zhang@example.org")
    phone.get_by_label("密码").fill(PASSWORD)
    phone.get_by_role("button", name="登录").tap()
    phone.get_by_role("heading", name="我的站点").wait_for()
    phone.get_by_role("link", name="福田测试驿站").tap()

    water = phone.get_by_role("group", name="饮用水")
    assert water.get_by_role("button", name="有").get_attribute("aria-pressed") == "true"
    water.get_by_role("button", name="无").tap()
    phone.get_by_text("已保存：饮用水").wait_for()
    water = phone.get_by_role("group", name="饮用水")
    assert water.get_by_role("button", name="无").get_attribute("aria-pressed") == "true"
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    os.makedirs(SHOTS, exist_ok=True)
    phone.screenshot(path=os.path.join(SHOTS, "manager-station.png"), full_page=True)

    item = phone.request.get(nearest).json()["data"][0]
    assert (item["id"], item["amenities"]["drinking_water"]) == (mine_id, False)

    # The weekly editor previews whether the station would be open now, as it is typed.
    phone.get_by_label("周一 开门").fill("00:00")
    phone.get_by_label("周一 关门").fill("00:00")
    preview = phone.locator("#hours-preview")
    preview.filter(has_text=re.compile("按这个时间")).wait_for()
    written = phone.locator("[name=opening_hours]").input_value()
    assert written == "Mo 00:00-24:00; Tu-Su 08:00-20:00"

    # Another manager's station is not there, by any URL.
    answer = phone.goto(f"{base}/manage/stations/{theirs_id}")
    assert answer.status == 404
    assert "别人的驿站" not in phone.content()
