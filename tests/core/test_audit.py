"""audit.save, create and retire: changes and their audit rows are committed together, or not at
all (EditConflict), on both databases."""

import pytest
import sqlalchemy as sa
from support import fresh, make_station

from stations.core import audit
from stations.core.db import db, utcnow
from stations.core.models import AuditEntry, Report, Station


def audit_trail(station_id):
    query = sa.select(AuditEntry.field, AuditEntry.before, AuditEntry.after, AuditEntry.source)
    return db.session.execute(query.where(AuditEntry.station_id == station_id)).all()


def changed_behind_its_back(station, **values):
    """Another request commits these values (and a new version) to the station's row."""
    db.session().expire_on_commit = False  # keep this request's (now stale) copy of the row
    version = station.version + 1
    table = Station.__table__
    db.session.execute(
        sa.update(table).where(table.c.id == station.id).values(version=version, **values)
    )
    db.session.commit()


def test_save_commits_the_real_changes_with_an_audit_row_each(world):
    changes = {"wifi": True, "toilet": True, "phone": None}  # phone is None already
    changed = audit.save(world.a, changes, user=world.admin, source="admin", version=1)
    assert changed == {"wifi": (None, True), "toilet": (None, True)}
    db.session.rollback()  # nothing left pending: it was committed
    station = fresh(Station, world.a.id)
    assert (station.wifi, station.toilet, station.version) == (True, True, 2)
    trail = {("wifi", "null", "true", "admin"), ("toilet", "null", "true", "admin")}
    assert set(audit_trail(world.a.id)) == trail


@pytest.mark.parametrize(
    "when",
    [
        "before",  # the editor's version is already stale when save() checks it
        "at_commit",  # another write commits between the check and this commit
    ],
)
def test_a_conflict_writes_nothing_of_the_session(world, when):
    changed_behind_its_back(world.a, toilet=False)
    station = fresh(Station, world.a.id) if when == "before" else world.a
    world.report.resolved_at = utcnow()  # other work of the request, to be committed with it
    with pytest.raises(audit.EditConflict) as caught:
        audit.save(station, {"wifi": True}, user=world.manager_a, source="manager", version=1)
    assert (caught.value.station.version, caught.value.station.toilet) == (2, False)
    assert fresh(Station, world.a.id).wifi is None
    assert fresh(Report, world.report.id).resolved_at is None
    assert audit_trail(world.a.id) == []


def test_a_station_deleted_meanwhile_is_a_conflict_with_no_station(app, world):
    db.session().expire_on_commit = False  # keep this request's copy of the row
    station = make_station("GONE")
    db.session.execute(sa.delete(Station.__table__).where(Station.__table__.c.id == station.id))
    db.session.commit()
    with pytest.raises(audit.EditConflict) as caught:
        audit.save(station, {"wifi": True}, user=world.admin, source="admin")
    assert caught.value.station is None


def test_create_and_retire_commit_with_their_audit_rows(world):
    station = Station(external_id="NEW", name="新站", kind="warm_station", lat=22.5, lng=114.0)
    audit.create(station, user=world.admin, source="admin")
    station_id = station.id
    db.session.rollback()
    assert fresh(Station, station_id).name == "新站"
    audit.retire(fresh(Station, station_id), user=world.admin, source="admin")
    db.session.rollback()
    assert fresh(Station, station_id) is None
    fields = [
        (field, before is None, after is None)
        for field, before, after, _ in audit_trail(station_id)
    ]
    assert fields == [("created", True, False), ("retired", False, True)]
