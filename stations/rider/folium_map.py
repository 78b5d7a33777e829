"""The rider's map: Folium builds the Leaflet map, which the page template embeds (no iframe).

Tiles are configuration (MAP_TILES). Gaode draws in GCJ-02, so the page shifts every WGS-84
position before drawing it there; the other providers draw WGS-84 as it is.
"""

import re
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import urlsplit

import folium
from folium.plugins import MarkerCluster

from ..assets import asset_url

SHENZHEN = (22.5431, 114.0579)  # Futian, WGS-84: where the map opens before the rider is found
CITY_ZOOM = 11
MAP_ID = "stations"  # the map is `map_stations`, its cluster layer `marker_cluster_stations`


@dataclass(frozen=True)
class Tiles:
    """A basemap: tile URL templates, the datum it is drawn in, its attribution."""

    urls: tuple
    datum: str
    attribution: str
    subdomains: str = "abc"
    max_zoom: int = 18


PROVIDERS = {
    "gaode": Tiles(
        urls=(
            "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
            "&x={x}&y={y}&z={z}",
        ),
        datum="gcj02",
        attribution="© 高德地图 AutoNavi",
        subdomains="1234",
    ),
    # CGCS2000, which agrees with WGS-84 to well under a metre; a vector layer plus its labels.
    "tianditu": Tiles(
        urls=tuple(
            f"https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile"
            f"&VERSION=1.0.0&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
            "&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={key}"
            for layer in ("vec", "cva")
        ),
        datum="wgs84",
        attribution="© 天地图 Tianditu",
        subdomains="01234567",
    ),
    "osm": Tiles(
        urls=("https://tile.openstreetmap.org/{z}/{x}/{y}.png",),
        datum="wgs84",
        attribution="© OpenStreetMap contributors",
        max_zoom=19,
    ),
    "none": Tiles(urls=(), datum="wgs84", attribution=""),
}


def check_config(config):
    """Refuse a tile configuration that cannot work, at start-up."""
    if config["MAP_TILES"] not in PROVIDERS:
        raise RuntimeError("MAP_TILES must be one of " + ", ".join(PROVIDERS))
    if config["MAP_TILES"] == "tianditu" and not config["TIANDITU_KEY"]:
        raise RuntimeError("MAP_TILES=tianditu needs TIANDITU_KEY (a Tianditu browser key).")
    if re.search(r"\{(?!s\})", urlsplit(config.get("MAP_TILE_URL") or "").netloc):
        raise RuntimeError("MAP_TILE_URL: {s} is the only placeholder its host may have.")


def tiles_for(config):
    """The configured basemap; MAP_TILE_URL replaces its tile URLs but keeps its datum."""
    tiles = PROVIDERS[config["MAP_TILES"]]
    urls = tiles.urls
    if config.get("MAP_TILE_URL") and urls:
        urls = (config["MAP_TILE_URL"],)
    key = config.get("TIANDITU_KEY") or ""
    urls = tuple(url.replace("{key}", key) for url in urls)
    return Tiles(urls, tiles.datum, tiles.attribution, tiles.subdomains, tiles.max_zoom)


def tile_origins(tiles):
    """The origins the tiles come from, each {s} subdomain spelled out (for the page's CSP).

    A relative tile URL is the page's own origin and adds none.
    """
    origins = []
    for url in tiles.urls:
        parts = urlsplit(url)
        if not parts.netloc:
            continue
        scheme = f"{parts.scheme}://" if parts.scheme else ""
        hosts = [parts.netloc.replace("{s}", s) for s in tiles.subdomains]
        origins += [scheme + host for host in hosts]
    return list(dict.fromkeys(origins))  # in order, each once


class _StationsMap(folium.Map):
    """Folium's map under a fixed name, `map_stations`, that the page's script and styles use."""

    def get_name(self):
        return f"map_{MAP_ID}"


class _StationsCluster(MarkerCluster):
    """Folium's marker cluster under a fixed name, `marker_cluster_stations`."""

    def get_name(self):
        return f"marker_cluster_{MAP_ID}"


class LeafletMap(NamedTuple):
    """The folium map and its marker cluster layer (None without one)."""

    map: folium.Map
    cluster: MarkerCluster | None


def build_map(tiles, *, cluster=True, layers=()):
    """The Leaflet map for a page: script and CSS URLs, the map element and its script.

    `layers`: folium elements drawn on it too (the admin's coverage cells).
    """
    leaflet = leaflet_map(tiles, cluster=cluster)
    for layer in layers:
        layer.add_to(leaflet.map)
    layers = [layer for layer in leaflet if layer is not None]
    figure = leaflet.map.get_root()
    figure.render()
    return {
        # The libraries folium links in the figure's header (a test keeps the two equal).
        "scripts": [url for layer in layers for _, url in layer.default_js],
        "styles": [url for layer in layers for _, url in layer.default_css],
        "html": figure.html.render(),
        "script": figure.script.render(),
        "map_name": leaflet.map.get_name(),
        "cluster_name": leaflet.cluster.get_name() if leaflet.cluster else None,
        "datum": tiles.datum,
    }


def leaflet_map(tiles, *, cluster=True):
    """The folium map, with our tiles and (unless `cluster=False`) the marker cluster layer.

    Folium's own defaults (Bootstrap, Font Awesome, jQuery, all from CDNs) are replaced by
    Leaflet alone, from the app's own copy: the page's own code needs nothing else. The admin's
    position map has a single marker, and no cluster layer.
    """
    fmap = _StationsMap(
        location=SHENZHEN,
        zoom_start=CITY_ZOOM,
        tiles=None,
        zoom_control="topright",
        max_zoom=tiles.max_zoom,
    )
    fmap.options["max_zoom"] = tiles.max_zoom  # also without tiles: the cluster layer needs it
    fmap.default_js = [("leaflet", asset_url("vendor/leaflet/leaflet.js"))]
    fmap.default_css = [("leaflet_css", asset_url("vendor/leaflet/leaflet.css"))]
    for url in tiles.urls:
        folium.TileLayer(
            url, attr=tiles.attribution, subdomains=tiles.subdomains, max_zoom=tiles.max_zoom
        ).add_to(fmap)
    layer = _cluster().add_to(fmap) if cluster else None
    return LeafletMap(fmap, layer)


def _cluster():
    """The marker cluster layer, its JS and CSS from the app's own copy."""
    layer = _StationsCluster(
        show_coverage_on_hover=False, max_cluster_radius=45, disable_clustering_at_zoom=17
    )
    package = "vendor/leaflet.markercluster"
    layer.default_js = [("markerclusterjs", asset_url(f"{package}/leaflet.markercluster.js"))]
    layer.default_css = [
        ("markerclustercss", asset_url(f"{package}/MarkerCluster.css")),
        ("markerclusterdefaultcss", asset_url(f"{package}/MarkerCluster.Default.css")),
    ]
    return layer
