"""The developer guide at /api/docs, in English or Chinese: plain HTML from our own templates
(no scripts, fonts or styles from anywhere else), its reference built from the OpenAPI document."""

from flask import Blueprint, abort, current_app, render_template, request
from limits import parse

from ..core import datum
from ..i18n import LANGUAGES
from .export import LICENSE
from .keys import DEFAULT_PER_MINUTE
from .openapi import openapi_document
from .openapi.partner import MAX_LANG_LENGTH

bp = Blueprint("docs", __name__, url_prefix="/api")

# The example position of the guide: Futian CBD, as a phone's GPS reports it (WGS-84).
FUTIAN_WGS84 = (22.5431, 114.0579)


def coordinate_example():
    """The example position in each datum, to 6 decimals: {datum: (lat, lng)}."""
    lat, lng = FUTIAN_WGS84
    return {
        name: tuple(round(value, 6) for value in datum.from_wgs84(name, lat=lat, lng=lng))
        for name in datum.DATUMS
    }


@bp.get("/docs")
def guide():
    """The guide: first call, keys, limits, coordinates, caching, the change feed, reference."""
    lang = request.args.get("lang")
    if lang is not None and len(lang) > MAX_LANG_LENGTH:
        abort(400, f"lang: must be at most {MAX_LANG_LENGTH} characters")
    if lang not in LANGUAGES:
        lang = request.accept_languages.best_match(["en", "zh-CN", "zh"], default="en")[:2]
    html = render_template(
        f"api/guide_{lang}.html",
        lang=lang,
        spec=openapi_document(),
        base_url=request.host_url.rstrip("/"),
        ip_limit=parse(current_app.config["API_LIMIT_PER_IP"]),
        key_per_minute=DEFAULT_PER_MINUTE,
        coords=coordinate_example(),
        license=LICENSE,
    )
    return html, {"Cache-Control": "public, max-age=3600", "Vary": "Accept-Language"}
