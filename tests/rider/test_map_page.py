"""The rider's page as HTML: languages, URL filters, tiles, assets, manifest, service worker."""

import json
import os
import re

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from stations import create_app
from stations.assets import asset_url
from stations.config import ROOT
from stations.core.districts import district_at, district_centres
from stations.rider import folium_map

CATALOG = os.path.join(ROOT, "stations", "translations", "en", "LC_MESSAGES")


@pytest.fixture
def plain_client():
    """An app with no database: for what does not touch stations."""
    return create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"}).test_client()


def page_config(response):
    found = re.search(
        r'<script type="application/json" id="page-config">(.*?)</script>',
        response.get_data(as_text=True),
    )
    return json.loads(found.group(1))


def test_page_is_chinese_by_default_and_marks_sample_data(client):
    response = client.get("/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<html lang="zh-CN">' in html and "定位我" in html
    assert 'id="sample-banner"' in html and "示例数据" in html
    assert "Accept-Language" in response.headers["Vary"]


def test_no_sample_banner_without_sample_data(app):
    html = app.test_client().get("/").get_data(as_text=True)
    assert "sample-banner" not in html


@pytest.mark.parametrize(
    ("headers", "query", "cookie", "lang"),
    [
        ({"Accept-Language": "en-US,en;q=0.9"}, "", None, "en"),
        ({"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}, "", None, "zh-CN"),
        ({"Accept-Language": "fr-FR"}, "", None, "zh-CN"),
        ({"Accept-Language": "zh-CN"}, "?lang=en", None, "en"),
        ({"Accept-Language": "en"}, "?lang=zh", None, "zh-CN"),
        ({"Accept-Language": "zh-CN"}, "", "en", "en"),
        ({"Accept-Language": "zh-CN"}, "?lang=xx", "en", "en"),
    ],
)
def test_language_from_switch_cookie_or_browser(client, headers, query, cookie, lang):
    if cookie:
        client.set_cookie("lang", cookie)
    response = client.get("/" + query, headers=headers)
    assert f'<html lang="{lang}">' in response.get_data(as_text=True)
    english = lang == "en"
    assert (page_config(response)["text"]["kinds"]["warm_station"] == "Warm station") is english


def test_the_language_switch_is_remembered(client):
    response = client.get("/?lang=en")
    assert "lang=en" in response.headers["Set-Cookie"]
    assert '<html lang="en">' in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize(
    ("query", "pressed"),
    [
        ("", {"open_now"}),
        ("?open_now=false", set()),
        ("?amenities=drinking_water,toilet", {"open_now", "drinking_water", "toilet"}),
        ("?amenities=sauna,food_heating&kind=hotel", {"open_now", "food_heating"}),
        ("?kind=driver_home&open_24_7=true", {"open_now", "driver_home", "open_24_7"}),
    ],
)
def test_filters_in_the_url_press_their_chips(client, query, pressed):
    html = client.get("/" + query).get_data(as_text=True)
    chips = re.findall(r'<button type="button" class="chip[^"]*" ([^>]*)>', html)
    on = set()
    for attributes in chips:
        value = re.search(r'data-value="([^"]+)"', attributes)
        name = value.group(1) if value else re.search(r'data-filter="([^"]+)"', attributes).group(1)
        if 'aria-pressed="true"' in attributes:
            on.add(name)
    assert len(chips) == 10 and on == pressed


def test_page_loads_nothing_from_elsewhere(client, monkeypatch):
    monkeypatch.setitem(client.application.config, "MAP_TILES", "none")
    html = client.get("/").get_data(as_text=True)
    urls = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert urls and all(url.startswith(("/", "?")) for url in urls)
    assert not re.search(r"https?://", html)


@pytest.mark.parametrize(
    ("tiles", "key", "datum", "in_script"),
    [
        ("gaode", "", "gcj02", "https://webrd0{s}.is.autonavi.com/appmaptile?"),
        ("osm", "", "wgs84", "https://tile.openstreetmap.org/{z}/{x}/{y}.png"),
        ("tianditu", "k3y", "wgs84", "tianditu.gov.cn/cva_w/wmts?"),
        ("none", "", "wgs84", None),
    ],
)
def test_tiles_are_configuration(tiles, key, datum, in_script):
    config = {"MAP_TILES": tiles, "TIANDITU_KEY": key, "MAP_TILE_URL": ""}
    basemap = folium_map.tiles_for(config)
    assert basemap.datum == datum
    if in_script:
        assert any(in_script in url for url in basemap.urls)
        assert all(url.startswith("https://") for url in basemap.urls)
    else:
        assert basemap.urls == ()
    if key:
        assert all(url.endswith("&tk=k3y") for url in basemap.urls)


def test_a_tile_url_override_keeps_the_datum():
    config = {"MAP_TILES": "gaode", "TIANDITU_KEY": "", "MAP_TILE_URL": "/tiles/{z}/{x}/{y}.png"}
    assert folium_map.tiles_for(config).urls == ("/tiles/{z}/{x}/{y}.png",)
    assert folium_map.tiles_for(config).datum == "gcj02"


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        ({"MAP_TILES": "google"}, "MAP_TILES must be one of"),
        ({"MAP_TILES": "tianditu", "TIANDITU_KEY": ""}, "needs TIANDITU_KEY"),
        # The CSP names each tile host: only {s} can be spelled out there.
        ({"MAP_TILE_URL": "https://{r}.tiles.example.net/{z}/{x}/{y}"}, "only placeholder"),
    ],
)
def test_bad_tile_configuration_refuses_to_start(config, reason):
    with pytest.raises(RuntimeError, match=reason):
        create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://", **config})


def test_the_page_draws_gaode_in_gcj02(client, monkeypatch):
    monkeypatch.setitem(client.application.config, "MAP_TILES", "gaode")
    response = client.get("/")
    assert page_config(response)["datum"] == "gcj02"
    assert "webrd0{s}.is.autonavi.com" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "name",
    [
        "vendor/leaflet/leaflet.js",
        "vendor/leaflet/leaflet.css",
        "vendor/leaflet.markercluster/leaflet.markercluster.js",
        "rider/map.js",
        "rider/map.css",
        "icon.svg",
    ],
)
def test_assets_are_served_gzipped_and_cached_for_a_year(plain_client, name):
    with plain_client.application.test_request_context():
        url = asset_url(name)
    assert re.fullmatch(rf"/assets/[0-9a-f]{{12}}/{re.escape(name)}", url)
    response = plain_client.get(url, headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    plain = plain_client.get(url)
    assert "Content-Encoding" not in plain.headers and len(plain.data) > len(response.data)


@pytest.mark.parametrize(
    "path",
    [
        "/assets/000000000000/rider/map.js",  # an old version
        "/assets/{map}/rider/map.css",  # another file's hash
        "/assets/{map}/vendor/leaflet/package.json",
        "/assets/{map}/vendor/leaflet/leaflet-src.js",
        "/assets/{map}/vendor/jquery/jquery.min.js",  # no page loads jQuery: not served
        "/assets/{map}/vendor/leaflet/..%2Fpackage.json",
        "/assets/{map}/../stations/__init__.py",
        "/assets/{map}/..%2Fstations%2F__init__.py",
        "/assets/{map}/rider/../../README.md",
        "/assets/{map}/rider",
        "/static/rider/map.js",  # Flask's own static route is off
        "/static/icon.svg",
    ],
)
def test_only_listed_files_at_their_hash_are_served(plain_client, path):
    with plain_client.application.test_request_context():
        digest = asset_url("rider/map.js").split("/")[2]
    assert plain_client.get(path.format(map=digest)).status_code == 404


def test_manifest_and_service_worker(client):
    manifest = client.get("/manifest.webmanifest")
    assert manifest.mimetype == "application/manifest+json"
    assert manifest.get_json()["start_url"] == "/"
    worker = client.get("/sw.js")
    assert worker.mimetype == "text/javascript" and worker.headers["Cache-Control"] == "no-cache"
    shell = json.loads(re.search(r"const SHELL = (\[.*?\]);", worker.get_data(as_text=True))[1])
    assert "/" in shell and any(url.endswith("/vendor/leaflet/leaflet.js") for url in shell)
    # Everything but the page and the manifest is an asset, hashed.
    pages = [url for url in shell if not url.startswith("/assets/")]
    assert pages == ["/", "/manifest.webmanifest"]
    for url in [*shell, manifest.get_json()["icons"][0]["src"]]:
        assert client.get(url).status_code == 200, url


def test_the_page_is_gzipped(client):
    response = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert response.headers["Content-Encoding"] == "gzip"


def test_the_english_catalog_is_compiled_and_complete():
    with open(os.path.join(CATALOG, "messages.po"), "rb") as file:
        catalog = read_po(file)
    with open(os.path.join(CATALOG, "messages.mo"), "rb") as file:
        compiled = read_mo(file)
    assert {m.id: m.string for m in catalog if m.id} == {m.id: m.string for m in compiled if m.id}
    assert all(m.string for m in catalog if m.id)
    method_map = [("stations/**.py", "python"), ("templates/**.html", "jinja2")]
    keywords = {"_": None, "_l": None, "gettext": None}
    used = {message for _, _, message, *_ in extract_from_dir(ROOT, method_map, keywords=keywords)}
    assert used - {m.id for m in catalog} == set(), "run pybabel extract/update (see babel.cfg)"


def test_each_district_centre_lies_in_its_district():
    centres = district_centres()
    assert len(centres) == 9
    for centre in centres:
        assert district_at(lat=centre["lat"], lng=centre["lng"]) == centre["name"]


def test_no_iframe_the_map_is_in_the_page(client):
    html = client.get("/").get_data(as_text=True)
    assert "<iframe" not in html and 'id="map_stations"' in html and "L.markerClusterGroup" in html
    assert html.count("<script defer src=") == 2
