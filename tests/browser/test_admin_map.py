"""An admin places a station by tapping a map on a phone, in the map's datum; stored in WGS-84."""

import os
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from support import PASSWORD, make_station, make_user

from stations.core import datum
from stations.core.db import db
from stations.core.geo import distances_m
from stations.core.models import Station

PHONE = {"width": 390, "height": 844}
ADMIN = "admin@example.org"
MAP = "#position-map .folium-map"
DUMMY_TILES = "/test-tiles/{z}/{x}/{y}.png"  # served by tiled_live_server
SHOTS = os.path.join(os.path.dirname(__file__), "..", "..", "test-output")


@pytest.fixture(scope="module")
def server(tiled_live_server):
    """The live server (both databases) with one admin account; yields (base URL, app)."""
    base, app = tiled_live_server
    with app.app_context():
        make_user(ADMIN, "admin")
        db.session.remove()
    return base, app


@pytest.fixture(autouse=True)
def gaode(server):
    """Each test starts on the Gaode basemap (GCJ-02), drawn from the dummy tiles."""
    server[1].config.update(MAP_TILES="gaode", MAP_TILE_URL=DUMMY_TILES)


def open_phone(browser, **options):
    """A logged-out phone-sized page that may reach only 127.0.0.1; what else it tried, and
    what broke in it, are kept on the page as `.external` and `.errors`."""
    context = browser.new_context(
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        **options,
    )
    page = context.new_page()
    page.external, page.errors = [], []

    def only_loopback(route):
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            page.external.append(route.request.url)
            route.abort()

    context.route("**/*", only_loopback)
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
    return page


@pytest.fixture
def phone(browser):
    pages = []

    def new_page(**options):
        pages.append(open_phone(browser, **options))
        return pages[-1]

    yield new_page
    for page in pages:
        page.context.close()
        assert page.external == [], "requests left the machine"


def log_in(page, base):
    page.goto(f"{base}/login")
    page.get_by_label("邮箱").fill(ADMIN)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").tap()
    page.get_by_role("heading", name="我的站点").wait_for()


def tap_map(page, x, y):
    """Tap the map at a whole screen pixel near (x, y) of it; the map's own (lat, lng) there."""
    page.locator(MAP).scroll_into_view_if_needed()
    box = page.locator(MAP).bounding_box()
    at = {"clientX": round(box["x"] + x), "clientY": round(box["y"] + y)}
    latlng = page.evaluate(
        "at => { const p = positionMap.map.mouseEventToLatLng(at); return [p.lat, p.lng]; }", at
    )
    page.touchscreen.tap(at["clientX"], at["clientY"])
    return latlng


def marker_latlng(page):
    script = "() => { const p = positionMap.marker().getLatLng(); return [p.lat, p.lng]; }"
    return page.evaluate(script)


def stored(app, external_id):
    with app.app_context():
        station = db.session.scalar(sa.select(Station).where(Station.external_id == external_id))
        db.session.remove()
    return station


def metres_between(a, b):
    return distances_m(lat=a[0], lng=a[1], lats=[b[0]], lngs=[b[1]])[0]


@pytest.mark.parametrize(
    ("tiles", "tile_url", "map_datum", "point"),
    [
        ("gaode", None, "gcj02", (150, 100)),
        ("osm", None, "wgs84", (200, 140)),
        ("none", None, "wgs84", (250, 180)),
        ("gaode", "/no-such-tiles/{z}/{x}/{y}.png", "gcj02", (100, 200)),  # tiles do not load
    ],
    ids=["gaode", "osm", "no-tiles", "tiles-failing"],
)
def test_an_admin_taps_the_map_and_the_station_is_stored_in_wgs84(
    server, phone, tiles, tile_url, map_datum, point
):
    base, app = server
    app.config.update(MAP_TILES=tiles, MAP_TILE_URL=tile_url or DUMMY_TILES)
    page = phone()
    log_in(page, base)
    page.goto(f"{base}/admin/stations/new")
    page.wait_for_function("window.positionMap")
    external_id = f"TAP-{tiles}-{point[0]}"
    page.get_by_label("编号 external_id").fill(external_id)
    page.get_by_label("名称").fill("点地图新建的驿站")

    at = tap_map(page, *point)
    assert page.locator("#datum").input_value() == map_datum
    typed = (
        float(page.get_by_label("纬度").input_value()),
        float(page.get_by_label("经度").input_value()),
    )
    assert typed == pytest.approx(at, abs=1e-7)
    assert marker_latlng(page) == pytest.approx(at, abs=1e-9)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    os.makedirs(SHOTS, exist_ok=True)
    page.screenshot(path=os.path.join(SHOTS, f"admin-position-map-{tiles}.png"))
    page.get_by_role("button", name="保存").tap()
    page.wait_for_url(f"{base}/manage/stations/*")

    station = stored(app, external_id)
    truth = datum.to_wgs84(map_datum, lat=at[0], lng=at[1])
    if map_datum == "gcj02":
        assert truth == datum.gcj02_to_wgs84(lat=at[0], lng=at[1])
        assert metres_between(truth, at) > 100  # the shift in Shenzhen is hundreds of metres
    assert metres_between((station.lat, station.lng), truth) < 1
    broken = [e for e in page.errors if not (tile_url and "Failed to load resource" in e)]
    assert broken == []


def test_an_existing_station_is_drawn_in_the_maps_datum_and_dragged(server, phone):
    base, app = server
    with app.app_context():
        station = make_station("DRAG", lat=22.6, lng=114.2, name="拖动的驿站")
        station_id = station.id
        db.session.remove()
    page = phone()
    log_in(page, base)
    page.goto(f"{base}/admin/stations/{station_id}/edit")
    page.wait_for_function("window.positionMap && positionMap.marker()")
    drawn = marker_latlng(page)
    assert drawn == pytest.approx(datum.wgs84_to_gcj02(lat=22.6, lng=114.2), abs=1e-9)
    assert page.locator("#datum").input_value() == "wgs84"  # the form as stored, untouched

    pin = page.locator(".position-pin").bounding_box()
    x, y = pin["x"] + 22, pin["y"] + 22
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 30, y + 20, steps=6)
    page.mouse.up()
    dropped = marker_latlng(page)
    assert metres_between(dropped, drawn) > 30
    assert page.locator("#datum").input_value() == "gcj02"
    with page.expect_response(lambda answer: answer.request.method == "POST") as saved:
        page.get_by_role("button", name="保存").tap()
    assert saved.value.status == 302

    moved = stored(app, "DRAG")
    truth = datum.gcj02_to_wgs84(lat=dropped[0], lng=dropped[1])
    assert metres_between((moved.lat, moved.lng), truth) < 1
    assert page.errors == []


def test_without_javascript_the_typed_position_is_enough(server, phone):
    base, app = server
    page = phone(java_script_enabled=False)
    log_in(page, base)
    page.goto(f"{base}/admin/stations/new")
    assert page.locator("#position-map").is_hidden()
    page.get_by_label("编号 external_id").fill("TYPED")
    page.get_by_label("名称").fill("输入坐标的驿站")
    gcj = datum.wgs84_to_gcj02(lat=22.7, lng=113.9)
    page.locator("#datum").select_option("gcj02")
    page.get_by_label("纬度").fill(repr(gcj[0]))
    page.get_by_label("经度").fill(repr(gcj[1]))
    page.get_by_role("button", name="保存").tap()
    page.wait_for_url(f"{base}/manage/stations/*")
    station = stored(app, "TYPED")
    assert metres_between((station.lat, station.lng), (22.7, 113.9)) < 0.01
