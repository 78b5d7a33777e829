"""The admin page for API keys: admins only; a key shown once, working, counted, revoked."""

import re

import pytest
from support import post

from stations.api import keys

PAGE = "/admin/keys/"


@pytest.fixture(autouse=True)
def fresh_usage(app):
    """No use counts left over from other tests (key ids are reused after rollbacks)."""
    app.extensions["stations.key_usage"] = keys._Usage()


@pytest.mark.parametrize(
    ("role", "status"), [("anonymous", 302), ("manager_a", 403), ("manager_b", 403), ("admin", 200)]
)
def test_only_admins_see_the_keys(browsers, role, status):
    assert browsers[role].get(PAGE).status_code == status
    created = post(browsers[role], PAGE, {"name": "x", "per_minute": "60"})
    assert created.status_code == status
    if role == "anonymous":
        assert created.location.startswith("/login?next=")


def test_an_admin_creates_a_key_that_works_and_is_counted(browsers, app, monkeypatch):
    monkeypatch.setitem(app.config, "API_KEY_USAGE_FLUSH_S", 0)
    admin = browsers["admin"]
    page = post(admin, PAGE, {"name": "饿了么骑手App", "per_minute": "90"})
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    token = re.search(r'<code id="new-key">(rsk_[^<]+)</code>', page.text).group(1)
    assert "饿了么骑手App" in page.text and token[:12] in page.text
    assert admin.get(PAGE).text.count(token) == 0  # shown once only
    api = app.test_client()
    for _ in range(3):
        answer = api.get("/api/v1/stations?per_page=1", headers={"X-API-Key": token})
        assert answer.status_code == 200 and answer.headers["RateLimit-Limit"] == "90"
    listed = admin.get(PAGE).text
    assert re.search(
        r"<td>90</td>\s*<td[^>]*>\d{4}-\d\d-\d\d \d\d:\d\d UTC</td>\s*<td>3</td>", listed
    )


def test_an_admin_revokes_a_key(browsers, app):
    key, token = keys.create_key("old partner")
    answer = post(browsers["admin"], f"{PAGE}{key.id}/revoke")
    assert answer.status_code == 302 and answer.location == PAGE
    assert "已吊销 key" in browsers["admin"].get(PAGE).text
    api = app.test_client()
    assert api.get("/api/v1/stations", headers={"X-API-Key": token}).status_code == 401
    assert post(browsers["admin"], f"{PAGE}999999/revoke").status_code == 404
    assert post(browsers["manager_a"], f"{PAGE}{key.id}/revoke").status_code == 403


@pytest.mark.parametrize(
    ("form", "problem"),
    [({"name": "", "per_minute": "60"}, "请填写"), ({"name": "p", "per_minute": "0"}, "1 到")],
)
def test_bad_key_forms_are_refused(browsers, form, problem):
    answer = post(browsers["admin"], PAGE, form)
    assert answer.status_code == 422 and problem in answer.text and "new-key" not in answer.text


def test_revoking_needs_the_csrf_token(browsers, app):
    key, _ = keys.create_key("p")
    assert browsers["admin"].post(f"{PAGE}{key.id}/revoke").status_code == 400
    assert [row["revoked_at"] for row in keys.key_usage()] == [None]
