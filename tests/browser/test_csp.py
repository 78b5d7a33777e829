"""Every page works under its Content-Security-Policy, with every basemap: nothing is refused.

The basemap's real tile hosts are asked for, and the browser itself answers them with a grey
tile, so the CSP is tested with the true hosts while no request leaves the machine.
"""

import logging
import threading
from urllib.parse import urlsplit

import pytest
from conftest import BACKENDS, _postgis_url
from flask_migrate import upgrade
from support import PASSWORD, make_station, make_user
from werkzeug.serving import make_server

from stations import create_app
from stations.core.db import db
from stations.rider.folium_map import tile_origins, tiles_for

from .conftest import FUTIAN, TILE_PNG

TILES = {
    "gaode": {"MAP_TILES": "gaode"},
    "tianditu": {"MAP_TILES": "tianditu", "TIANDITU_KEY": "dummy-key"},
    "osm": {"MAP_TILES": "osm"},
    "none": {"MAP_TILES": "none"},
}
MISSING = "/no-such-page"  # the error page
MANAGER, ADMIN = "manager@example.org", "admin@example.org"
# Reported to the test from inside every page, before any of the page's own scripts run.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.reportViolation(`${event.violatedDirective} refused ${event.blockedURI}`);
});
"""


@pytest.fixture(scope="module", params=BACKENDS)
def database(request, tmp_path_factory):
    """A database of each backend with a station open around the clock, its manager and an
    admin: its app's config and the station's id."""
    if request.param == "sqlite":
        url = "sqlite:///" + str(tmp_path_factory.mktemp("csp") / "csp.sqlite")
    else:
        url = _postgis_url("_csp")
    config = {
        "SQLALCHEMY_DATABASE_URI": url,
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        "RATELIMIT_STORAGE_URI": "stations+sqlite://",
    }
    app = create_app(config)
    with app.app_context():
        upgrade()
        station = make_station("CSP", name="福田测试驿站", opening_hours="24/7")
        make_user(MANAGER, "manager", [station])
        make_user(ADMIN, "admin")
        station_id = station.id
        db.session.remove()
        db.engine.dispose()
    return config, station_id


@pytest.fixture
def server(database, request):
    """The app on that database with one basemap (the CSP is fixed at start-up); its base URL."""
    config, _station_id = database
    app = create_app(config | TILES[request.param])
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}", app
    httpd.shutdown()
    thread.join()
    with app.app_context():
        db.engine.dispose()


class Watched:
    """Phone-sized browser contexts whose CSP violations, console errors, tile requests and
    attempts to leave the machine are all collected."""

    def __init__(self, browser, tile_hosts):
        self.browser = browser
        self.tile_hosts = set(tile_hosts)
        self.contexts = []
        self.violations, self.errors, self.tiles, self.external = [], [], [], []

    def page(self, **options):
        context = self.browser.new_context(
            viewport={"width": 390, "height": 844},
            is_mobile=True,
            has_touch=True,
            locale="zh-CN",
            **options,
        )
        self.contexts.append(context)
        context.route("**/*", self._route)
        context.expose_function("reportViolation", lambda text: self.violations.append(text))
        context.add_init_script(REPORT_VIOLATIONS)
        page = context.new_page()
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        return page

    def _console(self, message):
        if message.location["url"].endswith(MISSING):
            return  # the 404 the test asked for
        if message.type == "error" or "Content Security Policy" in message.text:
            self.errors.append(message.text)

    def _route(self, route):
        url = urlsplit(route.request.url)
        if url.hostname == "127.0.0.1":
            route.continue_()
        elif f"{url.scheme}://{url.netloc}" in self.tile_hosts:
            self.tiles.append(route.request.url)
            route.fulfill(body=TILE_PNG, content_type="image/png")
        else:
            self.external.append(route.request.url)
            route.abort()

    def close(self):
        for context in self.contexts:
            context.close()


def log_in(page, base, email):
    page.goto(f"{base}/login")
    page.get_by_label("邮箱").fill(email)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").tap()
    page.get_by_role("heading", name="我的站点").wait_for()
    page.wait_for_load_state()  # the stylesheets too


def wait_for_tiles(page, tiles):
    if tiles != "none":
        page.wait_for_selector(".leaflet-tile-loaded", timeout=10_000)


@pytest.mark.parametrize("server", list(TILES), indirect=True)
def test_every_page_works_under_its_policy(browser, server, database):
    base, app = server
    tiles = app.config["MAP_TILES"]
    watched = Watched(browser, tile_origins(tiles_for(app.config)))
    try:
        rider = watched.page(
            geolocation=FUTIAN, permissions=["geolocation"], service_workers="allow"
        )
        rider.goto(base + "/")
        rider.wait_for_selector("#list[aria-busy=false] li.station")
        assert rider.locator("#position-text").inner_text() == "按你的当前位置排序"
        wait_for_tiles(rider, tiles)
        assert rider.evaluate("navigator.serviceWorker.ready.then(() => true)")
        rider.goto(base + "/api/docs")
        assert rider.evaluate("getComputedStyle(document.body).maxWidth") == "832px"  # 52rem
        assert rider.goto(base + MISSING).status == 404
        assert rider.evaluate("getComputedStyle(document.body).margin") == "32px"  # 2rem

        manager = watched.page()
        log_in(manager, base, MANAGER)
        assert manager.evaluate("getComputedStyle(document.forms[0]).display") == "inline"
        manager.goto(f"{base}/manage/stations/{database[1]}")
        manager.get_by_role("group", name="饮用水").wait_for()

        admin = watched.page()
        log_in(admin, base, ADMIN)
        admin.goto(base + "/admin/")
        admin.goto(base + "/admin/stations/new")
        admin.wait_for_function("() => window.positionMap", timeout=10_000)
        wait_for_tiles(admin, tiles)
    finally:
        watched.close()
    assert watched.violations == []
    assert watched.errors == []
    assert watched.external == []
    assert bool(watched.tiles) == (tiles != "none")
