"""The people-facing pages: the rider's map, its web app manifest and its service worker."""

import hashlib

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify, make_response, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from ..assets import A_YEAR_S, asset_url
from ..core.db import db
from ..core.districts import district_centres
from ..core.models import AMENITIES, CHECKIN_FACTS, KINDS, Station
from ..core.replicas import public_read
from ..i18n import AMENITY_NAMES, KIND_NAMES, LANG_COOKIE, LANGUAGES, script_text
from .folium_map import build_map, tiles_for

bp = Blueprint("pages", __name__)

NEAREST_LIMIT = 10
MARKER_MIN_ZOOM = 13  # below this, the bbox would hold most of the city: markers wait
CHIP_AMENITIES = ("drinking_water", "food_heating", "phone_charging", "ebike_charging", "toilet")
LIST_AMENITIES = (*CHIP_AMENITIES, "rest_area")


def page_filters(args):
    """The filters in the page URL, in the API's names and defaults; unknown values are dropped.

    Open now is on unless the URL says open_now=false: a rider wants open stations.
    """

    def names(param, known):
        return [value for value in args.get(param, "").split(",") if value in known]

    return {
        "amenities": names("amenities", AMENITIES),
        "kind": names("kind", KINDS),
        "open_now": args.get("open_now") != "false",
        "open_24_7": args.get("open_24_7") == "true",
    }


def _shows_sample():
    """True while any station is generated sample data."""
    return db.session.execute(sa.select(sa.exists().where(Station.is_sample))).scalar()


def _page_config(fmap):
    """What the page's script needs to know, as JSON."""
    return {
        "datum": fmap["datum"],
        "limit": NEAREST_LIMIT,
        "markerMinZoom": MARKER_MIN_ZOOM,
        "listAmenities": LIST_AMENITIES,
        "allAmenities": AMENITIES,
        "nearestUrl": url_for("api.nearest"),
        "stationsUrl": url_for("api.station_list"),
        "stationUrl": url_for("api.station", station_id=0).removesuffix("0") + "{id}",
        "checkinUrl": url_for("api.checkin", station_id=0).replace("/0/", "/{id}/"),
        "checkinFacts": CHECKIN_FACTS,
        "serviceWorkerUrl": url_for("pages.service_worker"),
        "districts": {d["code"]: {"lat": d["lat"], "lng": d["lng"]} for d in district_centres()},
        "text": script_text(),
    }


@bp.get("/")
@public_read
def index():
    """The rider's page: where am I, the nearest open stations with what I need, go."""
    fmap = build_map(tiles_for(current_app.config))
    english = str(get_locale()) == "en"
    html = render_template(
        "rider/index.html",
        english=english,
        fmap=fmap,
        config=_page_config(fmap),
        filters=page_filters(request.args),
        chip_amenities={name: AMENITY_NAMES[name] for name in CHIP_AMENITIES},
        kind_names=KIND_NAMES,
        districts=district_centres(),
        sample=_shows_sample(),
    )
    response = make_response(html)
    response.vary.update(("Accept-Language", "Cookie"))
    if request.args.get("lang") in LANGUAGES:
        response.set_cookie(LANG_COOKIE, request.args["lang"], max_age=A_YEAR_S, samesite="Lax")
    return response


@bp.get("/manifest.webmanifest")
def manifest():
    """The web app manifest: the page can be added to the home screen."""
    response = jsonify(
        name=_("驿站地图 · 深圳户外劳动者休息站"),
        short_name=_("驿站地图"),
        start_url=url_for("pages.index"),
        scope=url_for("pages.index"),
        display="standalone",
        background_color="#ffffff",
        theme_color="#0b5d3b",
        icons=[{"src": asset_url("icon.svg"), "sizes": "any", "type": "image/svg+xml"}],
    )
    response.mimetype = "application/manifest+json"
    return response


@bp.get("/sw.js")
def service_worker():
    """The service worker: keeps the shell and the last list for when there is no network."""
    fmap = build_map(tiles_for(current_app.config))
    shell = [
        url_for("pages.index"),
        url_for("pages.manifest"),
        *fmap["scripts"],
        *fmap["styles"],
        *(asset_url(name) for name in ("rider/map.js", "rider/map.css", "icon.svg")),
    ]
    version = hashlib.sha256(" ".join(shell).encode()).hexdigest()[:10]
    script = render_template(
        "rider/sw.js", shell=shell, version=version, nearest_url=url_for("api.nearest")
    )
    response = make_response(script)
    response.mimetype = "text/javascript"
    response.headers["Cache-Control"] = "no-cache"
    return response
