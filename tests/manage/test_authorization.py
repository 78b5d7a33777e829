"""Who may open what: every manager and admin route, for every role, with its exact status."""

import io
import tempfile

import pytest
from support import post

from stations.core.db import db
from stations.core.importer import import_stations
from stations.core.models import Upload
from stations.ids import MAX_ID

CSV = b"external_id,kind,name,lat,lng\nNEW-1,warm_station,new,22.60,114.10\n"


def _upload(world):
    """An admin's upload waiting for its commit; the form fields that commit it."""
    upload = Upload(user_id=world.admin.id, filename="s.csv", crs="wgs84", content=CSV)
    db.session.add(upload)
    db.session.commit()
    with tempfile.NamedTemporaryFile(suffix=".csv") as file:
        file.write(CSV)
        file.flush()
        digest = import_stations(file.name, dry_run=True).digest()
    return {"upload_id": upload.id, "digest": digest}


def _version(world):
    return {"version": world.a.version}


STATION_FORM = {"kind": "warm_station", "name": "新站", "datum": "wgs84", "lat": "22.7"}
STATION_FORM |= {"lng": "114.2", "external_id": "NEW-2"}
USER_FORM = {"email": "b@example.org", "role": "manager", "active": "y", "stations": "A B"}

# (method, path, form data from the world); {a}, {report}, {manager_b} are filled in.
# Expected: (anonymous, manager of A, manager of B, admin). "login" is a 302 to the login page,
# 302 otherwise a redirect after success.
MATRIX = [
    ("GET", "/manage/", None, ("login", 200, 200, 200)),
    ("GET", "/manage/stations/{a}", None, ("login", 200, 404, 200)),
    ("GET", "/manage/stations/999999", None, ("login", 404, 404, 404)),
    (
        "POST",
        "/manage/stations/{a}/amenities",
        lambda w: _version(w) | {"amenity": "toilet", "value": "no"},
        ("login", 302, 404, 302),
    ),
    (
        "POST",
        "/manage/stations/{a}/hours",
        lambda w: _version(w) | {"mode": "raw", "opening_hours": "24/7"},
        ("login", 302, 404, 302),
    ),
    (
        "POST",
        "/manage/stations/{a}/status",
        lambda w: _version(w) | {"status": "closed"},
        ("login", 302, 404, 302),
    ),
    (
        "POST",
        "/manage/stations/{a}/phone",
        lambda w: _version(w) | {"phone": "0755-1234"},
        ("login", 302, 404, 302),
    ),
    ("POST", "/manage/stations/{a}/verify", _version, ("login", 302, 404, 302)),
    (
        "POST",
        "/manage/stations/{a}/reports/{report}/resolve",
        lambda w: _version(w) | {"action": "dismissed"},
        ("login", 302, 404, 302),
    ),
    ("GET", "/manage/hours/preview?mode=raw&opening_hours=24/7", None, ("login", 200, 200, 200)),
    ("GET", "/admin/", None, ("login", 403, 403, 200)),
    ("GET", "/admin/stations/new", None, ("login", 403, 403, 200)),
    ("POST", "/admin/stations/new", lambda w: STATION_FORM, ("login", 403, 403, 302)),
    ("GET", "/admin/stations/{a}/edit", None, ("login", 403, 403, 200)),
    (
        "POST",
        "/admin/stations/{a}/edit",
        lambda w: STATION_FORM | _version(w),
        ("login", 403, 403, 302),
    ),
    ("GET", "/admin/stations/{a}/retire", None, ("login", 403, 403, 200)),
    ("POST", "/admin/stations/{a}/retire", None, ("login", 403, 403, 302)),
    ("GET", "/admin/users", None, ("login", 403, 403, 200)),
    ("GET", "/admin/users/new", None, ("login", 403, 403, 200)),
    (
        "POST",
        "/admin/users/new",
        lambda w: USER_FORM | {"email": "new@example.org", "password": "0123456789"},
        ("login", 403, 403, 302),
    ),
    ("GET", "/admin/users/{manager_b}", None, ("login", 403, 403, 200)),
    ("POST", "/admin/users/{manager_b}", lambda w: USER_FORM, ("login", 403, 403, 302)),
    ("POST", "/admin/users/{manager_b}/end-sessions", None, ("login", 403, 403, 302)),
    ("GET", "/admin/import", None, ("login", 403, 403, 200)),
    (
        "POST",
        "/admin/import",
        lambda w: {"crs": "wgs84", "file": (io.BytesIO(CSV), "s.csv")},
        ("login", 403, 403, 200),
    ),
    ("POST", "/admin/import/commit", _upload, ("login", 403, 403, 302)),
    ("GET", "/admin/coverage", None, ("login", 403, 403, 200)),
    ("GET", "/admin/coverage/export.csv", None, ("login", 403, 403, 200)),
    ("GET", "/admin/coverage/export.geojson", None, ("login", 403, 403, 200)),
]
CASES = [
    pytest.param(method, path, data, role, expected, id=f"{method} {path} {role}")
    for method, path, data, codes in MATRIX
    for role, expected in zip(("anonymous", "manager_a", "manager_b", "admin"), codes, strict=True)
]


@pytest.mark.parametrize(("method", "path", "data", "role", "expected"), CASES)
def test_authorization_matrix(browsers, world, method, path, data, role, expected):
    ids = {"a": world.a.id, "report": world.report.id, "manager_b": world.manager_b.id}
    url = path.format(**ids)
    client = browsers[role]
    if method == "GET":
        answer = client.get(url)
    else:
        answer = post(client, url, data(world) if data else None)
    if expected == "login":
        assert answer.status_code == 302
        assert answer.location.startswith("/login?next=")
    else:
        assert answer.status_code == expected, answer.text[:500]
        if expected == 302:
            assert not answer.location.startswith("/login")


def test_managers_404_looks_the_same_for_other_and_missing_stations(browsers, world):
    """A manager cannot tell another manager's station from one that does not exist."""
    client = browsers["manager_b"]
    other = client.get(f"/manage/stations/{world.a.id}")
    missing = client.get(f"/manage/stations/{MAX_ID}")  # no station has it, yet one could
    assert (other.status_code, other.text) == (missing.status_code, missing.text)
