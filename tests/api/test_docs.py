"""The guide at /api/docs: both languages, nothing from elsewhere, and examples that really work."""

import html
import re
import shutil
import subprocess
import sys
import urllib.request

import pytest
from flask_migrate import upgrade
from servers import ROOT, app_environment, gunicorn

from stations import create_app
from stations.api.openapi import openapi_document
from stations.cli import SAMPLE_FILE
from stations.core.datum import from_wgs84
from stations.core.db import db
from stations.core.importer import import_stations


@pytest.mark.parametrize(
    ("query", "headers", "lang", "phrase"),
    [
        ({}, {}, "en", "Your first call in ten minutes"),
        ({"lang": "zh"}, {}, "zh-CN", "十分钟完成第一次调用"),
        ({}, {"Accept-Language": "zh-CN,zh;q=0.9"}, "zh-CN", "坐标系"),
        ({"lang": "fr"}, {"Accept-Language": "en-GB"}, "en", "Keys and limits"),
    ],
)
def test_the_guide_in_each_language(client, query, headers, lang, phrase):
    response = client.get("/api/docs", query_string=query, headers=headers)
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert response.headers["Cache-Control"] == "public, max-age=3600"
    page = response.get_data(as_text=True)
    assert f'<html lang="{lang}">' in page and phrase in page


def test_an_overlong_lang_is_refused(client):
    response = client.get("/api/docs", query_string={"lang": "e" * 36})
    assert (response.status_code, response.mimetype) == (400, "application/problem+json")
    assert response.get_json()["detail"] == "lang: must be at most 35 characters"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_guide_covers_what_a_developer_needs(client, lang):
    page = client.get("/api/docs", query_string={"lang": lang}).get_data(as_text=True)
    for needed in (
        "<h3>curl</h3>",
        "<h3>Python</h3>",
        "<h3>JavaScript</h3>",
        "create-api-key",
        "X-API-Key",
        "Retry-After",
        "RateLimit-Remaining",
        "If-None-Match",
        "next_cursor",
        "Deprecation",
        "Sunset",
        "CC BY 4.0",
        "coord_type",
    ):
        assert needed in page, needed
    lat, lng = (round(v, 6) for v in from_wgs84("gcj02", lat=22.5431, lng=114.0579))
    assert f"to={lng},{lat}" in page  # Amap's lng,lat order, shown with the GCJ-02 numbers
    for path in openapi_document()["paths"]:
        assert f"<code>{path}</code>" in page, path


def test_the_guide_loads_nothing_from_elsewhere(client):
    for lang in ("en", "zh"):
        page = client.get("/api/docs", query_string={"lang": lang}).get_data(as_text=True)
        assert not re.search(r"<(script|img|iframe|style)\b", page)
        assert "@import" not in page and "url(" not in page
        # Its one stylesheet is the app's own (an inline <style> would need the CSP to allow it).
        links = re.findall(r'<link rel="(\w+)" href="([^"]+)"', page)
        assert [rel for rel, _ in links] == ["icon", "stylesheet"]
        assert re.fullmatch(r"/assets/[0-9a-f]{12}/api/guide\.css", links[1][1])
    with client.get(links[1][1]) as stylesheet:
        assert (stylesheet.status_code, stylesheet.mimetype) == (200, "text/css")


# A new developer: a key from the command line, then each example of the guide, run as given.


def code_after(page, heading):
    """The text of the first code block after a heading, as a reader would copy it."""
    block = re.search(rf"<h3>{heading}</h3>\s*<pre><code>(.*?)</code></pre>", page, re.S)
    return html.unescape(block.group(1))


@pytest.fixture(params=["sqlite", "postgis"])
def guide_server(request, tmp_path):
    """gunicorn on a database with the sample; the base URL and the environment used."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/guide.sqlite"
    else:
        from conftest import _postgis_url

        url = _postgis_url("_guide")
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_STORAGE_URI": "stations+sqlite://"}
    )
    with app.app_context():
        upgrade()
        import_stations(SAMPLE_FILE, is_sample=True)
        db.session.remove()
        db.engine.dispose()
    env = app_environment(DATABASE_URL=url)
    with gunicorn(env) as base:
        yield base, env


def test_the_guide_works_for_a_new_developer(guide_server, tmp_path):
    base, env = guide_server
    created = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "create-api-key", "my script"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    key = re.search(r"^rsk_\S+$", created.stdout, re.M).group(0)
    with urllib.request.urlopen(base + "/api/docs") as response:
        page = response.read().decode()
    run_env = env | {"STATIONS_KEY": key}

    script = tmp_path / "nearest.py"
    script.write_text(code_after(page, "Python"))
    output = subprocess.run(
        [sys.executable, str(script)], env=run_env, capture_output=True, text=True, check=True
    ).stdout
    lines = output.splitlines()
    assert len(lines) == 5 and all(re.match(r"\s*\d+ m  ", line) for line in lines), output

    curl = code_after(page, "curl").split("\n", 1)[1]  # without the line that sets the key
    if shutil.which("curl"):
        done = subprocess.run(["bash", "-c", curl], env=run_env, capture_output=True, text=True)
        assert done.returncode == 0 and '"coord":"gcj02"' in done.stdout.replace(" ", "")

    if shutil.which("node"):
        module = tmp_path / "nearest.mjs"
        module.write_text(code_after(page, "JavaScript"))
        done = subprocess.run(["node", str(module)], env=run_env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert len(done.stdout.splitlines()) == 5
