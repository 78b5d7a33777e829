"""The Shenzhen district holding a WGS-84 position, from the bundled district land polygons."""

import json
import os
from functools import cache
from math import cos, radians

import shapely
from shapely.geometry import shape

from .geo import distances_m

DISTRICTS_PATH = os.path.join(os.path.dirname(__file__), "data", "districts.geojson")
# The polygons are land only and simplified (~3 m): a pier or seawall just off them still counts.
NEAR_M = 200.0
_METRES_PER_DEGREE = 111_320.0


@cache
def _districts():
    """District names and an STRtree of their prepared polygons, loaded once per process."""
    with open(DISTRICTS_PATH, encoding="utf-8") as file:
        features = json.load(file)["features"]
    names = [feature["properties"]["name"] for feature in features]
    polygons = [shape(feature["geometry"]) for feature in features]
    shapely.prepare(polygons)
    return names, shapely.STRtree(polygons)


def district_at(*, lat, lng):
    """The Chinese name of the district holding the position (or within NEAR_M of it), or None."""
    names, tree = _districts()
    point = shapely.Point(lng, lat)
    candidates = tree.query(point)
    inside = candidates[shapely.intersects(tree.geometries[candidates], point)]
    if len(inside):
        return names[inside.min()]
    # Degrees of longitude are the shorter ones, so this reach covers NEAR_M in every direction.
    reach = NEAR_M / (_METRES_PER_DEGREE * max(cos(radians(lat)), 1e-6))
    nearby = tree.query_nearest(point, max_distance=reach)
    if not len(nearby):
        return None
    index = int(nearby.min())
    (from_lng, from_lat), (to_lng, to_lat) = shapely.shortest_line(
        point, tree.geometries[index]
    ).coords
    [distance_m] = distances_m(lat=from_lat, lng=from_lng, lats=[to_lat], lngs=[to_lng])
    return names[index] if distance_m <= NEAR_M else None


# A central spot of each district (WGS-84), for riders who set their position by district.
CENTRES = {
    "440303": (22.5480, 114.1310),
    "440304": (22.5410, 114.0560),
    "440305": (22.5330, 113.9300),
    "440306": (22.5550, 113.8830),
    "440307": (22.7210, 114.2470),
    "440308": (22.5570, 114.2370),
    "440309": (22.6570, 114.0300),
    "440310": (22.6920, 114.3460),
    "440311": (22.7480, 113.9360),
}


@cache
def district_centres():
    """Each district as {"code", "name", "name_en", "lat", "lng"}, in the file's order."""
    with open(DISTRICTS_PATH, encoding="utf-8") as file:
        features = json.load(file)["features"]
    centres = []
    for feature in features:
        lat, lng = CENTRES[feature["properties"]["code"]]
        centres.append({**feature["properties"], "lat": lat, "lng": lng})
    return centres
