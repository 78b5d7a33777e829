"""Accounts: the create-user command, logging in and out, throttling, cookies."""

import pytest
import sqlalchemy as sa
from support import PASSWORD, browser, csrf_token, make_station, post
from werkzeug.security import check_password_hash

from stations import create_app
from stations.core.accounts import hash_password
from stations.core.db import db
from stations.core.models import User


def user_by_email(email):
    db.session.expire_all()
    return db.session.scalar(sa.select(User).where(User.email == email))


def test_create_user_reads_the_password_from_stdin(app):
    make_station("S-1")
    make_station("S-2", lat=22.6)
    result = app.test_cli_runner().invoke(
        args=[
            "create-user",
            " Ming@Example.org ",
            "--role",
            "manager",
            "--station",
            "S-1",
            "--station",
            "S-2",
        ],
        input="a long enough secret\n",
    )
    assert result.exit_code == 0, result.output
    assert result.output == "Created manager ming@example.org (S-1, S-2).\n"
    user = user_by_email("ming@example.org")
    assert check_password_hash(user.password_hash, "a long enough secret")
    assert "a long enough secret" not in user.password_hash
    assert sorted(s.external_id for s in user.stations) == ["S-1", "S-2"]


@pytest.mark.parametrize(
    ("args", "password", "message"),
    [
        (["x@example.org", "--role", "manager"], "short\n", "at least 10 characters"),
        (
            ["x@example.org", "--role", "manager", "--station", "NOPE"],
            PASSWORD,
            "no station has external_id NOPE",
        ),
        (["not-an-email", "--role", "admin"], PASSWORD, "is not an email address"),
        (["x@example.org", "--role", "boss"], PASSWORD, "'boss' is not one of"),
        (["x@example.org"], PASSWORD, "Missing option '--role'"),
    ],
)
def test_create_user_refuses_bad_input(app, args, password, message):
    result = app.test_cli_runner().invoke(args=["create-user", *args], input=password)
    assert result.exit_code != 0
    assert message in result.output
    assert user_by_email("x@example.org") is None


def test_create_user_refuses_an_existing_email(app, world):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-user", "A@example.org", "--role", "admin"], input=PASSWORD)
    assert result.exit_code != 0 and "already exists" in result.output


def test_passwords_are_hashed_with_scrypt_by_default(app, monkeypatch):
    monkeypatch.delitem(app.config, "PASSWORD_HASH_METHOD")
    assert hash_password("whatever else").startswith("scrypt:")


def test_login_and_logout(app, world):
    client = app.test_client()
    token = csrf_token(client.get("/login").text)
    wrong = client.post(
        "/login", data={"csrf_token": token, "email": "a@example.org", "password": "wrong password"}
    )
    assert wrong.status_code == 200 and "邮箱或密码不正确" in wrong.text
    assert client.get("/manage/").status_code == 302
    right = client.post(
        "/login", data={"csrf_token": token, "email": " A@Example.org ", "password": PASSWORD}
    )
    assert (right.status_code, right.location) == (302, "/manage/")
    assert world.a.name in client.get("/manage/").text
    token = csrf_token(client.get("/manage/").text)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/manage/").status_code == 302


@pytest.mark.parametrize(
    ("next_page", "landing"),
    [
        ("/manage/stations/1", "/manage/stations/1"),
        ("//evil.example/x", "/manage/"),
        ("https://evil.example/", "/manage/"),
        ("/\\evil.example", "/manage/"),
    ],
)
def test_login_goes_back_only_to_this_site(app, world, next_page, landing):
    client = app.test_client()
    token = csrf_token(client.get("/login").text)
    form = {"csrf_token": token, "email": "a@example.org", "password": PASSWORD}
    answer = client.post("/login", query_string={"next": next_page}, data=form)
    assert answer.location == landing


def test_the_session_is_new_after_login(app, world):
    client = app.test_client()
    client.get("/login")
    with client.session_transaction() as session:
        session["planted"] = "by someone else"
    token = csrf_token(client.get("/login").text)
    form = {"csrf_token": token, "email": "a@example.org", "password": PASSWORD}
    assert client.post("/login", data=form).status_code == 302
    with client.session_transaction() as session:
        assert "planted" not in session


def test_a_deactivated_user_is_logged_out_and_cannot_log_in(app, world):
    client = browser(app, world.manager_a)
    world.manager_a.active = False
    db.session.commit()
    assert client.get("/manage/").status_code == 302
    again = post(client, "/login", {"email": "a@example.org", "password": PASSWORD})
    assert again.status_code == 200 and "邮箱或密码不正确" in again.text


def test_login_is_throttled_per_account(app, world):
    client = browser(app)
    wrong = {"email": "a@example.org", "password": "wrong password"}
    for _ in range(5):
        assert post(client, "/login", wrong).status_code == 200
    right = {"email": "a@example.org", "password": PASSWORD}
    refused = post(client, "/login", right)
    assert refused.status_code == 429
    assert "登录尝试次数过多" in refused.text and refused.headers["Retry-After"]
    # Another account from the same address is not locked out by this one.
    other = {"email": "b@example.org", "password": PASSWORD}
    assert post(client, "/login", other).status_code == 302


def test_login_is_throttled_per_address(app, world, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_LIMIT_PER_IP", "3 per 15 minutes")
    client = browser(app)
    for n in range(3):
        form = {"email": f"nobody{n}@example.org", "password": "wrong password"}
        assert post(client, "/login", form).status_code == 200
    right = {"email": "a@example.org", "password": PASSWORD}
    assert post(client, "/login", right).status_code == 429
    elsewhere = browser(app, remote_addr="10.9.9.9")
    assert post(elsewhere, "/login", right).status_code == 302


def test_successful_logins_do_not_count(app, world):
    for _ in range(8):
        client = browser(app, world.manager_a)
        assert client.get("/manage/").status_code == 200


def test_session_cookie_flags(app, world):
    plain = app.test_client()
    cookie = plain.get("/login").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    https = app.test_client()
    cookie = https.get("/login", base_url="https://localhost").headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie


def test_https_behind_a_proxy_gives_a_secure_cookie(monkeypatch):
    monkeypatch.setenv("TRUSTED_PROXIES", "1")
    proxied = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    answer = proxied.test_client().get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in answer.headers["Set-Cookie"]
