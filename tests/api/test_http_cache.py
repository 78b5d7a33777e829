"""HTTP behaviour of the API: validators and 304s, cache lifetimes, compression, CORS, notices."""

import gzip
from datetime import UTC, datetime, timedelta

import brotli
import pytest
import sqlalchemy as sa
from werkzeug.http import parse_date

from stations.api import views
from stations.core.db import db
from stations.core.hours import SHENZHEN_TZ
from stations.core.models import Station, StationTombstone

NEAREST = "/api/v1/stations/nearest?lat=22.5431&lng=114.0579&limit=5"
DATED = ["/api/v1/stations/1", "/api/v1/stations?per_page=20"]  # ETag and Last-Modified
CACHED = [*DATED, NEAREST]  # an ETag


@pytest.mark.parametrize("path", CACHED)
def test_a_current_copy_gets_304_by_etag(client, path):
    first = client.get(path)
    assert first.status_code == 200
    assert first.headers["Cache-Control"] == "public, no-cache"
    etag = first.headers["ETag"]
    assert etag.startswith('W/"')
    by_etag = client.get(path, headers={"If-None-Match": etag})
    assert by_etag.status_code == 304 and by_etag.get_data() == b""
    assert by_etag.headers["ETag"] == etag
    assert client.get(path, headers={"If-None-Match": 'W/"other"'}).status_code == 200


def test_nearest_has_no_date(client):
    assert "Last-Modified" not in client.get(NEAREST).headers
    future = {"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}
    assert client.get(NEAREST, headers=future).status_code == 200


@pytest.mark.parametrize("path", DATED)
def test_a_current_copy_gets_304_by_date(client, path):
    first = client.get(path)
    etag, last_modified = first.headers["ETag"], first.headers["Last-Modified"]
    by_date = client.get(path, headers={"If-Modified-Since": last_modified})
    assert by_date.status_code == 304
    assert etag == by_date.headers["ETag"]
    # If-None-Match wins over If-Modified-Since (RFC 9110).
    both = {"If-None-Match": 'W/"other"', "If-Modified-Since": last_modified}
    assert client.get(path, headers=both).status_code == 200


@pytest.mark.parametrize("path", CACHED)
def test_a_change_makes_copies_stale(client, path):
    first = client.get(path)
    data = first.get_json()["data"]
    station = db.session.get(Station, data[0]["id"] if isinstance(data, list) else data["id"])
    station.phone = "0755-12345678"
    station.updated_at = datetime.now(SHENZHEN_TZ) + timedelta(seconds=2)
    db.session.commit()
    again = client.get(path, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 200 and again.headers["ETag"] != first.headers["ETag"]
    if path in DATED:
        since = client.get(path, headers={"If-Modified-Since": first.headers["Last-Modified"]})
        assert since.status_code == 200


def test_a_deletion_moves_a_lists_validators(client):
    path = "/api/v1/stations?per_page=5"
    first = client.get(path)
    last = db.session.scalars(sa.select(Station).order_by(Station.id.desc())).first()
    db.session.delete(last)  # not on the first page, but the total changes
    db.session.commit()
    deleted_at = db.session.get(StationTombstone, last.id).deleted_at
    after = client.get(path, headers={"If-None-Match": first.headers["ETag"]})
    assert after.status_code == 200 and after.get_json()["total"] == 813
    assert parse_date(after.headers["Last-Modified"]) == deleted_at.replace(microsecond=0)


def test_last_modified_follows_opening_and_closing(client, monkeypatch):
    station = db.session.get(Station, 1)
    station.opening_hours, station.status = "Mo-Su 08:00-20:00", "open"
    db.session.commit()
    monkeypatch.setattr(views, "local_now", lambda: datetime(2030, 1, 7, 21, 5, tzinfo=SHENZHEN_TZ))
    closed = client.get("/api/v1/stations/1")
    assert closed.get_json()["data"]["open_now"] is False
    # It closed at 20:00 that evening (12:00 UTC), later than its data's last change.
    assert parse_date(closed.headers["Last-Modified"]) == datetime(2030, 1, 7, 12, 0, tzinfo=UTC)


def test_lifetimes_suit_each_endpoint(client):
    assert client.get("/api/v1/openapi.json").headers["Cache-Control"] == "public, max-age=3600"
    assert client.get("/api/v1/health").headers["Cache-Control"] == "no-store"
    assert client.get("/api/v1/stations/changes").headers["Cache-Control"] == "no-cache"
    assert client.get("/api/v1/stations/999999").headers["Cache-Control"] == "no-store"
    assert client.get("/api/docs").headers["Cache-Control"] == "public, max-age=3600"


def test_station_responses_vary_with_accept(client):
    vary = client.get("/api/v1/stations/1").headers["Vary"]
    assert "Accept" in [part.strip() for part in vary.split(",")]
    assert "Accept-Encoding" in vary


@pytest.mark.parametrize(
    "path", ["/api/v1/stations", "/api/v1/stations/nearest?lat=22.54&lng=114.06", "/api/v1/nope"]
)
def test_api_answers_neither_read_nor_set_the_session(browsers, path):
    # The manager's own cookie goes along (a browser sends it): the API ignores it, so shared
    # caches may keep its answers.
    client = browsers["manager_a"]
    response = client.get(path)
    assert "Cookie" not in response.headers.get("Vary", "")
    assert "Set-Cookie" not in response.headers
    assert "Cookie" in client.get("/manage/").headers["Vary"]  # the pages still have sessions


@pytest.mark.parametrize(
    ("encoding", "decode"), [("br", brotli.decompress), ("gzip", gzip.decompress)]
)
def test_responses_are_compressed(client, encoding, decode):
    plain = client.get("/api/v1/stations?per_page=50")
    packed = client.get("/api/v1/stations?per_page=50", headers={"Accept-Encoding": encoding})
    assert packed.headers["Content-Encoding"] == encoding
    assert decode(packed.get_data()) == plain.get_data()
    assert len(packed.get_data()) < len(plain.get_data()) / 4
    assert packed.headers["ETag"] == plain.headers["ETag"]  # weak: the same JSON either way
    again = client.get(
        "/api/v1/stations?per_page=50",
        headers={"Accept-Encoding": encoding, "If-None-Match": packed.headers["ETag"]},
    )
    assert again.status_code == 304


def test_cors_preflight_allows_keys_from_any_origin(client):
    response = client.options(
        "/api/v1/stations/nearest",
        headers={
            "Origin": "https://rider.example.com",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "X-API-Key, If-None-Match",
        },
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    assert "x-api-key" in allowed and "if-none-match" in allowed
    assert "GET" in response.headers["Access-Control-Allow-Methods"]
    assert response.headers["Access-Control-Max-Age"] == "86400"
    simple = client.get("/api/v1/stations/1", headers={"Origin": "https://rider.example.com"})
    assert simple.headers["Access-Control-Allow-Origin"] == "*"
    exposed = simple.headers["Access-Control-Expose-Headers"]
    assert "ETag" in exposed and "RateLimit-Remaining" in exposed


def test_cors_origins_can_be_limited(monkeypatch, tmp_path):
    from stations import create_app

    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.sqlite"})
    client = app.test_client()
    allowed = client.get("/api/v1/openapi.json", headers={"Origin": "https://b.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://b.example"
    refused = client.get("/api/v1/openapi.json", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in refused.headers


def test_deprecated_endpoints_say_so(sample_app, client, monkeypatch):
    notice = {
        "deprecated_at": "2027-01-01T00:00:00",
        "sunset_at": "2027-07-01T00:00:00",
        "link": "https://example.org/api/docs#versioning",
    }
    monkeypatch.setitem(sample_app.config, "API_DEPRECATIONS", {"api.station": notice})
    response = client.get("/api/v1/stations/1")
    assert response.headers["Deprecation"] == "@1798761600"
    assert response.headers["Sunset"] == "Thu, 01 Jul 2027 00:00:00 GMT"
    assert (
        '<https://example.org/api/docs#versioning>; rel="deprecation"' in response.headers["Link"]
    )
    assert "Deprecation" not in client.get("/api/v1/stations?per_page=1").headers
