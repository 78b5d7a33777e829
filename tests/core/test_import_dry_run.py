"""The importer's dry run (what the admin's preview shows) and the audit rows an import leaves."""

import json

import pytest
import sqlalchemy as sa

from stations.core.audit import snapshot
from stations.core.db import db
from stations.core.importer import ImportFailed, import_stations
from stations.core.models import AuditEntry, Station, User

HEADER = "external_id,kind,name,lat,lng,toilet,status\n"


def write(tmp_path, *lines, name="stations.csv"):
    path = tmp_path / name
    path.write_text(HEADER + "".join(line + "\n" for line in lines), encoding="utf-8")
    return str(path)


def everything():
    """Every station and audit row, as plain values."""
    db.session.expire_all()
    stations = [snapshot(s) for s in db.session.scalars(sa.select(Station).order_by(Station.id))]
    entries = db.session.execute(sa.select(AuditEntry.__table__).order_by(AuditEntry.id)).all()
    return stations, [tuple(row) for row in entries]


@pytest.fixture
def two_stations(app, tmp_path):
    import_stations(
        write(
            tmp_path,
            "s-1,warm_station,一号,22.54,114.05,yes,open",
            "s-2,warm_station,二号,22.55,114.06,no,open",
            name="first.csv",
        )
    )


def test_a_dry_run_plans_every_change_and_writes_nothing(app, tmp_path, two_stations):
    before = everything()
    path = write(
        tmp_path,
        "s-1,warm_station,一号改名,22.54,114.05,,open",  # renamed, toilet now unknown
        "s-2,warm_station,二号,22.55,114.06,no,open",  # unchanged
        "s-3,driver_home,三号,22.56,114.07,yes,open",  # new
    )
    plan = import_stations(path, dry_run=True)
    assert plan == {"created": 1, "updated": 1, "unchanged": 1}
    assert [fields["external_id"] for fields in plan.new_stations] == ["s-3"]
    [(station, diff)] = plan.changed_stations
    assert station.external_id == "s-1"
    assert diff == {"name": ("一号", "一号改名"), "toilet": (True, None)}
    assert everything() == before


def test_a_dry_run_with_bad_rows_lists_them_and_plans_the_good_ones(app, tmp_path, two_stations):
    before = everything()
    path = write(
        tmp_path,
        "s-1,warm_station,一号改名,22.54,114.05,yes,open",
        "s-4,hotel,四号,22.57,114.08,yes,open",
        "s-5,warm_station,五号,22.58,114.09,yes,open",
    )
    with pytest.raises(ImportFailed) as caught:
        import_stations(path, dry_run=True)
    assert caught.value.errors == [
        "row 3: kind 'hotel' is not one of warm_station, driver_home, service_center"
    ]
    plan = caught.value.plan
    assert plan == {"created": 1, "updated": 1, "unchanged": 0}
    assert everything() == before
    with pytest.raises(ImportFailed) as caught:
        import_stations(path)
    assert caught.value.plan is None
    assert everything() == before


def test_an_import_audits_new_and_changed_stations(app, tmp_path, two_stations):
    admin = User(email="admin@example.org", role="admin", password_hash="-")
    db.session.add(admin)
    db.session.commit()
    path = write(
        tmp_path,
        "s-1,warm_station,一号,22.54,114.05,no,temporarily_closed",
        "s-3,driver_home,三号,22.56,114.07,yes,open",
    )
    assert import_stations(path, user=admin) == {"created": 1, "updated": 1, "unchanged": 0}
    mine = sa.select(AuditEntry).where(AuditEntry.user_id == admin.id).order_by(AuditEntry.id)
    entries = db.session.scalars(mine)
    rows = [(e.source, e.field, e.before, e.after) for e in entries]
    assert rows[:2] == [
        ("import", "status", '"open"', '"temporarily_closed"'),
        ("import", "toilet", "true", "false"),
    ]
    (source, field, before, after) = rows[2]
    assert (source, field, before) == ("import", "created", None)
    assert json.loads(after)["external_id"] == "s-3" and json.loads(after)["toilet"] is True
    assert len(rows) == 3


def test_the_plan_digest_tells_whether_the_database_moved(app, tmp_path, two_stations):
    path = write(tmp_path, "s-1,warm_station,一号改名,22.54,114.05,yes,open")
    first = import_stations(path, dry_run=True).digest()
    assert import_stations(path, dry_run=True).digest() == first
    station = db.session.scalar(sa.select(Station).where(Station.external_id == "s-1"))
    station.toilet = False
    db.session.commit()
    assert import_stations(path, dry_run=True).digest() != first
