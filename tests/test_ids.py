"""No 500 from any id: every route that takes an id answers 404 for one that cannot exist."""

import pytest
from flask import url_for
from support import browser, post

from stations.ids import MAX_ID

# (method, path with {id} for the id under test, role, form or JSON data, whether it is API).
# {a} and {report} are station A and its open report; the data is valid, so only the id is wrong.
VERSION = {"version": "1"}
AMENITY = VERSION | {"amenity": "toilet", "value": "yes"}
ROUTES = [
    ("GET", "/api/v1/stations/{id}", "anonymous", None, True),
    ("POST", "/api/v1/stations/{id}/reports", "anonymous", {"reason": "no_water"}, True),
    ("GET", "/manage/stations/{id}", "manager_a", None, False),
    ("POST", "/manage/stations/{id}/amenities", "manager_a", AMENITY, False),
    ("POST", "/manage/stations/{id}/hours", "manager_a", VERSION | {"mode": "raw"}, False),
    ("POST", "/manage/stations/{id}/status", "manager_a", VERSION | {"status": "open"}, False),
    ("POST", "/manage/stations/{id}/phone", "manager_a", VERSION | {"phone": ""}, False),
    ("POST", "/manage/stations/{id}/verify", "manager_a", VERSION, False),
    ("POST", "/manage/stations/{id}/reports/{report}/resolve", "manager_a", VERSION, False),
    ("POST", "/manage/stations/{a}/reports/{id}/resolve", "manager_a", VERSION, False),
    ("GET", "/admin/stations/{id}/edit", "admin", None, False),
    ("POST", "/admin/stations/{id}/edit", "admin", VERSION, False),
    ("GET", "/admin/stations/{id}/retire", "admin", None, False),
    ("POST", "/admin/stations/{id}/retire", "admin", None, False),
    ("GET", "/admin/users/{id}", "admin", None, False),
    ("POST", "/admin/users/{id}", "admin", None, False),
    ("POST", "/admin/users/{id}/end-sessions", "admin", None, False),
    ("POST", "/admin/keys/{id}/revoke", "admin", None, False),
]
IMPOSSIBLE_IDS = [
    "-1",
    "0",
    "00",
    str(2**31),  # past PostgreSQL's integer
    str(2**63),  # past SQLite's integer
    str(10**30),
    "abc",
    "1.5",
    "1e3",
    "%20",
    "\u0663",  # ARABIC-INDIC DIGIT THREE: a digit, but not an id
]


def request(app, world, method, path, role, data, api, ident):
    """The answer to one route with one id, from a client logged in as `role`."""
    client = browser(app, world.user(role))
    url = path.format(id=ident, a=world.a.id, report=world.report.id)
    if method == "GET":
        return client.get(url)
    if api:
        return client.post(url, json=data)
    return post(client, url, data)


def assert_not_found(answer, api):
    assert answer.status_code == 404, answer.text[:300]
    if api:
        assert answer.mimetype == "application/problem+json"
        assert answer.get_json()["status"] == 404
    else:
        assert answer.mimetype == "text/html"
        assert "<h1>404 Not Found</h1>" in answer.text


@pytest.mark.parametrize("ident", IMPOSSIBLE_IDS)
@pytest.mark.parametrize(("method", "path", "role", "data", "api"), ROUTES)
def test_an_id_that_cannot_exist_is_not_found(app, world, method, path, role, data, api, ident):
    answer = request(app, world, method, path, role, data, api, ident)
    assert_not_found(answer, api)


# Ids that could exist but do not: the route matches and the view answers as for any unknown id.
# Resolving a report that is gone (say, resolved from another phone) goes back to the station.
MISSING = {"/manage/stations/{a}/reports/{id}/resolve": 302}


@pytest.mark.parametrize("ident", [MAX_ID, 999_999])
@pytest.mark.parametrize(("method", "path", "role", "data", "api"), ROUTES)
def test_an_id_that_could_exist_but_does_not(app, world, method, path, role, data, api, ident):
    answer = request(app, world, method, path, role, data, api, ident)
    if path in MISSING:
        assert answer.status_code == MISSING[path]
        assert answer.location == f"/manage/stations/{world.a.id}"
    else:
        assert_not_found(answer, api)


@pytest.mark.parametrize(
    ("path", "problem_json"),
    [
        ("/api/v1/stations/0/anything", True),
        ("/api/v1/no-such-thing", True),
        ("/manage/stations/0/anything", False),
    ],
)
def test_unknown_urls_keep_their_404(client, path, problem_json):
    answer = client.get(path)
    assert answer.status_code == 404
    expected = "application/problem+json" if problem_json else "text/html"
    assert answer.mimetype == expected


def test_urls_for_ids_are_plain_numbers(app, world):
    with app.test_request_context():
        assert url_for("manage.station", station_id=world.a.id) == f"/manage/stations/{world.a.id}"
        assert url_for("api.station", station_id=MAX_ID) == f"/api/v1/stations/{MAX_ID}"
