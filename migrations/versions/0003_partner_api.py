"""Partner API: API keys, and a numbered change feed of stations with tombstones for deletions.

Every insert, update and delete of a station takes the next change number in a database trigger,
so that no writer (ORM, bulk SQL, psql) can change a station unrecorded; a deletion leaves a
tombstone. Numbers are handed out only to the one transaction allowed to write stations at a time
(SQLite: the database's write lock; PostgreSQL: an advisory lock held to the end of the
transaction, taken before any station row is locked, so writers cannot deadlock on it). So they
become visible in order: a reader that has seen change N will never later see a new change below N.

Note for later migrations: an Alembic batch operation that recreates the station table on SQLite
(anything but adding columns or indexes) drops its triggers; recreate them here with the R*Tree's.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# SQLite: one writer at a time, so a one-row counter (updated in place) numbers the changes.
SQLITE_NEXT = "UPDATE station_change_counter SET last_seq = last_seq + 1"
SQLITE_SEQ = "(SELECT last_seq FROM station_change_counter)"
SQLITE_NOW = "strftime('%Y-%m-%d %H:%M:%f', 'now')"
SQLITE_STATEMENTS = [
    "CREATE TABLE station_change_counter (last_seq BIGINT NOT NULL)",
    "INSERT INTO station_change_counter SELECT coalesce(max(change_seq), 0) FROM station",
    f"""CREATE TRIGGER station_change_insert AFTER INSERT ON station BEGIN
        {SQLITE_NEXT};
        UPDATE station SET change_seq = {SQLITE_SEQ} WHERE id = new.id;
        DELETE FROM station_tombstone WHERE station_id = new.id; END""",
    # The WHEN clause skips the trigger's own UPDATE of change_seq.
    f"""CREATE TRIGGER station_change_update AFTER UPDATE ON station
        WHEN new.change_seq IS old.change_seq BEGIN
        {SQLITE_NEXT};
        UPDATE station SET change_seq = {SQLITE_SEQ} WHERE id = new.id; END""",
    f"""CREATE TRIGGER station_change_delete AFTER DELETE ON station BEGIN
        {SQLITE_NEXT};
        INSERT OR REPLACE INTO station_tombstone (station_id, external_id, change_seq, deleted_at)
        VALUES (old.id, old.external_id, {SQLITE_SEQ}, {SQLITE_NOW}); END""",
]

# PostgreSQL: numbers from a sequence (CACHE 1, so they are handed out in call order), drawn only
# while holding a transaction-long advisory lock keyed on the station table, taken by a
# statement-level trigger before the statement locks any station row.
POSTGRESQL_STATEMENTS = [
    "CREATE SEQUENCE station_change_seq CACHE 1 OWNED BY station.change_seq",
    "SELECT setval('station_change_seq', coalesce(max(change_seq), 0) + 1, false) FROM station",
    """CREATE OR REPLACE FUNCTION station_change_lock() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'TRUNCATE' THEN
            RAISE EXCEPTION 'TRUNCATE station would leave no tombstones: DELETE instead';
        END IF;
        PERFORM pg_advisory_xact_lock('station'::regclass::oid::bigint);
        RETURN NULL;
    END $$""",
    """CREATE OR REPLACE FUNCTION station_change_number() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            INSERT INTO station_tombstone (station_id, external_id, change_seq, deleted_at)
                VALUES (old.id, old.external_id, nextval('station_change_seq'), clock_timestamp())
                ON CONFLICT (station_id) DO UPDATE SET external_id = excluded.external_id,
                    change_seq = excluded.change_seq, deleted_at = excluded.deleted_at;
            RETURN old;
        END IF;
        IF TG_OP = 'INSERT' THEN
            DELETE FROM station_tombstone WHERE station_id = new.id;
        END IF;
        new.change_seq := nextval('station_change_seq');
        RETURN new;
    END $$""",
    """CREATE TRIGGER station_change_lock BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE
        ON station FOR EACH STATEMENT EXECUTE FUNCTION station_change_lock()""",
    """CREATE TRIGGER station_change_number BEFORE INSERT OR UPDATE OR DELETE ON station
        FOR EACH ROW EXECUTE FUNCTION station_change_number()""",
]


def upgrade():
    timestamp = sa.DateTime(timezone=True)
    op.create_table(
        "api_key",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False, index=True),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("per_minute", sa.Integer(), nullable=False),
        sa.Column("created_at", timestamp, nullable=False),
        sa.Column("revoked_at", timestamp),
        sa.Column("last_used_at", timestamp),
        sa.Column("request_count", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "station_tombstone",
        sa.Column("station_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("external_id", sa.String(100), nullable=False),
        sa.Column("change_seq", sa.BigInteger(), nullable=False, unique=True),
        sa.Column("deleted_at", timestamp, nullable=False),
    )
    with op.batch_alter_table("station") as batch:
        batch.add_column(sa.Column("change_seq", sa.BigInteger()))
    # Stations that exist already are numbered in id order, before the triggers exist.
    op.execute("UPDATE station SET change_seq = id")
    op.create_index("ix_station_change_seq", "station", ["change_seq"], unique=True)
    # For Last-Modified: the latest change is max(updated_at) of stations and tombstones.
    op.create_index("ix_station_updated_at", "station", ["updated_at"])
    op.create_index("ix_station_tombstone_deleted_at", "station_tombstone", ["deleted_at"])
    # Rider reports change what stations show (open_reports), so they count for it too.
    op.create_index("ix_report_created_at", "report", ["created_at"])
    op.create_index("ix_report_resolved_at", "report", ["resolved_at"])
    dialect = op.get_bind().dialect.name
    for statement in {"sqlite": SQLITE_STATEMENTS, "postgresql": POSTGRESQL_STATEMENTS}[dialect]:
        op.execute(statement)


def downgrade():
    op.drop_index("ix_report_resolved_at", "report")
    op.drop_index("ix_report_created_at", "report")
    op.drop_index("ix_station_tombstone_deleted_at", "station_tombstone")
    op.drop_index("ix_station_updated_at", "station")
    op.drop_index("ix_station_change_seq", "station")
    if op.get_bind().dialect.name == "sqlite":
        for name in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER station_change_{name}")
        op.execute("DROP TABLE station_change_counter")
        # Not a batch operation: recreating the table would drop the R*Tree triggers.
        op.execute("ALTER TABLE station DROP COLUMN change_seq")
    else:
        op.execute("DROP TRIGGER station_change_number ON station")
        op.execute("DROP TRIGGER station_change_lock ON station")
        op.execute("DROP FUNCTION station_change_number()")
        op.execute("DROP FUNCTION station_change_lock()")
        op.execute("DROP SEQUENCE station_change_seq")
        op.drop_column("station", "change_seq")
    op.drop_table("station_tombstone")
    op.drop_table("api_key")
