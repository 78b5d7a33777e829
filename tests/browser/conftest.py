"""Real-browser fixtures: the app on a real port (SQLite and PostGIS), Debian's Chromium as a phone.

Every request to a host other than the test server is aborted and counted; every test ends by
checking that there were none, and no console errors.
"""

import logging
import os
import struct
import threading
import zlib
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from flask import Response
from werkzeug.serving import make_server

from stations import create_app
from stations.core.db import db

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FUTIAN = {"latitude": 22.5431, "longitude": 114.0579}


def _grey_png(size, grey):
    """A square grey PNG: every tile of the same-origin dummy basemap."""

    def chunk(kind, data):
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)
    rows = (b"\x00" + bytes([grey]) * size) * size
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


TILE_PNG = _grey_png(256, 0xE4)
TEST_TILES = "/test-tiles/{z}/{x}/{y}.png"
OUTPUT = os.path.join(os.path.dirname(__file__), "..", "..", "test-output")


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (never `playwright install`)."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _tile():
    return Response(TILE_PNG, mimetype="image/png")


def serve_test_tiles(app):
    """Draw the app's basemap from the same-origin dummy tiles (call before its first request)."""
    app.config["MAP_TILE_URL"] = TEST_TILES
    app.add_url_rule("/test-tiles/<int:z>/<int:x>/<int:y>.png", "test_tile", lambda **_: _tile())


@pytest.fixture(scope="session")
def live_server(sample_database):
    """The app served on 127.0.0.1 from a thread, on the committed sample database."""
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": sample_database.config["SQLALCHEMY_DATABASE_URI"],
        }
    )
    serve_test_tiles(app)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield SimpleNamespace(url=f"http://127.0.0.1:{server.server_port}", app=app)
    server.shutdown()
    thread.join()
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="module")
def tiled_live_server(empty_live_server):
    """empty_live_server (a database of its own, both backends) with the dummy basemap."""
    base, app = empty_live_server
    serve_test_tiles(app)
    return base, app


class Phone:
    """One phone-sized browser context and its page, with what left the machine and what broke."""

    def __init__(self, context, base_url):
        self.context = context
        self.base_url = base_url
        self.external = []
        self.console_errors = []
        self.expected_console_errors = set()
        context.route("**/*", self._route)
        self.page = context.new_page()
        self.page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        self.page.on("pageerror", lambda error: self.console_errors.append(str(error)))

    def _route(self, route):
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            self.external.append(route.request.url)
            route.abort()

    def open(self, path="/"):
        """Load a page and wait until the list shows stations."""
        self.page.goto(self.base_url + path)
        self.wait_for_list()
        return self.page

    def wait_for_list(self):
        self.page.wait_for_selector("#list[aria-busy=false] li.station")

    def wait_for_ids(self, ids):
        """Wait until the list shows exactly these stations, in this order."""
        self.page.wait_for_function(
            "ids => [...document.querySelectorAll('#list li.station')]"
            ".map(li => +li.dataset.stationId).join() === ids.join()",
            arg=list(ids),
        )

    def listed_ids(self):
        return [
            int(i)
            for i in self.page.eval_on_selector_all(
                "#list li.station", "items => items.map(i => i.dataset.stationId)"
            )
        ]

    def screenshot(self, name):
        os.makedirs(OUTPUT, exist_ok=True)
        path = os.path.join(OUTPUT, name)
        self.page.screenshot(path=path)
        return path


@pytest.fixture
def phone(browser, live_server):
    """Open phones (390x844, scale 3, touch, zh-CN, Shanghai time, faked position)."""
    phones = []

    def open_phone(
        *,
        position=FUTIAN,
        allow_location=True,
        tiles="gaode",
        tile_url=TEST_TILES,
        user_agent=None,
        service_workers="block",
        width=390,
    ):
        live_server.app.config.update(MAP_TILES=tiles, MAP_TILE_URL=tile_url)
        options = {
            "viewport": {"width": width, "height": 844},
            "device_scale_factor": 3,
            "has_touch": True,
            "is_mobile": True,
            "locale": "zh-CN",
            "timezone_id": "Asia/Shanghai",
            "geolocation": position,
            "permissions": ["geolocation"] if allow_location else [],
            "service_workers": service_workers,
        }
        if user_agent:
            options["user_agent"] = user_agent
        phone = Phone(browser.new_context(**options), live_server.url)
        phones.append(phone)
        return phone

    yield open_phone
    live_server.app.config.update(MAP_TILES="gaode", MAP_TILE_URL=TEST_TILES)
    for each in phones:
        each.context.close()
    for each in phones:
        assert each.external == [], "requests left the machine"
        unexpected = [e for e in each.console_errors if e not in each.expected_console_errors]
        assert unexpected == [], "the browser console showed errors"
