"""China's three datums: WGS-84 (GPS, OSM), GCJ-02 (Amap, Tencent) and BD-09 (Baidu).

Positions are stored in WGS-84; these functions convert at the edges only.
The GCJ-02 offset follows the published formula (Krasovsky ellipsoid); it has no
closed-form inverse, so the inverses iterate until the step is below 1e-10 degree.
"""

from math import atan2, cos, pi, sin, sqrt

DATUMS = ("wgs84", "gcj02", "bd09")

_KRASOVSKY_A = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323
_BD_X_PI = pi * 3000.0 / 180.0


def in_china(*, lat, lng):
    """True where GCJ-02 differs from WGS-84 (the usual rough bounding box)."""
    return 72.004 <= lng <= 137.8347 and 0.8293 <= lat <= 55.8271


def _gcj_delta(lat, lng):
    """The GCJ-02 offset (dlat, dlng) in degrees at a WGS-84 position."""
    x, y = lng - 105.0, lat - 35.0
    waves = (20.0 * sin(6.0 * x * pi) + 20.0 * sin(2.0 * x * pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt(abs(x))
    dlat += waves + (20.0 * sin(y * pi) + 40.0 * sin(y / 3.0 * pi)) * 2.0 / 3.0
    dlat += (160.0 * sin(y / 12.0 * pi) + 320.0 * sin(y * pi / 30.0)) * 2.0 / 3.0
    dlng = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt(abs(x))
    dlng += waves + (20.0 * sin(x * pi) + 40.0 * sin(x / 3.0 * pi)) * 2.0 / 3.0
    dlng += (150.0 * sin(x / 12.0 * pi) + 300.0 * sin(x / 30.0 * pi)) * 2.0 / 3.0
    rad_lat = lat / 180.0 * pi
    magic = 1.0 - _KRASOVSKY_EE * sin(rad_lat) ** 2
    sqrt_magic = sqrt(magic)
    dlat = dlat * 180.0 / (_KRASOVSKY_A * (1 - _KRASOVSKY_EE) / (magic * sqrt_magic) * pi)
    dlng = dlng * 180.0 / (_KRASOVSKY_A / sqrt_magic * cos(rad_lat) * pi)
    return dlat, dlng


def wgs84_to_gcj02(*, lat, lng):
    """WGS-84 -> GCJ-02 as (lat, lng)."""
    if not in_china(lat=lat, lng=lng):
        return lat, lng
    dlat, dlng = _gcj_delta(lat, lng)
    return lat + dlat, lng + dlng


def _invert(forward, lat, lng, first_guess):
    """Solve forward(x) = (lat, lng) by fixed-point iteration, to 1e-10 degree."""
    x_lat, x_lng = first_guess
    for _ in range(30):
        f_lat, f_lng = forward(lat=x_lat, lng=x_lng)
        step_lat, step_lng = lat - f_lat, lng - f_lng
        x_lat, x_lng = x_lat + step_lat, x_lng + step_lng
        if abs(step_lat) < 1e-10 and abs(step_lng) < 1e-10:
            break
    return x_lat, x_lng


def gcj02_to_wgs84(*, lat, lng):
    """GCJ-02 -> WGS-84 as (lat, lng): the exact inverse of the forward formula."""
    if not in_china(lat=lat, lng=lng):
        return lat, lng
    return _invert(wgs84_to_gcj02, lat, lng, (lat, lng))


def gcj02_to_bd09(*, lat, lng):
    """GCJ-02 -> BD-09 as (lat, lng)."""
    z = sqrt(lng * lng + lat * lat) + 0.00002 * sin(lat * _BD_X_PI)
    theta = atan2(lat, lng) + 0.000003 * cos(lng * _BD_X_PI)
    return z * sin(theta) + 0.006, z * cos(theta) + 0.0065


def bd09_to_gcj02(*, lat, lng):
    """BD-09 -> GCJ-02 as (lat, lng): Baidu's approximate inverse, refined to exact."""
    x, y = lng - 0.0065, lat - 0.006
    z = sqrt(x * x + y * y) - 0.00002 * sin(y * _BD_X_PI)
    theta = atan2(y, x) - 0.000003 * cos(x * _BD_X_PI)
    return _invert(gcj02_to_bd09, lat, lng, (z * sin(theta), z * cos(theta)))


# Each datum's way to WGS-84 and back, one conversion at a time (BD-09 goes through GCJ-02).
_TO_WGS84 = {"gcj02": (gcj02_to_wgs84,), "bd09": (bd09_to_gcj02, gcj02_to_wgs84)}
_FROM_WGS84 = {"gcj02": (wgs84_to_gcj02,), "bd09": (wgs84_to_gcj02, gcj02_to_bd09)}


def _convert(steps, lat, lng):
    for step in steps:
        lat, lng = step(lat=lat, lng=lng)
    return lat, lng


def to_wgs84(datum, *, lat, lng):
    """A position given in `datum` as WGS-84 (lat, lng)."""
    return _convert(_TO_WGS84.get(datum, ()), lat, lng)


def from_wgs84(datum, *, lat, lng):
    """A WGS-84 position expressed in `datum` as (lat, lng)."""
    return _convert(_FROM_WGS84.get(datum, ()), lat, lng)
