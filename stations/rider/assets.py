"""The page's script, styles and libraries, served by the app itself: never from a CDN.

Libraries come from npm (node_modules/, installed by `npm ci`); the app's own files from static/.
Only the files listed here are served, each under a URL that changes with its content (the
package version, or a hash), so they are cached for a year; each is gzipped once.
"""

import gzip
import hashlib
import json
import os
from functools import cache

from flask import Blueprint, Response, abort, request, url_for

from ..config import ROOT

bp = Blueprint("assets", __name__)

NODE_MODULES = os.path.join(ROOT, "node_modules")
STATIC = os.path.join(ROOT, "static")
# (package, file name in the URL) -> path inside the package
LIBRARY_FILES = {
    ("leaflet", "leaflet.js"): "dist/leaflet.js",
    ("leaflet", "leaflet.css"): "dist/leaflet.css",
    ("leaflet.markercluster", "leaflet.markercluster.js"): "dist/leaflet.markercluster.js",
    ("leaflet.markercluster", "MarkerCluster.css"): "dist/MarkerCluster.css",
    ("leaflet.markercluster", "MarkerCluster.Default.css"): "dist/MarkerCluster.Default.css",
    ("jquery", "jquery.min.js"): "dist/jquery.min.js",
}
OWN_FILES = ("app.js", "app.css", "icon.svg")
_MIMETYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
A_YEAR_S = 365 * 24 * 3600


@cache
def package_version(package):
    """The installed version of an npm package; a clear error when `npm ci` has not run."""
    path = os.path.join(NODE_MODULES, package, "package.json")
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)["version"]
    except FileNotFoundError:
        raise RuntimeError(f"{path} is missing: run `npm ci` in {ROOT}") from None


@cache
def _read(path, mtime):
    """A file's bytes, their gzip and a short hash of them, read once per version of the file."""
    with open(path, "rb") as file:
        body = file.read()
    digest = hashlib.sha256(body).hexdigest()[:12]
    return body, gzip.compress(body, compresslevel=9, mtime=0), digest


def _load(path):
    return _read(path, os.stat(path).st_mtime_ns)


def vendor_url(package, name):
    """The URL of one allow-listed library file, with the installed version in it."""
    version = package_version(package)
    return url_for("assets.library", package=package, version=version, name=name)


@bp.app_template_global()
def asset_url(name):
    """The URL of one of the app's own static files, with a hash of its content in it."""
    digest = _load(os.path.join(STATIC, name))[2]
    return url_for("assets.own", digest=digest, name=name)


def _send(path):
    """The file, gzipped when the browser takes gzip, cached for a year."""
    body, zipped, _digest = _load(path)
    response = Response(mimetype=_MIMETYPES[os.path.splitext(path)[1]])
    if "gzip" in request.accept_encodings:
        response.set_data(zipped)
        response.headers["Content-Encoding"] = "gzip"
    else:
        response.set_data(body)
    response.headers["Vary"] = "Accept-Encoding"
    response.headers["Cache-Control"] = f"public, max-age={A_YEAR_S}, immutable"
    return response


@bp.get("/vendor/<package>/<version>/<name>")
def library(package, version, name):
    """One allow-listed file of an npm package, at the installed version only."""
    if (package, name) not in LIBRARY_FILES or version != package_version(package):
        abort(404)
    return _send(os.path.join(NODE_MODULES, package, LIBRARY_FILES[package, name]))


@bp.get("/assets/<digest>/<name>")
def own(digest, name):
    """One of the app's own static files, at its current content only."""
    if name not in OWN_FILES:
        abort(404)
    path = os.path.join(STATIC, name)
    if digest != _load(path)[2]:
        abort(404)
    return _send(path)
