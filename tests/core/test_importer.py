"""The station importer (CSV, XLSX, GeoJSON; all or nothing) and the district lookup."""

import csv
import json

import openpyxl
import pytest
import sqlalchemy as sa
from pyproj import Geod

from stations.core import importer
from stations.core.audit import snapshot
from stations.core.datum import from_wgs84
from stations.core.db import db
from stations.core.districts import district_at
from stations.core.importer import ImportFailed, import_stations
from stations.core.models import AMENITIES, AuditEntry, Station

HEADER = ["external_id", "kind", "name", "address", "lat", "lng", "phone", "opening_hours"]
HEADER += ["status", *AMENITIES]
FUTIAN_CBD = {"lat": 22.5431, "lng": 114.0579}  # WGS-84
GOOD = {
    "external_id": "t-1",
    "kind": "warm_station",
    "name": "福田中心区暖蜂驿站",
    "address": "福田区福华路1号",
    "lat": "22.5431",
    "lng": "114.0579",
    "phone": "0755-00001234",
    "opening_hours": "Mo-Su 08:00-20:00",
    "status": "open",
    "toilet": "yes",
    "wifi": "no",
}
_GEOD = Geod(ellps="WGS84")


def row(n, **changes):
    """A good row with its own external_id, name and position, plus changes."""
    lat, lng = 22.5431 + n * 0.0005, 114.0579
    base = GOOD | {"external_id": f"t-{n}", "name": f"驿站{n}", "lat": str(lat), "lng": str(lng)}
    return base | changes


def write_csv(tmp_path, rows, *, header=HEADER, encoding="utf-8", name="stations.csv"):
    """A CSV file of the rows (dicts) under the header; returns its path."""
    path = tmp_path / name
    with open(path, "w", encoding=encoding, newline="") as file:
        writer = csv.DictWriter(file, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


def write_geojson(tmp_path, features, name="stations.geojson"):
    """A GeoJSON FeatureCollection file of the features; returns its path."""
    path = tmp_path / name
    collection = {"type": "FeatureCollection", "features": features}
    path.write_text(json.dumps(collection, ensure_ascii=False), encoding="utf-8")
    return str(path)


def point_feature(lng, lat, /, **properties):
    """A GeoJSON Point feature, [lng, lat]."""
    geometry = {"type": "Point", "coordinates": [lng, lat]}
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def failure(path, **options):
    """The error lines of an import that must fail."""
    with pytest.raises(ImportFailed) as caught:
        import_stations(path, **options)
    return caught.value.errors


def stations():
    """Every station, freshly read, by external_id."""
    db.session.expire_all()
    return {s.external_id: s for s in db.session.scalars(sa.select(Station))}


def values(station, *names):
    """The named fields of a station, as a tuple."""
    return tuple(getattr(station, name) for name in names)


def station_count():
    return db.session.scalar(sa.select(sa.func.count()).select_from(Station))


@pytest.mark.parametrize(
    ("column", "value", "error"),
    [
        ("external_id", " ", "row 2: external_id is empty"),
        ("external_id", "x" * 101, "row 2: external_id is longer than 100 characters"),
        ("kind", "", "row 2: kind is empty"),
        (
            "kind",
            "kiosk",
            "row 2: kind 'kiosk' is not one of warm_station, driver_home, service_center",
        ),
        ("name", "", "row 2: name is empty"),
        ("name", "名" * 201, "row 2: name is longer than 200 characters"),
        ("address", "a" * 301, "row 2: address is longer than 300 characters"),
        ("phone", "1" * 51, "row 2: phone is longer than 50 characters"),
        ("lat", "", "row 2: lat is empty"),
        ("lat", "abc", "row 2: lat 'abc' is not a number between -90 and 90"),
        ("lat", "90.5", "row 2: lat '90.5' is not a number between -90 and 90"),
        ("lat", "nan", "row 2: lat 'nan' is not a number between -90 and 90"),
        ("lng", "inf", "row 2: lng 'inf' is not a number between -180 and 180"),
        ("lng", "-180.1", "row 2: lng '-180.1' is not a number between -180 and 180"),
        ("status", "shut", "row 2: status 'shut' is not one of open, temporarily_closed, closed"),
        (
            "opening_hours",
            "Mo-Fx 08:00-20:00",
            "row 2: opening_hours 'Mo-Fx 08:00-20:00' "
            "is not valid OpenStreetMap opening_hours syntax (at character 4)",
        ),
        ("toilet", "maybe", "row 2: toilet 'maybe' is not yes, no or unknown (是/否/未知)"),
        ("wifi", "2", "row 2: wifi '2' is not yes, no or unknown (是/否/未知)"),
    ],
)
def test_bad_value(app, tmp_path, column, value, error):
    path = write_csv(tmp_path, [GOOD | {column: value}])
    with app.app_context():
        assert failure(path) == [error]
        assert station_count() == 0


@pytest.mark.parametrize(
    ("header", "errors"),
    [
        (
            [c for c in HEADER if c != "lat"],
            ["row 1: missing required column 'lat'"],
        ),
        (
            ["latitude" if c == "lat" else c for c in HEADER],
            ["row 1: missing required column 'lat'", "row 1: unknown column 'latitude'"],
        ),
        ([*HEADER, "toliet"], ["row 1: unknown column 'toliet'"]),
        ([*HEADER, "name"], ["row 1: column 'name' appears more than once"]),
    ],
)
def test_bad_header(app, tmp_path, header, errors):
    path = tmp_path / "stations.csv"
    with open(path, "w", encoding="utf-8", newline="") as file:
        cells = [{"latitude": GOOD["lat"], "toliet": "yes"}.get(c, GOOD.get(c, "")) for c in header]
        csv.writer(file).writerows([header, cells])
    with app.app_context():
        assert failure(str(path)) == errors
        assert station_count() == 0


@pytest.mark.parametrize(
    ("name", "content", "error"),
    [
        ("stations.txt", b"x", "unsupported file type '.txt': use .csv, .xlsx, .geojson or .json"),
        ("stations.csv", b"", "row 1: there is no header row"),
        ("stations.csv", b"\n\n", "row 1: there is no header row"),
        (
            "stations.csv",
            "external_id,kind,name,lat,lng\n1,warm_station,福田驿站,22.5,114.0\n".encode("gbk"),
            "the CSV file is not UTF-8 (in Excel, save as 'CSV UTF-8')",
        ),
        ("stations.geojson", b"{not json", "the file is not valid UTF-8 JSON: "),
        ("stations.json", b'{"type": "Feature"}', "the file is not a GeoJSON FeatureCollection"),
        ("stations.json", b"[1, 2]", "the file is not a GeoJSON FeatureCollection"),
        ("stations.xlsx", b"not a zip", "cannot read the XLSX file: "),
    ],
)
def test_unreadable_file(app, tmp_path, name, content, error):
    path = tmp_path / name
    path.write_bytes(content)
    with app.app_context():
        errors = failure(str(path))
        assert len(errors) == 1 and errors[0].startswith(error)
        assert station_count() == 0


def test_missing_file_is_reported(tmp_path):
    errors = failure(str(tmp_path / "nowhere.csv"))
    assert len(errors) == 1 and errors[0].startswith("cannot read the CSV file: ")


def test_every_bad_row_is_reported_and_nothing_written(app, tmp_path):
    with app.app_context():
        import_stations(write_csv(tmp_path, [row(1)], name="first.csv"))
        before = stations()["t-1"]
        name, updated_at = before.name, before.updated_at
        rows = [
            row(1, name="改名了"),  # a good update, which must not be written either
            row(2, kind="kiosk", lat="91"),
            row(3),
            row(4, external_id="t-3", toilet="maybe"),
            row(5, opening_hours="8am-5pm"),
        ]
        errors = failure(write_csv(tmp_path, rows))
        assert errors == [
            "row 3: kind 'kiosk' is not one of warm_station, driver_home, service_center",
            "row 3: lat '91' is not a number between -90 and 90",
            "row 5: toilet 'maybe' is not yes, no or unknown (是/否/未知)",
            "row 5: external_id 't-3' is already used in row 4",
            "row 6: opening_hours '8am-5pm' "
            "is not valid OpenStreetMap opening_hours syntax (at character 1)",
        ]
        after = stations()
        assert list(after) == ["t-1"]
        assert (after["t-1"].name, after["t-1"].updated_at) == (name, updated_at)


def test_reimport_changes_nothing(app, tmp_path):
    path = write_csv(tmp_path, [row(1), row(2), row(3, toilet="", opening_hours="")])
    with app.app_context():
        assert import_stations(path) == {"created": 3, "updated": 0, "unchanged": 0}
        first = {key: s.updated_at for key, s in stations().items()}
        assert import_stations(path) == {"created": 0, "updated": 0, "unchanged": 3}
        assert {key: s.updated_at for key, s in stations().items()} == first


def test_update_changes_only_what_changed(app, tmp_path):
    with app.app_context():
        import_stations(write_csv(tmp_path, [row(1), row(2), row(3)], name="first.csv"))
        before = {key: (s.id, s.created_at, s.updated_at) for key, s in stations().items()}
        rows = [row(1, name="新名字"), row(2, toilet="no", phone=""), row(3), row(4)]
        counts = import_stations(write_csv(tmp_path, rows))
        assert counts == {"created": 1, "updated": 2, "unchanged": 1}
        after = stations()
        changed = ("name", "toilet", "phone")
        assert values(after["t-1"], *changed) == ("新名字", True, "0755-00001234")
        assert values(after["t-2"], *changed) == ("驿站2", False, None)
        for key in ("t-1", "t-2"):
            assert values(after[key], "id", "created_at") == before[key][:2]
            assert after[key].updated_at > before[key][2]
        assert values(after["t-3"], "id", "created_at", "updated_at") == before["t-3"]


def test_is_sample_comes_from_the_argument(app, tmp_path):
    path = write_csv(tmp_path, [row(1)])
    with app.app_context():
        import_stations(path, is_sample=True)
        assert stations()["t-1"].is_sample is True
        assert import_stations(path) == {"created": 0, "updated": 1, "unchanged": 0}
        assert stations()["t-1"].is_sample is False


def test_defaults_and_district(app, tmp_path):
    header = ["external_id", "kind", "name", "lat", "lng"]
    path = write_csv(tmp_path, [{c: GOOD[c] for c in header}], header=header)
    with app.app_context():
        assert import_stations(path) == {"created": 1, "updated": 0, "unchanged": 0}
        station = stations()["t-1"]
        unknown = (None, None, None)
        assert values(station, "status", "opening_hours", "address", "phone") == ("open", *unknown)
        assert {name: getattr(station, name) for name in AMENITIES} == dict.fromkeys(AMENITIES)
        assert (station.district, station.is_sample) == ("福田区", False)


AMENITY_WORDS = [
    ("yes", True), ("YES", True), ("True", True), ("1", True), ("y", True), ("是", True),
    ("有", True), ("no", False), ("FALSE", False), ("0", False), ("N", False), ("否", False),
    ("无", False), ("unknown", None), ("Unknown", None), ("未知", None), ("", None), (" 是 ", True),
]  # fmt: skip


def test_amenity_words(app, tmp_path):
    rows = [row(n, toilet=word) for n, (word, _) in enumerate(AMENITY_WORDS)]
    with app.app_context():
        import_stations(write_csv(tmp_path, rows))
        found = stations()
        assert [found[f"t-{n}"].toilet for n in range(len(AMENITY_WORDS))] == [
            value for _, value in AMENITY_WORDS
        ]


@pytest.mark.parametrize("crs", ["wgs84", "gcj02", "bd09"])
def test_datums_land_on_the_wgs84_truth(app, tmp_path, crs):
    lat, lng = from_wgs84(crs, **FUTIAN_CBD)
    path = write_csv(tmp_path, [row(1, lat=repr(lat), lng=repr(lng))])
    with app.app_context():
        import_stations(path, crs=crs)
        station = stations()["t-1"]
        _, _, distance_m = _GEOD.inv(FUTIAN_CBD["lng"], FUTIAN_CBD["lat"], station.lng, station.lat)
        assert distance_m < 1.0
        assert station.district == "福田区"


def test_csv_with_bom(app, tmp_path):
    path = write_csv(tmp_path, [row(1)], encoding="utf-8-sig")
    with app.app_context():
        assert import_stations(path) == {"created": 1, "updated": 0, "unchanged": 0}
        assert list(stations()) == ["t-1"]


def test_xlsx(app, tmp_path):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["external_id", "kind", "name", "lat", "lng", "phone", "toilet", "wifi", "shower"])
    sheet.append([1001, "driver_home", "司机之家", 22.5431, 114.0579, 75500001234, True, 0, None])
    sheet.append([1002.0, "warm_station", "驿站", "22.55", "114.06", None, "否", "未知", 1])
    sheet.append([None] * 9)  # spreadsheets leave empty rows behind
    path = tmp_path / "stations.xlsx"
    workbook.save(path)
    with app.app_context():
        assert import_stations(str(path)) == {"created": 2, "updated": 0, "unchanged": 0}
        found = stations()
        first, second = found["1001"], found["1002"]
        read = ("phone", "toilet", "wifi", "shower")
        assert values(first, "kind", "lat", "lng") == ("driver_home", 22.5431, 114.0579)
        assert values(first, *read) == ("75500001234", True, False, None)
        assert values(second, *read) == (None, False, None, True)


def test_xlsx_bad_cell(app, tmp_path):
    workbook = openpyxl.Workbook()
    workbook.active.append(["external_id", "kind", "name", "lat", "lng"])
    workbook.active.append(["a", "warm_station", "驿站", 95, 114.0])
    path = tmp_path / "stations.xlsx"
    workbook.save(path)
    with app.app_context():
        assert failure(str(path)) == ["row 2: lat '95' is not a number between -90 and 90"]


def test_geojson(app, tmp_path):
    features = [
        point_feature(114.0579, 22.5431, external_id="g-1", kind="warm_station", name="驿站",
                      toilet="是", wifi=None),
        # the shape of our own API's GeoJSON: nested amenities and derived fields
        point_feature(114.06, 22.55, id=7, external_id="g-2", kind="service_center",
                      name="党群服务中心", district="罗湖区", open_now=True, is_sample=True,
                      amenities={"toilet": False, "wifi": True}),
    ]  # fmt: skip
    with app.app_context():
        path = write_geojson(tmp_path, features, name="stations.json")
        assert import_stations(path) == {"created": 2, "updated": 0, "unchanged": 0}
        found = stations()
        assert values(found["g-1"], "lat", "lng", "district") == (22.5431, 114.0579, "福田区")
        assert values(found["g-1"], "toilet", "wifi") == (True, None)
        assert values(found["g-2"], "toilet", "wifi", "district") == (False, True, "福田区")
        assert found["g-2"].is_sample is False  # from the argument, not the file


GOOD_PROPERTIES = {"external_id": "g-1", "kind": "warm_station", "name": "驿站"}


@pytest.mark.parametrize(
    ("feature", "errors"),
    [
        (
            {"type": "Feature", "geometry": None, "properties": GOOD_PROPERTIES},
            ["feature 1: geometry must be a Point with [lng, lat] coordinates"],
        ),
        (
            {"type": "Feature", "properties": GOOD_PROPERTIES,
             "geometry": {"type": "LineString", "coordinates": [[114, 22], [114.1, 22.1]]}},
            ["feature 1: geometry must be a Point with [lng, lat] coordinates"],
        ),
        (
            point_feature(114.0, 95.0, **GOOD_PROPERTIES),
            ["feature 1: lat '95' is not a number between -90 and 90"],
        ),
        (
            point_feature(114.0, 22.5, **GOOD_PROPERTIES, toliet="yes", lat=22.5),
            ["feature 1: unknown property 'toliet'", "feature 1: unknown property 'lat'"],
        ),
        (
            point_feature(114.0, 22.5, external_id="g-1", kind="warm_station"),
            ["feature 1: name is empty"],
        ),
    ],
)  # fmt: skip
def test_bad_geojson_feature(app, tmp_path, feature, errors):
    path = write_geojson(tmp_path, [feature, point_feature(114.0, 22.5, **GOOD_PROPERTIES)])
    with app.app_context():
        duplicate = "feature 2: external_id 'g-1' is already used in feature 1"
        assert failure(path) == [*errors, duplicate]
        assert station_count() == 0


def test_eight_hundred_rows(app, tmp_path):
    path = write_csv(tmp_path, [row(n, lat=str(22.5 + n * 0.0003)) for n in range(800)])
    with app.app_context():
        assert import_stations(path) == {"created": 800, "updated": 0, "unchanged": 0}
        assert import_stations(path) == {"created": 0, "updated": 0, "unchanged": 800}


@pytest.mark.parametrize(
    ("lat", "lng", "district"),
    [
        (22.5431, 114.0579, "福田区"),  # Futian CBD
        (22.5405, 113.9344, "南山区"),  # Shenzhen Bay area
        (22.5482, 114.1315, "罗湖区"),  # Dongmen
        (22.7208, 114.2466, "龙岗区"),  # Longgang centre
        (22.398374, 113.814894, "南山区"),  # 100 m off Nanshan's southern shore
        (22.395678, 113.814894, None),  # 400 m off it
        (22.2783, 114.1747, None),  # Hong Kong
        (39.9042, 116.4074, None),  # Beijing
    ],
)
def test_district_at(lat, lng, district):
    assert district_at(lat=lat, lng=lng) == district


def test_progress_is_told_by_tens_of_thousands_and_created_stations_are_audited_whole(
    app, tmp_path, monkeypatch
):
    monkeypatch.setattr(importer, "PROGRESS_EVERY", 2)
    path = write_csv(tmp_path, [row(n) for n in range(5)])
    told = []
    with app.app_context():
        import_stations(path, progress=told.append)
        assert told == [
            "read 5 records",
            "checked 2 of 5 records",
            "checked 4 of 5 records",
            "to create 5, to update 0, unchanged 0",
            "created 2 of 5 stations",
            "created 4 of 5 stations",
            "created 5 of 5 stations",
        ]
        # Each created station's audit row holds its snapshot, as audit.create() writes it.
        for station in db.session.scalars(sa.select(Station)):
            [entry] = db.session.scalars(
                sa.select(AuditEntry).where(AuditEntry.station_id == station.id)
            )
            assert (entry.field, entry.source, entry.before) == ("created", "import", None)
            assert json.loads(entry.after) == snapshot(station)
