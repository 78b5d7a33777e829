"""The API through nginx with deploy/nginx.conf, as deployed: HTTPS, forwarded headers, limits,
caching, sizes; gunicorn (deploy/gunicorn.conf.py, 2 workers, TRUSTED_PROXIES=1) behind it, on
both databases. Skipped locally without nginx, never in CI."""

import os
import re
import shutil
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from conftest import BACKENDS, _postgis_url
from flask_migrate import upgrade
from servers import TEST_REDIS_URL, app_environment, free_port, gunicorn, redis_or_skip

from stations import create_app
from stations.api.keys import create_key
from stations.cli import SAMPLE_FILE
from stations.core.db import db
from stations.core.importer import import_stations

ROOT = Path(__file__).resolve().parents[2]
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
PER_IP = 4  # API requests a minute per address without a key, here
FUTIAN = {"lat": "22.5431", "lng": "114.0579"}


def render(*, app_ports, https_port, http_port, cert, key):
    """deploy/nginx.conf with test ports, certificate and upstream (one server line per app
    port): every substitution is checked to apply exactly once, so the test always runs the
    file as shipped."""
    text = NGINX_CONF.read_text()
    swaps = {
        "server 127.0.0.1:8000;": "\n    ".join(f"server 127.0.0.1:{port};" for port in app_ports),
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "listen [::]:443 ssl http2;": "",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen [::]:80;": "",
        "/etc/ssl/stations/fullchain.pem": str(cert),
        "/etc/ssl/stations/privkey.pem": str(key),
    }
    for old, new in swaps.items():
        assert text.count(old) == 1, f"{old!r} is no longer in deploy/nginx.conf once"
        text = text.replace(old, new)
    return text


def main_conf(prefix, site):
    """A whole nginx.conf around the site file, every path under `prefix` (no root needed)."""
    temp_paths = "\n".join(
        f"    {kind}_temp_path {prefix}/{kind};" for kind in ("client_body", "proxy", "fastcgi")
    )
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers then write the temp paths
    return (
        f"{user}error_log {prefix}/error.log;\npid {prefix}/nginx.pid;\nevents {{}}\n"
        f"http {{\n    access_log {prefix}/access.log;\n{temp_paths}\n"
        f"    uwsgi_temp_path {prefix}/uwsgi;\n    scgi_temp_path {prefix}/scgi;\n"
        f"    include {site};\n}}\n"
    )


def self_signed(folder):
    """A certificate for 127.0.0.1, valid for a day, and its key."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    return cert, key


def _nginx_or_skip():
    if not os.path.exists(NGINX):
        if os.environ.get("CI"):
            raise AssertionError("nginx is missing: .ci/run installs it")
        pytest.skip("nginx is missing (apt-get install nginx)")


@pytest.fixture(scope="module", params=BACKENDS)
def proxied(request, tmp_path_factory):
    """(HTTPS base URL, HTTP base URL, certificate, partner key) of nginx in front of gunicorn."""
    _nginx_or_skip()
    redis_or_skip(TEST_REDIS_URL)  # two workers count one limit together
    folder = tmp_path_factory.mktemp("nginx")
    if request.param == "sqlite":
        url = f"sqlite:///{folder / 'served.sqlite'}"
    else:
        url = _postgis_url("_nginx")
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_STORAGE_URI": "memory://"})
    with app.app_context():
        upgrade()
        import_stations(SAMPLE_FILE, is_sample=True)
        token = create_key("partner", per_minute=1000)[1]
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    env = app_environment(
        DATABASE_URL=url,
        TRUSTED_PROXIES="1",
        REDIS_URL=TEST_REDIS_URL,
        API_LIMIT_PER_IP=f"{PER_IP} per minute",
    )
    cert, key = self_signed(folder)
    with gunicorn(env, folder / "gunicorn.log", workers=2) as app_base:
        with nginx(folder, app_ports=[app_base.rsplit(":", 1)[1]], cert=cert, key=key) as bases:
            yield *bases, cert, token


@contextmanager
def nginx(folder, *, app_ports, cert, key):
    """nginx with deploy/nginx.conf in front of 127.0.0.1 at app_ports; its HTTPS and HTTP
    bases."""
    https_port, http_port = free_port(), free_port()
    site = folder / "stations.conf"
    ports = {"app_ports": app_ports, "https_port": https_port, "http_port": http_port}
    site.write_text(render(**ports, cert=cert, key=key))
    conf = folder / "nginx.conf"
    conf.write_text(main_conf(folder, site))
    command = [NGINX, "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(conf)]
    check = subprocess.run([*command, "-t"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    server = subprocess.Popen([*command, "-g", "daemon off;"], stderr=subprocess.PIPE)
    try:
        base = f"https://127.0.0.1:{https_port}"
        _wait_for(base + "/", cert, server)
        yield base, f"http://127.0.0.1:{http_port}"
    finally:
        server.terminate()
        server.wait(timeout=10)
        server.stderr.close()


def _wait_for(url, cert, process):
    for _ in range(100):
        assert process.poll() is None, process.stderr.read()
        try:
            requests.get(url, verify=cert, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer")


@pytest.fixture
def get(proxied):
    """GET a path through nginx over HTTPS, with the partner key unless told otherwise."""
    base, _http, cert, token = proxied

    def get(path, *, keyed=True, **headers):
        headers |= {"X-API-Key": token} if keyed else {}
        return requests.get(base + path, headers=headers, verify=cert, timeout=10)

    return get


def test_nearest_and_one_station_over_https(get):
    nearest = get("/api/v1/stations/nearest?lat={lat}&lng={lng}&limit=3".format(**FUTIAN))
    assert nearest.status_code == 200
    items = nearest.json()["data"]
    assert len(items) == 3
    one = get(f"/api/v1/stations/{items[0]['id']}")
    assert one.status_code == 200
    assert one.json()["data"]["id"] == items[0]["id"]
    # The app's own compression, passed through (nginx compresses nothing).
    assert nearest.headers["Content-Encoding"] in ("br", "gzip", "zstd")


def test_revalidation_answers_304(get):
    first = get("/api/v1/stations/1")
    etag = first.headers["ETag"]
    again = get("/api/v1/stations/1", **{"If-None-Match": etag})
    assert again.status_code == 304
    assert again.headers["ETag"] == etag


def test_hsts_because_nginx_says_https(get):
    answer = get("/api/v1/health")
    assert answer.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_plain_http_redirects_to_https(proxied):
    _base, http, _cert, _token = proxied
    answer = requests.get(http + "/api/v1/health?x=1", allow_redirects=False, timeout=10)
    assert answer.status_code == 301
    assert answer.headers["Location"] == "https://127.0.0.1/api/v1/health?x=1"


def test_the_per_ip_limit_counts_the_address_nginx_saw(get):
    """A client's own X-Forwarded-For changes nothing: every request counts for 127.0.0.1."""
    path = "/api/v1/stations/nearest?lat={lat}&lng={lng}&limit=1".format(**FUTIAN)
    statuses = [
        get(path, keyed=False, **{"X-Forwarded-For": f"203.0.113.{n}"}).status_code
        for n in range(PER_IP + 2)
    ]
    assert statuses == [200] * PER_IP + [429, 429]
    refused = get(path, keyed=False)
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert int(refused.headers["Retry-After"]) > 0
    # A keyed caller has its own limit: untouched by the address's.
    assert get(path).status_code == 200


def test_hashed_assets_are_cached_for_a_year(get):
    page = get("/", keyed=False)
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="(/[^"]+\.(?:js|css))"', page.text)
    assert assets, "the page links no script or style sheet"
    for path in assets:
        answer = get(path, keyed=False)
        assert answer.status_code == 200, path
        assert answer.headers["Cache-Control"] == "public, max-age=31536000, immutable", path
        assert "Expires" not in answer.headers


@pytest.mark.parametrize(
    ("extra_bytes", "status", "content_type"),
    [
        (3_000, 400, "application/problem+json"),  # long, but the app's to judge
        (5_000, 414, "application/problem+json"),  # the app's limit: 4,096
    ],
)
def test_long_urls_reach_the_app(get, extra_bytes, status, content_type):
    path = "/api/v1/stations/nearest?lat=22.5&lng=114.0&kind=" + "x" * extra_bytes
    answer = get(path)
    assert answer.status_code == status
    assert answer.headers["Content-Type"] == content_type
    if status == 414:
        assert answer.json()["status"] == 414


def test_a_body_over_the_upload_limit_is_refused_by_nginx(proxied):
    base, _http, cert, _token = proxied
    body = b"x" * (20 * 1024 * 1024 + 1)
    answer = requests.post(base + "/admin/import", data=body, verify=cert, timeout=30)
    assert answer.status_code == 413


def test_no_app_server_is_a_503_problem_on_the_api(tmp_path):
    """Nobody listens upstream: the API still answers problem+json; pages get nginx's page."""
    _nginx_or_skip()
    cert, key = self_signed(tmp_path)
    with nginx(tmp_path, app_ports=[free_port()], cert=cert, key=key) as (base, _http):
        api = requests.get(base + "/api/v1/stations/1", verify=cert, timeout=10)
        assert api.status_code == 503
        assert api.headers["Content-Type"] == "application/problem+json"
        assert api.headers["Retry-After"] == "5"
        assert api.json()["status"] == 503
        page = requests.get(base + "/", verify=cert, timeout=10)
        assert page.status_code == 502
