"""The rider's page in a real phone-sized Chromium, on SQLite and PostGIS, with no internet."""

import json
from urllib.parse import parse_qs, urlencode, urlsplit
from urllib.request import urlopen

import pytest
from geographiclib.geodesic import Geodesic

from stations.core import datum

from .conftest import FUTIAN

LONGGANG = {"latitude": 22.7210, "longitude": 114.2470}
WECHAT_UA = (
    "Mozilla/5.0 (Linux; Android 13; V2183A) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/116.0.0.0 Mobile Safari/537.36 MicroMessenger/8.0.47.2560 NetType/4G Language/zh_CN"
)


def metres(lat1, lng1, lat2, lng2):
    return Geodesic.WGS84.Inverse(lat1, lng1, lat2, lng2, Geodesic.DISTANCE)["s12"]


def api_nearest(live_server, position, **filters):
    """What the API answers for the page's query: open now unless told otherwise."""
    query = {"lat": position["latitude"], "lng": position["longitude"], "limit": 10}
    query |= {"open_now": "true"} | filters
    with urlopen(f"{live_server.url}/api/v1/stations/nearest?{urlencode(query)}") as response:
        return json.load(response)["data"]


def test_list_is_the_api_top_stations_in_order(phone, live_server, request):
    rider = phone()
    page = rider.open()
    expected = api_nearest(live_server, FUTIAN)
    assert rider.listed_ids() == [s["id"] for s in expected]
    first = page.locator("#list li.station").first
    assert expected[0]["name"] in first.inner_text()
    assert page.locator("#sample-banner").is_visible()
    assert page.locator("#position-text").inner_text() == "按你的当前位置排序"
    backend = request.node.callspec.id.split("-")[-1]
    rider.screenshot(f"rider-map-{backend}.png")


def test_water_chip_finds_the_nearest_open_station_with_water_in_one_tap(phone, live_server):
    rider = phone()
    page = rider.open()
    before = rider.listed_ids()
    water = page.get_by_role("button", name="饮水", exact=True)
    water.tap()
    page.wait_for_url("**/?amenities=drinking_water")
    expected = api_nearest(live_server, FUTIAN, amenities="drinking_water")
    rider.wait_for_ids([s["id"] for s in expected])
    assert expected[0]["amenities"]["drinking_water"] is True and expected[0]["open_now"] is True
    go = page.locator("#list li.station").first.locator("a.go")
    to = parse_qs(urlsplit(go.get_attribute("href")).query)["to"][0].split(",")
    g_lat, g_lng = datum.wgs84_to_gcj02(lat=expected[0]["lat"], lng=expected[0]["lng"])
    assert metres(float(to[1]), float(to[0]), g_lat, g_lng) <= 1.0
    page.go_back()
    page.wait_for_url(live_server.url + "/")
    rider.wait_for_ids(before)
    assert water.get_attribute("aria-pressed") == "false"


def test_filters_in_the_url_are_applied_on_load(phone, live_server):
    rider = phone()
    page = rider.open("/?amenities=toilet,phone_charging&kind=warm_station&open_24_7=true")
    expected = api_nearest(
        live_server,
        FUTIAN,
        amenities="toilet,phone_charging",
        kind="warm_station",
        open_24_7="true",
    )
    assert rider.listed_ids() == [s["id"] for s in expected]
    pressed = page.eval_on_selector_all(
        ".chip[aria-pressed=true]", "chips => chips.map(c => c.dataset.value || c.dataset.filter)"
    )
    assert sorted(pressed) == ["open_24_7", "open_now", "phone_charging", "toilet", "warm_station"]


def test_moving_changes_the_list(phone, live_server):
    rider = phone()
    rider.open()
    rider.context.set_geolocation(LONGGANG)
    expected = [s["id"] for s in api_nearest(live_server, LONGGANG)]
    rider.wait_for_ids(expected)
    assert set(expected).isdisjoint(s["id"] for s in api_nearest(live_server, FUTIAN))


@pytest.mark.parametrize("tiles", ["gaode", "osm"])
def test_markers_are_drawn_in_the_basemap_datum(phone, live_server, tiles):
    rider = phone(tiles=tiles)
    page = rider.open()
    station = api_nearest(live_server, FUTIAN)[0]
    page.wait_for_function("id => window.riderMap && riderMap.markers.has(id)", arg=station["id"])
    drawn = page.evaluate(
        """id => {
            const at = riderMap.markers.get(id).getLatLng();
            const me = riderMap.positionMarker().getLatLng();
            return [at.lat, at.lng, me.lat, me.lng];
        }""",
        station["id"],
    )
    wgs = (station["lat"], station["lng"], FUTIAN["latitude"], FUTIAN["longitude"])
    if tiles == "gaode":
        marker = datum.wgs84_to_gcj02(lat=wgs[0], lng=wgs[1])
        rider_at = datum.wgs84_to_gcj02(lat=wgs[2], lng=wgs[3])
        assert metres(*drawn[:2], *marker) < 0.01 and metres(*drawn[2:], *rider_at) < 0.01
        assert metres(*drawn[:2], *wgs[:2]) > 400
    else:
        assert drawn == pytest.approx(list(wgs), abs=1e-9)


def test_station_detail_links_point_at_the_station(phone, live_server):
    rider = phone()
    page = rider.open()
    station = api_nearest(live_server, FUTIAN)[0]
    page.locator("#list li.station .station-open").first.tap()
    detail = page.locator("#detail")
    detail.wait_for(state="visible")
    assert detail.locator("#detail-name").inner_text() == station["name"]
    g_lat, g_lng = datum.wgs84_to_gcj02(lat=station["lat"], lng=station["lng"])

    def link(nav):
        href = detail.locator(f"[data-nav={nav}]").get_attribute("href")
        return href, parse_qs(urlsplit(href).query)

    href, amap = link("amap")
    assert href.startswith("https://uri.amap.com/navigation?")
    to_lng, to_lat, name = amap["to"][0].split(",", 2)
    assert metres(float(to_lat), float(to_lng), g_lat, g_lng) <= 1.0 and name == station["name"]
    assert amap["mode"] == ["ride"] and amap["callnative"] == ["1"]
    href, ebike = link("amap-ebike")
    assert href.startswith("amapuri://openFeature?") and ebike["rideType"] == ["elebike"]
    assert ebike["dev"] == ["0"]
    assert metres(float(ebike["lat"][0]), float(ebike["lon"][0]), g_lat, g_lng) <= 1.0
    href, baidu = link("baidu")
    assert baidu["coord_type"] == ["gcj02"]
    b_lat, b_lng = baidu["destination"][0].removeprefix("latlng:").split("|")[0].split(",")
    assert metres(float(b_lat), float(b_lng), g_lat, g_lng) <= 1.0
    href, apple = link("apple")
    assert href.startswith("https://maps.apple.com/?") and apple["dirflg"] == ["w"]
    if station["phone"]:
        phone_link = detail.locator("#detail-phone").get_attribute("href")
        assert phone_link == "tel:" + station["phone"].replace("-", "")
    assert not detail.locator("#wechat-hint").is_visible()


def test_refused_location_says_so_and_a_tap_on_the_map_sets_it(phone, live_server):
    rider = phone(allow_location=False)
    page = rider.page
    page.goto(live_server.url + "/")
    page.get_by_text("无法获取你的位置：定位权限被拒绝。").wait_for()
    assert page.locator("#pick").is_visible()
    page.wait_for_function("window.riderMap")
    box = page.locator("#map_stations").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 3, box["y"] + box["height"] / 2)
    rider.wait_for_list()
    tapped = page.evaluate("['lat', 'lng'].map(k => (+document.body.dataset[k]).toFixed(6))")
    position = {"latitude": tapped[0], "longitude": tapped[1]}
    assert rider.listed_ids() == [s["id"] for s in api_nearest(live_server, position)]
    page.select_option("#pick-district", label="龙岗区")
    expected = [s["id"] for s in api_nearest(live_server, LONGGANG)]
    rider.wait_for_ids(expected)


def test_inside_wechat_the_detail_says_how_to_open_the_app(phone):
    rider = phone(user_agent=WECHAT_UA)
    page = rider.open()
    page.locator("#list li.station .station-open").first.tap()
    hint = page.locator("#wechat-hint")
    hint.wait_for(state="visible")
    assert "在浏览器打开" in hint.inner_text()
    assert "callnative=0" in page.locator("#list a.go").first.get_attribute("href")
    assert page.locator("#copy-address").is_visible()


def test_english_by_the_switch(phone):
    rider = phone()
    page = rider.open()
    page.get_by_role("link", name="English").tap()
    page.wait_for_url("**/?lang=en")
    rider.wait_for_list()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("button", name="Water", exact=True).is_visible()
    assert "walk" in page.locator("#list li.station").first.inner_text()
    rider.screenshot("rider-map-en.png")


def test_offline_the_shell_and_last_list_open_marked_stale(phone, live_server):
    rider = phone(service_workers="allow", tiles="none")
    page = rider.open()
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.reload()  # now under the service worker, which keeps this list
    rider.wait_for_list()
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    online = rider.listed_ids()
    rider.context.set_offline(True)
    page.reload()
    rider.wait_for_list()
    assert rider.listed_ids() == online
    assert "离线" in page.locator("#list-status").inner_text()
    rider.context.set_offline(False)


def test_without_tiles_the_list_filters_and_navigation_still_work(phone, live_server):
    rider = phone(tile_url="/no-such-tiles/{z}/{x}/{y}.png")
    rider.expected_console_errors.add(
        "Failed to load resource: the server responded with a status of 404 (NOT FOUND)"
    )
    page = rider.open()
    page.get_by_role("button", name="厕所", exact=True).tap()
    expected = api_nearest(live_server, FUTIAN, amenities="toilet")
    rider.wait_for_ids([s["id"] for s in expected])
    page.locator("#list li.station .station-open").first.tap()
    href = page.locator("#detail [data-nav=amap]").get_attribute("href")
    to_lng, to_lat, _ = parse_qs(urlsplit(href).query)["to"][0].split(",", 2)
    g_lat, g_lng = datum.wgs84_to_gcj02(lat=expected[0]["lat"], lng=expected[0]["lng"])
    assert metres(float(to_lat), float(to_lng), g_lat, g_lng) <= 1.0


def test_320_px_wide_nothing_overflows_and_targets_are_44_px(phone):
    rider = phone(width=320)
    page = rider.open()
    assert page.evaluate("document.documentElement.scrollWidth") <= 320

    small_targets = """() => [...document.querySelectorAll('button, a[href], select')]
        .filter(e => e.offsetParent !== null && !e.closest('.leaflet-control-attribution'))
        .map(e => [e.textContent.trim() || e.className, e.getBoundingClientRect()])
        .filter(([, r]) => r.width < 44 || r.height < 44)
        .map(([name, r]) => `${name} ${Math.round(r.width)}x${Math.round(r.height)}`)"""
    assert page.evaluate(small_targets) == []
    page.locator("#list li.station .station-open").first.tap()
    page.locator("#detail").wait_for(state="visible")
    assert page.evaluate(small_targets) == []
    rider.screenshot("rider-detail-320px.png")
