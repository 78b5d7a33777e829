"""The session signing key, sessions that end, and the accounts' audit trail."""

import json
import multiprocessing
import os
import re
import stat
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.cookiejar import CookieJar

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade
from itsdangerous import URLSafeTimedSerializer
from servers import app_environment, gunicorn
from support import PASSWORD, browser, csrf_token, make_user, post

from stations import create_app, secret_key
from stations.core.db import db, utcnow
from stations.core.models import AccountAuditEntry, User

CHEAP_HASH = {"PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"}
STRONG_KEY = "b3f1c9a07e5d4c2a9f8e7d6c5b4a39281706f5e4d3c2b1a0"


def new_app(instance_path, config=None):
    """An app on its own instance folder and an in-memory database (no schema)."""
    return create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"} | (config or {}), instance_path)


# The signing key


def test_with_no_secret_key_one_is_generated_and_kept(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    first, again = new_app(str(tmp_path)), new_app(str(tmp_path))
    kept = tmp_path / "secret_key"
    assert first.secret_key == again.secret_key == kept.read_text().strip()
    assert len(first.secret_key) >= 64 and first.secret_key != "dev"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert os.listdir(tmp_path) == ["secret_key"]
    assert new_app(str(tmp_path / "other")).secret_key != first.secret_key


def _first_start(instance_path, barrier, keys):
    barrier.wait()
    keys.put(secret_key.instance_key(instance_path))


def test_workers_starting_at_once_agree_on_one_key(tmp_path):
    processes = 6
    spawn = multiprocessing.get_context("spawn")
    barrier, keys = spawn.Barrier(processes), spawn.Queue()
    starts = [
        spawn.Process(target=_first_start, args=(str(tmp_path), barrier, keys))
        for _ in range(processes)
    ]
    for start in starts:
        start.start()
    seen = [keys.get(timeout=60) for _ in starts]
    for start in starts:
        start.join(timeout=60)
        assert start.exitcode == 0
    assert len(set(seen)) == 1 and len(seen[0]) == 64
    assert seen[0] == (tmp_path / "secret_key").read_text().strip()
    assert os.listdir(tmp_path) == ["secret_key"]  # no temporary file left behind


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("dev", "SECRET_KEY is a well-known placeholder ('dev')"),
        ("changeme", "well-known placeholder"),
        ("Change-Me", "well-known placeholder"),
        ("secret", "well-known placeholder"),
        ("your-secret-key", "well-known placeholder"),
        ("your_secret_key_here", "well-known placeholder"),
        ("super-secret-key", "well-known placeholder"),
        ("9f8e7d6c5b4a3928", "SECRET_KEY is too short (16 characters)"),
        ("ab" * 20, "SECRET_KEY repeats a few characters only"),
    ],
)
@pytest.mark.parametrize("where", ["environment", "config"])
def test_a_weak_secret_key_stops_the_app(tmp_path, monkeypatch, where, key, message):
    config = {"TESTING": True}
    if where == "environment":
        monkeypatch.setenv("SECRET_KEY", key)
    else:
        monkeypatch.delenv("SECRET_KEY", raising=False)
        config["SECRET_KEY"] = key
    with pytest.raises(secret_key.SecretKeyError, match=re.escape(message)) as refused:
        new_app(str(tmp_path), config)
    assert "at least 32 random characters" in str(refused.value)
    assert not (tmp_path / "secret_key").exists()


def test_a_strong_secret_key_from_the_environment_is_used(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", f"  {STRONG_KEY} ")
    assert new_app(str(tmp_path)).secret_key == STRONG_KEY
    assert not (tmp_path / "secret_key").exists()


def test_a_tampered_key_file_stops_the_app(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    (tmp_path / "secret_key").write_text("dev\n")
    with pytest.raises(secret_key.SecretKeyError, match="secret_key is a well-known placeholder"):
        new_app(str(tmp_path))


@pytest.mark.parametrize(
    ("folder", "message"),
    [
        ("missing", "SECRET_KEY is not set, and no generated key can be kept in"),
        ("unreadable", "SECRET_KEY is not set, and the generated key in"),
    ],
)
def test_a_key_that_cannot_be_kept_or_read_stops_the_app_clearly(tmp_path, folder, message):
    if folder == "unreadable":
        (tmp_path / folder / "secret_key").mkdir(parents=True)  # a key file no one can read
    with pytest.raises(secret_key.SecretKeyError, match=message):
        secret_key.instance_key(str(tmp_path / folder))


# Forged and stale session cookies


def session_cookie(app, key, data):
    """A session cookie for `data`, signed with `key` the way the app's sessions are."""
    sessions = app.session_interface
    signer = {"key_derivation": sessions.key_derivation, "digest_method": sessions.digest_method}
    serializer = URLSafeTimedSerializer(
        key, salt=sessions.salt, serializer=sessions.serializer, signer_kwargs=signer
    )
    return serializer.dumps(data)


def opens_admin_pages(app, key, data):
    client = app.test_client()
    client.set_cookie(app.config["SESSION_COOKIE_NAME"], session_cookie(app, key, data))
    answer = client.get("/admin/users")
    assert answer.status_code in (200, 302)
    return answer.status_code == 200


@pytest.mark.parametrize("key", ["dev", "changeme", "secret", "your-secret-key", "development"])
@pytest.mark.parametrize("user_id", ["admin_id", "admin_session_id"])
def test_a_cookie_signed_with_a_guessable_key_logs_no_one_in(app, world, key, user_id):
    ids = {"admin_id": str(world.admin.id), "admin_session_id": world.admin.get_id()}
    assert not opens_admin_pages(app, key, {"_user_id": ids[user_id], "_fresh": True})


@pytest.mark.parametrize(
    ("session_id", "opens"),
    [
        ("{id}:{token}", True),  # what login_user stores: the forging above does work
        ("{id}", False),  # a session from before session tokens, or a forged one
        ("{id}:", False),
        ("{id}:{token}x", False),
        ("{id}:0000", False),
        (":{token}", False),
        ("x:{token}", False),
        ("²:{token}", False),
        ("", False),
    ],
)
def test_a_session_needs_the_accounts_current_token(app, world, session_id, opens):
    admin = world.admin
    data = {"_user_id": session_id.format(id=admin.id, token=admin.session_token)}
    assert opens_admin_pages(app, app.secret_key, data) is opens


def test_an_account_with_no_token_opens_no_session(app, world):
    world.admin.session_token = ""  # as the migration leaves a row before giving it a token
    db.session.commit()
    data = {"_user_id": f"{world.admin.id}:"}
    assert not opens_admin_pages(app, app.secret_key, data)


# Sessions that end


def deactivate(user):
    return {"email": user.email, "role": user.role}  # no "active": the box is unticked


def new_password(user):
    return {"email": user.email, "role": user.role, "active": "y", "password": "a new password!"}


@pytest.mark.parametrize("change", [deactivate, new_password, None])
def test_a_password_change_deactivation_or_end_sessions_logs_the_account_out(
    app, world, browsers, change
):
    manager = browser(app, world.manager_a)
    other_device = browser(app, world.manager_a)
    assert manager.get("/manage/").status_code == 200
    if change is None:
        answer = post(browsers["admin"], f"/admin/users/{world.manager_a.id}/end-sessions")
        assert answer.location == f"/admin/users/{world.manager_a.id}"
        page = browsers["admin"].get(answer.location).text
        assert "已让 a@example.org 在所有设备上退出登录" in page
    else:
        form = change(world.manager_a) | {"stations": "A"}
        answer = post(browsers["admin"], f"/admin/users/{world.manager_a.id}", form)
        assert answer.status_code == 302
    for client in (manager, other_device):
        assert client.get("/manage/").location == "/login?next=%2Fmanage%2F"
    assert browsers["manager_b"].get("/manage/").status_code == 200  # other accounts stay
    assert browsers["admin"].get("/admin/users").status_code == 200
    if change is not deactivate:
        password = "a new password!" if change is new_password else PASSWORD
        again = post(browser(app), "/login", {"email": "a@example.org", "password": password})
        assert again.status_code == 302


@pytest.mark.parametrize("own_change", ["password", "end-sessions"])
def test_an_admin_ending_their_own_sessions_keeps_this_one(app, world, browsers, own_change):
    here, elsewhere = browsers["admin"], browser(app, world.admin)
    url = f"/admin/users/{world.admin.id}"
    if own_change == "password":
        form = {"email": "admin@example.org", "role": "admin", "active": "y"}
        answer = post(here, url, form | {"password": "another password"})
    else:
        answer = post(here, url + "/end-sessions")
    assert answer.status_code == 302
    assert here.get("/admin/users").status_code == 200
    assert elsewhere.get("/admin/users").status_code == 302


def test_ending_sessions_needs_a_csrf_token(app, world, browsers):
    """(Who may: test_authorization.py.)"""
    url = f"/admin/users/{world.manager_b.id}/end-sessions"
    assert browsers["admin"].post(url).status_code == 400
    assert post(browsers["admin"], "/admin/users/999999/end-sessions").status_code == 404
    assert [row[0] for row in account_trail(world.manager_b.id)] == ["created"]
    assert browsers["manager_b"].get("/manage/").status_code == 200


# The accounts' audit trail


def account_trail(account_id):
    """(field, before, after, actor id, source) of an account's audit rows, oldest first."""
    db.session.expire_all()
    query = sa.select(AccountAuditEntry).where(AccountAuditEntry.account_id == account_id)
    return [
        (e.field, _value(e.before), _value(e.after), e.actor_id, e.source)
        for e in db.session.scalars(query.order_by(AccountAuditEntry.id))
    ]


def _value(text):
    return None if text is None else json.loads(text)


def test_creating_an_account_on_the_admin_page_is_audited(world, browsers):
    form = {"email": "new@example.org", "role": "manager", "stations": "B A"}
    assert post(browsers["admin"], "/admin/users/new", form | {"password": PASSWORD}).status_code
    user = db.session.scalar(sa.select(User).where(User.email == "new@example.org"))
    created = {"email": "new@example.org", "role": "manager", "active": True}
    created["stations"] = ["A", "B"]
    assert account_trail(user.id) == [("created", None, created, world.admin.id, "admin")]
    entry = db.session.scalar(sa.select(AccountAuditEntry).filter_by(account_id=user.id))
    assert entry.ip == "127.0.0.1" and entry.user_agent.startswith("Werkzeug/")
    assert PASSWORD not in (entry.before or "") + entry.after


def test_creating_an_account_on_the_command_line_is_audited(app):
    runner = app.test_cli_runner()
    args = ["create-user", "cli@example.org", "--role", "admin"]
    result = runner.invoke(args=args, input=PASSWORD)
    assert result.exit_code == 0, result.output
    user = db.session.scalar(sa.select(User).where(User.email == "cli@example.org"))
    created = {"email": "cli@example.org", "role": "admin", "active": True, "stations": []}
    assert account_trail(user.id) == [("created", None, created, None, "cli")]
    entry = db.session.scalar(sa.select(AccountAuditEntry).filter_by(account_id=user.id))
    assert entry.ip is None and entry.user_agent.startswith("command line (system user ")


SAME = {"email": "a@example.org", "role": "manager", "active": "y", "stations": "A"}


@pytest.mark.parametrize(
    ("changes", "rows"),
    [
        ({}, []),
        ({"stations": "A, B"}, [("stations", ["A"], ["A", "B"])]),
        ({"stations": ""}, [("stations", ["A"], [])]),
        ({"role": "admin"}, [("role", "manager", "admin")]),
        ({"email": "A2@example.org"}, [("email", "a@example.org", "a2@example.org")]),
        ({"active": ""}, [("active", True, False)]),
        ({"password": "a new password!"}, [("password", None, None)]),
        (
            {"role": "admin", "stations": "B", "password": "a new password!"},
            [("role", "manager", "admin"), ("stations", ["A"], ["B"]), ("password", None, None)],
        ),
    ],
)
def test_every_account_change_on_the_admin_page_is_audited(world, browsers, changes, rows):
    form = {k: v for k, v in (SAME | changes).items() if v != ""}
    answer = post(browsers["admin"], f"/admin/users/{world.manager_a.id}", form)
    assert answer.status_code == 302
    expected = [(*row, world.admin.id, "admin") for row in rows]
    assert account_trail(world.manager_a.id)[1:] == expected  # after "created"


def test_reactivating_and_ending_sessions_are_audited(world, browsers):
    url = f"/admin/users/{world.manager_a.id}"
    post(browsers["admin"], url, {k: v for k, v in SAME.items() if k != "active"})
    post(browsers["admin"], url, SAME)
    post(browsers["admin"], url + "/end-sessions")
    fields = [row[:3] for row in account_trail(world.manager_a.id)[1:]]
    assert fields == [("active", True, False), ("active", False, True), ("sessions", None, None)]


def test_a_refused_change_is_not_audited(world, browsers):
    form = {"email": "admin@example.org", "role": "manager", "active": "y"}
    answer = post(browsers["admin"], f"/admin/users/{world.admin.id}", form)
    assert answer.status_code == 422
    taken = SAME | {"email": "b@example.org", "role": "admin"}
    assert post(browsers["admin"], f"/admin/users/{world.manager_a.id}", taken).status_code == 422
    assert [row[0] for row in account_trail(world.admin.id)] == ["created"]
    assert [row[0] for row in account_trail(world.manager_a.id)] == ["created"]


def test_the_account_page_shows_its_history(world, browsers):
    url = f"/admin/users/{world.manager_a.id}"
    post(browsers["admin"], url, SAME | {"role": "admin", "stations": "A B"})
    page = browsers["admin"].get(url).text
    assert "修改记录" in page and "在所有设备上退出登录" in page
    assert "角色：站长 → 管理员" in page and "管理的站点：A → A、B" in page
    assert "新建账号：a@example.org，站长，站点：A" in page and "命令行" in page
    assert "admin@example.org" in page and "127.0.0.1" in page


def test_account_audit_rows_are_never_changed_or_deleted(world):
    entry = db.session.scalar(sa.select(AccountAuditEntry))
    entry.after = "{}"
    with pytest.raises(RuntimeError, match="never updated or deleted"):
        db.session.flush()
    db.session.rollback()
    db.session.delete(db.session.scalar(sa.select(AccountAuditEntry)))
    with pytest.raises(RuntimeError, match="never updated or deleted"):
        db.session.flush()
    db.session.rollback()


# Migration 0004 on a database with accounts


@pytest.fixture(params=["sqlite", "postgis"])
def blank_database_url(request, tmp_path):
    if request.param == "sqlite":
        return "sqlite:///" + str(tmp_path / "migrate.sqlite")
    from conftest import _postgis_url

    return _postgis_url("_migrate")


def test_migration_0004_gives_every_account_its_own_token(blank_database_url, tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": blank_database_url}, str(tmp_path / "i"))
    insert = sa.text(
        "INSERT INTO account (id, email, password_hash, role, active, created_at)"
        " VALUES (:id, :email, 'x', 'manager', :active, :created_at)"
    )
    with app.app_context():
        upgrade(revision="0003")
        with db.engine.begin() as connection:
            for n in range(1, 4):
                row = {"id": n, "email": f"{n}@example.org", "active": True, "created_at": utcnow()}
                connection.execute(insert, row)
        upgrade()
        tokens = db.session.scalars(sa.select(User.session_token).order_by(User.id)).all()
        assert len(tokens) == len(set(tokens)) == 3
        assert all(re.fullmatch(r"[0-9a-f]{64}", token) for token in tokens)
        db.session.remove()
        downgrade(revision="0003")
        with db.engine.connect() as connection:
            columns = {c["name"] for c in sa.inspect(connection).get_columns("account")}
            assert "session_token" not in columns
            assert not sa.inspect(connection).has_table("account_audit")
        upgrade()
        db.engine.dispose()


# Through real gunicorn workers


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _browser(jar):
    """fetch(url, form=None) -> (status, body), with the cookies in `jar` (which, as browsers
    do, send a host's cookies to any of its ports), and redirects not followed."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirects)

    def fetch(url, form=None):
        data = None if form is None else urllib.parse.urlencode(form).encode()
        try:
            with opener.open(url, data=data, timeout=10) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as answer:
            return answer.code, answer.read().decode()

    return fetch


def test_gunicorn_workers_share_the_generated_key_across_restarts(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    url = "sqlite:///" + str(tmp_path / "stations.sqlite")
    setup = create_app({"SQLALCHEMY_DATABASE_URI": url} | CHEAP_HASH, str(tmp_path / "setup"))
    with setup.app_context():
        upgrade()
        make_user("admin@example.org", "admin")
        db.engine.dispose()
    instance = tmp_path / "instance"  # none yet: the two workers race to make the key
    served = f"stations:create_app(instance_path={str(instance)!r})"
    env = app_environment(DATABASE_URL=url, RATELIMIT_ENABLED="false")
    env.pop("SECRET_KEY", None)
    access = tmp_path / "access.log"
    options = ("--access-logfile", str(access), "--access-logformat", "%(p)s %(s)s %(U)s")
    fetch = _browser(CookieJar())
    with gunicorn(env, tmp_path / "first.log", workers=2, app=served, options=options) as base:
        token = csrf_token(fetch(base + "/login")[1])
        form = {"csrf_token": token, "email": "admin@example.org", "password": PASSWORD}
        assert fetch(base + "/login", form)[0] == 302
        # Eight at a time, so that both workers are kept busy and each answers some.
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda _: fetch(base + "/admin/users")[0], range(40)))
        assert statuses == [200] * 40
    pids = {line.split()[0] for line in access.read_text().splitlines() if "/admin/users" in line}
    assert len(pids) == 2  # both workers took the cookie
    kept = instance / "secret_key"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600 and os.listdir(instance) == ["secret_key"]
    with gunicorn(env, tmp_path / "second.log", workers=2, app=served) as base:
        assert [fetch(base + "/admin/users")[0] for _ in range(10)] == [200] * 10
        stranger = _browser(CookieJar())
        assert stranger(base + "/admin/users")[0] == 302
