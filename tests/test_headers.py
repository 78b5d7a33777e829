"""Security headers: every page and every API answer carries them; the CSP follows the tiles."""

import re

import pytest

from stations import create_app, headers
from stations.rider import map_page

GAODE_HOSTS = " ".join(f"https://webrd0{n}.is.autonavi.com" for n in "1234")
PAGE_POLICY = {
    "default-src": "'self'",
    "script-src": "'self' 'nonce-*'",  # * stands for the request's nonce
    "style-src": "'self'",
    "img-src": f"'self' data: {GAODE_HOSTS}",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
API_POLICY = {"default-src": "'none'", "frame-ancestors": "'none'"}
COMMON = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Permissions-Policy": "geolocation=(self)",
}
NEAREST = "/api/v1/stations/nearest?lat=22.5431&lng=114.0579&limit=5"


def policy(response):
    """The response's CSP as {directive: sources}, the nonce written as *."""
    csp = re.sub(r"'nonce-[^']+'", "'nonce-*'", response.headers["Content-Security-Policy"])
    return dict(part.split(" ", 1) for part in csp.split("; "))


def nonce(response):
    return re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1)


def security_headers(response):
    return {name: response.headers.get(name) for name in COMMON}


def _fail(*args, **kwargs):
    raise RuntimeError("a bug")


@pytest.mark.parametrize(
    ("role", "path", "status"),
    [
        ("anonymous", "/", 200),
        ("anonymous", "/login", 200),
        ("manager_a", "/manage/", 200),
        ("admin", "/admin/", 200),
        ("admin", "/admin/users", 200),
        ("admin", "/admin/keys/", 200),
        ("admin", "/admin/import", 200),
        ("admin", "/admin/stations/new", 200),
        ("anonymous", "/api/docs", 200),
        ("anonymous", "/no-such-page", 404),
        ("anonymous", "/manage/", 302),  # to the login page
        ("manager_a", "/admin/", 403),
        ("anonymous", "/?fail=1", 500),  # the error page
    ],
)
def test_every_page_carries_the_security_headers(browsers, monkeypatch, role, path, status):
    if "fail=1" in path:
        monkeypatch.setattr(map_page, "_shows_sample", _fail)
    response = browsers[role].get(path)
    assert response.status_code == status
    assert response.mimetype == "text/html"
    assert security_headers(response) == COMMON
    assert policy(response) == PAGE_POLICY
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP
    # style-src 'self' holds because no page has a style attribute or element of its own.
    assert not re.search(r"<style|\sstyle=", response.get_data(as_text=True))


@pytest.mark.parametrize("path", ["/", "/admin/stations/new"])
def test_the_maps_inline_script_carries_the_requests_nonce(browsers, path):
    first, second = (browsers["admin"].get(path) for _ in range(2))
    for response in (first, second):
        html = response.get_data(as_text=True)
        inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", html)
        run = [attributes for attributes in inline if "application/json" not in attributes]
        assert run == [f' nonce="{nonce(response)}"']
    assert nonce(first) != nonce(second)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (NEAREST, 200),
        ("/api/v1/stations/nearest?lat=99&lng=114", 400),
        ("/api/v1/stations?per_page=5", 200),
        ("/api/v1/stations/999999", 404),
        ("/api/v1/health", 200),
        ("/api/v1/openapi.json", 200),
        ("/api/v1/stations/changes", 200),
    ],
)
def test_the_api_answers_carry_a_policy_that_allows_nothing(client, path, status):
    response = client.get(path, headers={"Origin": "https://partner.example"})
    assert response.status_code == status
    assert security_headers(response) == COMMON
    assert policy(response) == API_POLICY
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_conditional_and_compressed_api_answers_keep_them(client):
    first = client.get(NEAREST, headers={"Accept-Encoding": "gzip"})
    assert first.headers["Content-Encoding"] == "gzip"
    again = client.get(NEAREST, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    for response in (first, again):
        assert security_headers(response) == COMMON
        assert policy(response) == API_POLICY


@pytest.mark.parametrize(
    ("config", "tile_sources"),
    [
        ({"MAP_TILES": "gaode"}, GAODE_HOSTS),
        (
            {"MAP_TILES": "tianditu", "TIANDITU_KEY": "k3y"},
            " ".join(f"https://t{n}.tianditu.gov.cn" for n in range(8)),
        ),
        ({"MAP_TILES": "osm"}, "https://tile.openstreetmap.org"),
        ({"MAP_TILES": "none"}, ""),
        ({"MAP_TILES": "none", "MAP_TILE_URL": "https://tiles.example.net/{z}/{x}/{y}"}, ""),
        ({"MAP_TILES": "gaode", "MAP_TILE_URL": "/tiles/{z}/{x}/{y}.png"}, ""),
        (
            {"MAP_TILES": "osm", "MAP_TILE_URL": "https://{s}.tiles.example.net/{z}/{x}/{y}.png"},
            "https://a.tiles.example.net https://b.tiles.example.net https://c.tiles.example.net",
        ),
        (
            {"MAP_TILES": "gaode", "MAP_TILE_URL": "http://127.0.0.1:8081/t/{z}/{x}/{y}.png"},
            "http://127.0.0.1:8081",
        ),
        (
            {"MAP_TILES": "osm", "MAP_TILE_URL": "//tiles.example.net/{z}/{x}/{y}"},
            "tiles.example.net",
        ),
    ],
    ids=[
        "gaode",
        "tianditu",
        "osm",
        "none",
        "none-url",
        "relative",
        "subdomains",
        "port",
        "no-scheme",
    ],
)
def test_images_may_come_from_the_configured_tile_host_only(config, tile_sources):
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"} | config)
    response = app.test_client().get("/login")
    assert policy(response)["img-src"] == " ".join(filter(None, ["'self' data:", tile_sources]))
    assert policy(response) == PAGE_POLICY | {"img-src": policy(response)["img-src"]}
    with app.test_request_context():
        assert headers.page_policy(app.config)["img-src"][2:] == tile_sources.split()


@pytest.mark.parametrize(
    ("proxies", "base_url", "forwarded_proto", "hsts"),
    [
        ("0", "http://localhost", None, None),
        ("0", "https://localhost", None, "max-age=31536000"),
        ("1", "http://localhost", "https", "max-age=31536000"),  # TLS ended at the proxy
        ("1", "http://localhost", "http", None),
        ("1", "http://localhost", None, None),
    ],
)
def test_hsts_only_on_https(monkeypatch, proxies, base_url, forwarded_proto, hsts):
    monkeypatch.setenv("TRUSTED_PROXIES", proxies)
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    sent = {"X-Forwarded-Proto": forwarded_proto} if forwarded_proto else {}
    for path in ("/login", "/api/v1/health"):
        response = app.test_client().get(path, base_url=base_url, headers=sent)
        assert response.status_code == 200  # never redirected to HTTPS: the proxy's job
        assert response.headers.get("Strict-Transport-Security") == hsts
