"""Backups and restores of both databases, with the databases' own tools, under write load."""

import threading

import pytest
import sqlalchemy as sa
from conftest import BACKENDS, _postgis_url
from flask_migrate import upgrade
from support import make_station, make_user

from stations import create_app
from stations.api.keys import create_key
from stations.backup import DATA_TABLES, backup_name, prune
from stations.core.audit import save
from stations.core.db import db
from stations.core.models import AuditEntry, Station

STATIONS = 5


def _app(backend, tmp_path, name):
    """An app on a database of its own (committed data), without the schema yet."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / name}.sqlite"
    else:
        url = _postgis_url(f"_backup_{name}")
    return create_app({"SQLALCHEMY_DATABASE_URI": url, "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1"})


@pytest.fixture(params=BACKENDS)
def source(request, tmp_path):
    """An app whose database holds stations, accounts (with their audit) and an API key."""
    app = _app(request.param, tmp_path, "source")
    with app.app_context():
        upgrade()
        stations = [make_station(f"S{n}", phone="0") for n in range(STATIONS)]
        make_user("admin@example.org", "admin")
        make_user("manager@example.org", "manager", stations[:2])
        create_key("partner")
        save(stations[0], {"phone": "1"}, user=None, source="admin")
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def target(source, tmp_path):
    """An app on a fresh, empty database of the same backend (no tables at all)."""
    backend = sa.make_url(source.config["SQLALCHEMY_DATABASE_URI"]).get_backend_name()
    app = _app("sqlite" if backend == "sqlite" else "postgis", tmp_path, "target")
    yield app
    with app.app_context():
        db.engine.dispose()


class Writer(threading.Thread):
    """Edits the stations' phone numbers in a loop, each edit one version and one audit row."""

    def __init__(self, app):
        super().__init__(daemon=True)
        self.app, self.stop, self.edits = app, threading.Event(), 0
        self.edited = threading.Condition()

    def run(self):
        with self.app.app_context():
            while not self.stop.is_set():
                station = db.session.get(Station, self.edits % STATIONS + 1)
                save(station, {"phone": str(self.edits + 1)}, user=None, source="admin")
                with self.edited:
                    self.edits += 1
                    self.edited.notify_all()
            db.session.remove()

    def wait_for(self, edits):
        with self.edited:
            assert self.edited.wait_for(lambda: self.edits >= edits, timeout=30)


def _cli(app, args):
    """Run a flask command as `flask --app app ...` does: inside an app context."""
    with app.app_context():
        return app.test_cli_runner().invoke(args=args)


def _rows(app):
    """Every row of the tables a backup must keep, by table, in id order."""
    with app.app_context():
        rows = {}
        for table in (*DATA_TABLES, "station_tombstone", "report", "alembic_version"):
            found = sa.Table(table, sa.MetaData(), autoload_with=db.engine)
            order = found.primary_key.columns.values() or list(found.columns)
            query = sa.select(found).order_by(*order)
            rows[table] = [tuple(row) for row in db.session.execute(query)]
        db.session.remove()
        return rows


def _versions_match_audit(app):
    """{station id: (version - 1, audit rows)}: equal in a consistent copy."""
    with app.app_context():
        audited = sa.select(sa.func.count(AuditEntry.id)).where(AuditEntry.station_id == Station.id)
        query = sa.select(Station.id, Station.version, audited.scalar_subquery())
        return {id_: (version - 1, n) for id_, version, n in db.session.execute(query)}


def test_backup_under_writes_restores_a_consistent_state(source, target, tmp_path):
    writer = Writer(source)
    writer.start()
    try:
        writer.wait_for(20)
        result = _cli(source, ["backup", str(tmp_path / "a.backup")])
        assert result.exit_code == 0, result.output
        at_backup = writer.edits
        writer.wait_for(at_backup + 20)  # the writer went on after the backup
    finally:
        writer.stop.set()
        writer.join()

    result = _cli(target, ["restore", str(tmp_path / "a.backup")])
    assert result.exit_code == 0, result.output
    pairs = _versions_match_audit(target)
    assert len(pairs) == STATIONS
    assert all(edits == audited for edits, audited in pairs.values()), pairs
    # A moment between the start and the end of the backup, not the state at the end.
    restored_edits = sum(edits for edits, _ in pairs.values())
    assert 20 <= restored_edits < writer.edits


def test_restore_gives_back_every_row(source, target, tmp_path):
    path = tmp_path / "b.backup"
    result = _cli(source, ["backup", str(path)])
    assert result.exit_code == 0, result.output
    result = _cli(target, ["restore", str(path)])
    assert result.exit_code == 0, result.output
    restored = _rows(target)
    assert restored == _rows(source)
    assert all(restored[table] for table in DATA_TABLES)
    # The restored database takes writes: its sequences and triggers came along.
    with target.app_context():
        make_station("new")
        numbers = db.session.execute(sa.select(Station.change_seq)).scalars().all()
        assert len(set(numbers)) == STATIONS + 1
        db.session.remove()


def test_restore_refuses_a_database_with_data_unless_forced(source, target, tmp_path):
    path = tmp_path / "c.backup"
    assert _cli(source, ["backup", str(path)]).exit_code == 0
    with source.app_context():
        make_station("after the backup")
        db.session.remove()

    refused = _cli(source, ["restore", str(path)])
    assert refused.exit_code == 1
    assert f"The database holds data ({STATIONS + 1} station" in refused.output
    assert len(_rows(source)["station"]) == STATIONS + 1

    forced = _cli(source, ["restore", "--force", str(path)])
    assert forced.exit_code == 0, forced.output
    assert len(_rows(source)["station"]) == STATIONS


OTHER_KIND = {
    "sqlite": (b"PGDMP" + bytes(100), "is a postgresql backup; the configured database is sqlite"),
    "postgresql": (
        b"SQLite format 3\x00" + bytes(100),
        "is a sqlite backup; the configured database is postgresql",
    ),
}


@pytest.mark.parametrize("kind", ["other database", "not a backup"])
def test_restore_refuses_a_file_of_another_kind(target, tmp_path, kind):
    backend = sa.make_url(target.config["SQLALCHEMY_DATABASE_URI"]).get_backend_name()
    content, message = OTHER_KIND[backend]
    if kind == "not a backup":
        content, message = b"hello", "is neither a SQLite file nor a pg_dump archive"
    path = tmp_path / "other.backup"
    path.write_bytes(content)
    result = _cli(target, ["restore", str(path)])
    assert result.exit_code == 1
    assert message in result.output


def test_backup_into_a_folder_keeps_the_newest(source, tmp_path):
    folder = tmp_path / "backups"
    folder.mkdir()
    backend = sa.make_url(source.config["SQLALCHEMY_DATABASE_URI"]).get_backend_name()
    suffix = ".sqlite" if backend == "sqlite" else ".pgdump"
    old = [folder / f"stations-2020010{day}T020000Z{suffix}" for day in (1, 2, 3)]
    for path in old:
        path.write_bytes(b"old")
    (folder / "notes.txt").write_text("not a backup")

    result = _cli(source, ["backup", str(folder), "--keep", "2"])
    assert result.exit_code == 0, result.output
    names = sorted(path.name for path in folder.iterdir())
    assert names[:2] == ["notes.txt", old[2].name]
    assert len(names) == 3 and names[2].startswith("stations-20") and names[2].endswith(suffix)
    assert (folder / names[2]).stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["backup", "--keep", "2", "{tmp}/file.backup"], "--keep needs DEST to be a folder"),
        (["backup", "--keep", "0", "{tmp}"], "0 is not in the range x>=1"),
        (["restore", "{tmp}/missing.backup"], "does not exist"),
    ],
)
def test_bad_arguments(source, tmp_path, args, message):
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in args]
    result = _cli(source, args)
    assert result.exit_code == 2
    assert message in result.output


def test_backup_into_a_missing_folder_fails_cleanly(source, tmp_path):
    result = _cli(source, ["backup", str(tmp_path / "missing" / "a.backup")])
    assert result.exit_code == 1
    assert f"Error: {tmp_path / 'missing'} is not a folder." in result.output


def test_dated_names_sort_by_time(tmp_path):
    from datetime import UTC, datetime

    early = backup_name("sqlite", datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert early == "stations-20250102T030405Z.sqlite"
    late = backup_name("postgresql", datetime(2025, 11, 1, tzinfo=UTC))
    assert late == "stations-20251101T000000Z.pgdump"
    for name in (late, early):
        (tmp_path / name).write_bytes(b"")
    assert [path.name for path in prune(tmp_path, 1)] == [early]
