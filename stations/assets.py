"""Every script, stylesheet and icon a page loads, served one way, by the app itself (never a CDN).

`asset_url(name)` is the only way a page names one: `/assets/<hash of the content>/<name>`, so
each is cached for a year and a new version is a new URL; each is gzipped once. The app's own
files are static/ (rider/, api/, manage/ as the rooms, shared ones at its top); the browser
libraries come from npm (node_modules/, installed by `npm ci`), an allow-list under vendor/.
Flask's own static route is off (create_app: static_folder=None).
"""

import gzip
import hashlib
import os
from functools import cache

from flask import Blueprint, Response, abort, request, url_for
from werkzeug.security import safe_join

from .config import ROOT

bp = Blueprint("assets", __name__)

NODE_MODULES = os.path.join(ROOT, "node_modules")
STATIC = os.path.join(ROOT, "static")
VENDOR = "vendor/"
# name after vendor/ -> path inside node_modules/
LIBRARY_FILES = {
    "leaflet/leaflet.js": "leaflet/dist/leaflet.js",
    "leaflet/leaflet.css": "leaflet/dist/leaflet.css",
    "leaflet.markercluster/leaflet.markercluster.js": (
        "leaflet.markercluster/dist/leaflet.markercluster.js"
    ),
    "leaflet.markercluster/MarkerCluster.css": "leaflet.markercluster/dist/MarkerCluster.css",
    "leaflet.markercluster/MarkerCluster.Default.css": (
        "leaflet.markercluster/dist/MarkerCluster.Default.css"
    ),
}
MIMETYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
A_YEAR_S = 365 * 24 * 3600


def _path(name):
    """The file behind an asset name, or None: a listed library file, or a page file in static/."""
    if name.startswith(VENDOR):
        inside = LIBRARY_FILES.get(name.removeprefix(VENDOR))
        return os.path.join(NODE_MODULES, inside) if inside else None
    path = safe_join(STATIC, name)
    if path is None or os.path.splitext(path)[1] not in MIMETYPES or not os.path.isfile(path):
        return None
    return path


@cache
def _read(path, mtime):
    """A file's bytes, their gzip and a short hash of them, read once per version of the file."""
    with open(path, "rb") as file:
        body = file.read()
    digest = hashlib.sha256(body).hexdigest()[:12]
    return body, gzip.compress(body, compresslevel=9, mtime=0), digest


def _load(path):
    return _read(path, os.stat(path).st_mtime_ns)


@bp.app_template_global()
def asset_url(name):
    """The URL of one asset (`rider/map.js`, `vendor/leaflet/leaflet.js`), its hash in it."""
    path = _path(name)
    if path is None:
        raise LookupError(f"no asset {name!r}: not in static/ nor in assets.LIBRARY_FILES")
    try:
        digest = _load(path)[2]
    except FileNotFoundError:
        raise RuntimeError(f"{path} is missing: run `npm ci` in {ROOT}") from None
    return url_for("assets.asset", digest=digest, name=name)


@bp.get("/assets/<digest>/<path:name>")
def asset(digest, name):
    """One asset at its current content only: gzipped when the browser takes it, cached a year."""
    path = _path(name)
    if path is None or not os.path.isfile(path):
        abort(404)
    body, zipped, current = _load(path)
    if digest != current:
        abort(404)
    response = Response(mimetype=MIMETYPES[os.path.splitext(path)[1]])
    if "gzip" in request.accept_encodings:
        response.set_data(zipped)
        response.headers["Content-Encoding"] = "gzip"
    else:
        response.set_data(body)
    response.headers["Vary"] = "Accept-Encoding"
    response.headers["Cache-Control"] = f"public, max-age={A_YEAR_S}, immutable"
    return response
