"""The admin's coverage page: a scripted set of searches gives exactly its cells in the map, the
table and both exports; never a cell under 5 searches; admins only; bad periods answer 400."""

import csv
import io
import re
from datetime import timedelta

import h3
import pytest

from stations.core import coverage
from stations.core.hours import local_date, local_now

PAGE = "/admin/coverage"
NEAREST = "/api/v1/stations/nearest"
A = (22.5431, 114.0579)  # Futian: station A of the world, made open 24/7 here
NORTH_1500_M = (22.5566, 114.0579)  # the nearest open station is A, ~1.5 km south
FAR = (22.7000, 114.3000)  # ~30 km from any station
FARTHER = (22.7500, 114.4000)


def cell(position):
    return h3.latlng_to_cell(position[0], position[1], 8)


@pytest.fixture
def searched(app, world, monkeypatch):
    """Searches by riders: 7 + 5 at A (the 5 for a driver's home: none is open), 5 at 1.5 km
    from A, 6 far from any station, and 4 farther still (too few to show)."""
    app.extensions["stations.coverage"] = coverage._Pending()
    monkeypatch.setitem(app.config, "COVERAGE_FLUSH_S", 3600)
    world.a.opening_hours = "24/7"
    world.b.status = "closed"
    from stations.core.db import db

    db.session.commit()
    rider = app.test_client()
    script = [(A, {}, 7), (A, {"kind": "driver_home"}, 5), (NORTH_1500_M, {}, 5)]
    script += [(FAR, {"open_now": "true"}, 6), (FARTHER, {}, 4)]
    for (lat, lng), query, times in script:
        for _ in range(times):
            answer = rider.get(NEAREST, query_string={"lat": lat, "lng": lng} | query)
            assert answer.status_code == 200
    # Still in this process's memory: the page writes them before it reads.
    assert app.extensions["stations.coverage"].counts


# (kind, expected rows: (position, searches, unmet)), most unmet first.
EXPECTED = {
    "all": [(FAR, 6, 6), (A, 12, 5), (NORTH_1500_M, 5, 5)],
    "none": [(FAR, 6, 6), (NORTH_1500_M, 5, 5), (A, 7, 0)],
    "driver_home": [(A, 5, 5)],
    "warm_station": [],
}


@pytest.mark.parametrize("kind", EXPECTED)
def test_the_table_shows_exactly_the_cells_of_the_searches(browsers, searched, kind):
    page = browsers["admin"].get(PAGE, query_string={"kind": kind})
    assert page.status_code == 200
    table = page.text.split('<table id="top-cells">', 1)[1].split("</table>", 1)[0]
    shown = re.findall(
        r"<code>(\w+)</code></td>\s*<td>([^<]*)</td>\s*<td>(\d+)</td>\s*<td>(\d+)", table
    )
    wanted = [(cell(p), str(n), str(unmet)) for p, n, unmet in EXPECTED[kind]]
    assert [(c, n, unmet) for c, _, n, unmet in shown] == wanted
    assert cell(FARTHER) not in page.text
    if kind == "all":
        assert dict((c, d) for c, d, _, _ in shown)[cell(A)] == "福田区"
        assert "驿站 A" in table  # the nearest stations of a cell
    if not wanted:
        assert "这段时间没有达到 5 次查找的网格。" in table


def test_the_map_draws_the_shown_cells_only(browsers, searched):
    page = browsers["admin"].get(PAGE).text
    script = page.split('<script nonce="', 1)[1]
    assert script.count("L.polygon(") == 3
    tooltips = re.findall(r"bindTooltip\(\s*`<div>\s*(.*?)\s*</div>`", script)
    assert sorted(tooltips) == sorted(
        [
            "福田区：12 次查找，5 次附近无开放站点",
            f"{_district(NORTH_1500_M)}：5 次查找，5 次附近无开放站点",
            f"{_district(FAR)}：6 次查找，6 次附近无开放站点",
        ]
    )


def test_the_map_colours_cells_by_their_unmet_searches(browsers, searched):
    script = browsers["admin"].get(PAGE, query_string={"kind": "none"}).text
    # 6 and 5 unmet of 6 at most: the darkest step; none unmet: green.
    assert script.count('"fillColor": "#b30000"') == 2
    assert script.count('"fillColor": "#a1d99b"') == 1


def _district(position):
    from stations.core.districts import district_at

    centre = coverage.cell_centre(cell(position))
    return district_at(lat=centre.lat, lng=centre.lng) or "—"


def test_the_csv_export_has_the_shown_cells(browsers, searched):
    answer = browsers["admin"].get(f"{PAGE}/export.csv")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    today = local_date(local_now())
    first = today - timedelta(days=29)
    assert answer.headers["Content-Disposition"] == (
        f'attachment; filename="coverage-{first}-{today}-all.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [(r["cell"], r["searches"], r["unmet"]) for r in rows] == [
        (cell(p), str(n), str(unmet)) for p, n, unmet in EXPECTED["all"]
    ]
    centre = coverage.cell_centre(cell(A))
    assert rows[1]["district"] == "福田区" and rows[1]["unmet_share"] == "0.417"
    assert (rows[1]["lat"], rows[1]["lng"]) == (f"{centre.lat:.6f}", f"{centre.lng:.6f}")


def test_the_geojson_export_has_the_shown_cells_as_hexagons(browsers, searched):
    answer = browsers["admin"].get(f"{PAGE}/export.geojson", query_string={"kind": "none"})
    assert answer.status_code == 200 and answer.mimetype == "application/geo+json"
    body = answer.get_json(force=True)
    assert body["type"] == "FeatureCollection" and body["period"]["min_searches"] == 5
    assert [f["properties"]["cell"] for f in body["features"]] == [
        cell(p) for p, _, _ in EXPECTED["none"]
    ]
    assert [f["properties"]["unmet"] for f in body["features"]] == [6, 5, 0]
    ring = body["features"][2]["geometry"]["coordinates"][0]
    assert len(ring) == 7 and ring[0] == ring[-1]
    assert all(113 < lng < 115 and 22 < lat < 23 for lng, lat in ring)  # [lng, lat]


def test_a_period_without_searches_shows_and_exports_no_cell(browsers, searched):
    yesterday = (local_date(local_now()) - timedelta(days=1)).isoformat()
    query = {"start": yesterday, "end": yesterday}
    admin = browsers["admin"]
    assert "L.polygon(" not in admin.get(PAGE, query_string=query).text
    exported = admin.get(f"{PAGE}/export.csv", query_string=query).text
    assert exported == "cell,district,lat,lng,searches,unmet,unmet_share\r\n"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"start": "2026-13-01"}, "请填写日期，格式为 2026-01-31"),
        ({"start": "2026-1-1"}, "请填写日期，格式为 2026-01-31"),
        ({"end": "yesterday"}, "请填写日期，格式为 2026-01-31"),
        ({"start": "0000-01-01"}, "请填写日期，格式为 2026-01-31"),
        ({"start": "2026-01-01\x00"}, "请填写日期，格式为 2026-01-31"),
        ({"start": "9" * 500}, "请填写日期，格式为 2026-01-31"),
        ({"start": "2026-03-02", "end": "2026-03-01"}, "结束日期不能早于开始日期"),
        ({"start": "2026-01-01", "end": "2026-06-30"}, "最长 180 天"),
        ({"kind": "bus_stop"}, "请选择列表中的一项"),
        ({"kind": ""}, "请选择列表中的一项"),
    ],
)
def test_a_bad_period_gets_a_form_message(browsers, query, message):
    admin = browsers["admin"]
    page = admin.get(PAGE, query_string=query)
    assert page.status_code == 400
    assert f'<ul class="errors"><li>{message}</li></ul>' in page.text
    for fmt in ("csv", "geojson"):
        answer = admin.get(f"{PAGE}/export.{fmt}", query_string=query)
        assert (answer.status_code, answer.mimetype) == (400, "text/plain")
        assert message in answer.text


def test_the_longest_period_is_180_days(browsers):
    query = {"start": "2026-01-01", "end": "2026-06-29"}
    assert browsers["admin"].get(PAGE, query_string=query).status_code == 200


@pytest.mark.parametrize("path", [PAGE, f"{PAGE}/export.csv", f"{PAGE}/export.geojson"])
@pytest.mark.parametrize(
    ("role", "status"), [("anonymous", 302), ("manager_a", 403), ("manager_b", 403), ("admin", 200)]
)
def test_only_admins_see_coverage(browsers, path, role, status):
    answer = browsers[role].get(path)
    assert answer.status_code == status
    if role == "anonymous":
        assert answer.location.startswith("/login?next=")


def test_the_page_in_english(browsers, searched):
    page = browsers["admin"].get(PAGE, query_string={"lang": "en"}).text
    assert "Coverage gaps: where riders find no open station near" in page
    assert "12 searches, 5 with no open station near" in page
