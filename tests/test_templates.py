"""Every HTML page extends templates/base.html, and loads its files one way: assets.asset_url,
hashed, cached for a year, gzipped when the browser takes it."""

import gzip
import io
import os
import re

import pytest
from flask import template_rendered
from jinja2 import nodes
from support import post

from stations import create_app
from stations.config import ROOT
from stations.rider import map_page

ASSET = re.compile(r"/assets/[0-9a-f]{12}/[\w./-]+\.(?:js|css|svg)")
A_YEAR = "public, max-age=31536000, immutable"
# What only base.html may write: the document's frame, the CSP nonce, a static URL of its own.
BASE_ONLY = ("<!doctype", "<html ", "<head>", "<meta charset", "csp_nonce", "static", "<style")


@pytest.fixture(scope="module")
def jinja():
    return create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"}).jinja_env


def extends_chain(env, name):
    """The template, then each template it extends in turn (the last one extends none)."""
    chain = [name]
    while True:
        source = env.loader.get_source(env, chain[-1])[0]
        parent = next(env.parse(source).find_all(nodes.Extends), None)
        if parent is None:
            return chain
        chain.append(parent.template.value)


def html_templates():
    """Every HTML template but base.html and the macro files."""
    folder = os.path.join(ROOT, "templates")
    names = [
        os.path.relpath(os.path.join(here, name), folder).replace(os.sep, "/")
        for here, _dirs, files in os.walk(folder)
        for name in files
        if name.endswith(".html")
    ]
    return sorted(n for n in names if n != "base.html" and not n.endswith("_macros.html"))


def test_the_templates_are_found():
    assert len(html_templates()) == 18
    assert "manage/admin/station.html" in html_templates()


@pytest.mark.parametrize("name", html_templates())
def test_every_page_template_extends_base(jinja, name):
    assert extends_chain(jinja, name)[-1] == "base.html"
    source = jinja.loader.get_source(jinja, name)[0].lower()
    assert [word for word in BASE_ONLY if word in source] == []


def _import_file():
    content = b"external_id,kind,name,lat,lng\nC,warm_station,C,22.6,114.1\n"
    return {"crs": "wgs84", "file": (io.BytesIO(content), "stations.csv")}


# role, path, form to POST (None: GET), status, the template rendered
PAGES = [
    ("anonymous", "/", None, 200, "rider/index.html"),
    ("anonymous", "/?fail=1", None, 500, "error.html"),
    ("anonymous", "/no-such-page", None, 404, "error.html"),
    ("anonymous", "/api/docs?lang=en", None, 200, "api/guide_en.html"),
    ("anonymous", "/api/docs?lang=zh", None, 200, "api/guide_zh.html"),
    ("anonymous", "/login", None, 200, "manage/login.html"),
    ("manager_a", "/manage/", None, 200, "manage/index.html"),
    ("manager_a", "/manage/stations/{a}", None, 200, "manage/station.html"),
    ("manager_a", "/admin/", None, 403, "error.html"),
    ("admin", "/admin/", None, 200, "manage/admin/index.html"),
    ("admin", "/admin/stations/new", None, 200, "manage/admin/station.html"),
    ("admin", "/admin/stations/{a}/edit", None, 200, "manage/admin/station.html"),
    ("admin", "/admin/stations/{a}/retire", None, 200, "manage/admin/retire.html"),
    ("admin", "/admin/users", None, 200, "manage/admin/users.html"),
    ("admin", "/admin/users/{manager_a}", None, 200, "manage/admin/user.html"),
    ("admin", "/admin/keys/", None, 200, "manage/admin/keys.html"),
    ("admin", "/admin/import", None, 200, "manage/admin/import.html"),
    ("admin", "/admin/import", _import_file, 200, "manage/admin/import_preview.html"),
]


def _fail():
    raise RuntimeError("a bug")


@pytest.mark.parametrize(("role", "path", "form", "status", "template"), PAGES)
def test_every_page_is_base_with_hashed_assets(
    app, browsers, world, monkeypatch, role, path, form, status, template
):
    monkeypatch.setattr(map_page, "_shows_sample", _fail if "fail=1" in path else lambda: False)
    rendered = []

    def remember(sender, template, context, **extra):
        rendered.append(template.name)

    url = path.format(a=world.a.id, manager_a=world.manager_a.id)
    with template_rendered.connected_to(remember, app):
        if form is None:
            response = browsers[role].get(url)
        else:
            response = post(browsers[role], url, form())
    assert (response.status_code, rendered) == (status, [template])
    assert extends_chain(app.jinja_env, template)[-1] == "base.html"
    html = response.get_data(as_text=True)
    assert html.startswith("<!doctype html>\n<html lang=") and html.count("<head>") == 1
    assert "/static/" not in html
    files = re.findall(
        r'<(?:script|link rel="(?:stylesheet|icon)")[^>]* (?:src|href)="([^"]*)"', html
    )
    assert len(files) >= 2 and [url for url in files if not ASSET.fullmatch(url)] == []
    for url in files:
        zipped = app.test_client().get(url, headers={"Accept-Encoding": "gzip, br"})
        plain = app.test_client().get(url)
        assert (zipped.status_code, plain.status_code) == (200, 200), url
        assert (
            zipped.headers["Content-Encoding"] == "gzip" and "Content-Encoding" not in plain.headers
        )
        assert zipped.headers["Cache-Control"] == plain.headers["Cache-Control"] == A_YEAR
        assert "Accept-Encoding" in zipped.vary
        assert gzip.decompress(zipped.data) == plain.data
