"""The station table, with a PostGIS geography + GiST index or a SQLite R*Tree.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

AMENITIES = (
    "drinking_water",
    "food_heating",
    "phone_charging",
    "ebike_charging",
    "rest_area",
    "toilet",
    "wifi",
    "air_conditioning",
    "first_aid",
    "talk",
    "shower",
    "laundry",
    "parking",
)

SQLITE_RTREE = [
    "CREATE VIRTUAL TABLE station_rtree USING rtree(id, min_lng, max_lng, min_lat, max_lat)",
    """CREATE TRIGGER station_rtree_insert AFTER INSERT ON station BEGIN
        INSERT INTO station_rtree VALUES (new.id, new.lng, new.lng, new.lat, new.lat); END""",
    """CREATE TRIGGER station_rtree_update AFTER UPDATE OF lat, lng ON station BEGIN
        UPDATE station_rtree SET min_lng = new.lng, max_lng = new.lng,
            min_lat = new.lat, max_lat = new.lat WHERE id = new.id; END""",
    """CREATE TRIGGER station_rtree_delete AFTER DELETE ON station BEGIN
        DELETE FROM station_rtree WHERE id = old.id; END""",
]

POSTGIS_POSITION = [
    "CREATE EXTENSION IF NOT EXISTS postgis",
    """ALTER TABLE station ADD COLUMN position geography(Point, 4326)
        GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lng, lat), 4326)::geography) STORED""",
    "CREATE INDEX ix_station_position ON station USING gist (position)",
]


def upgrade():
    timestamp = sa.DateTime(timezone=True)
    op.create_table(
        "station",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("external_id", sa.String(100), nullable=False, unique=True),
        sa.Column("kind", sa.String(20), nullable=False, index=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("address", sa.String(300)),
        sa.Column("district", sa.String(20)),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("lng", sa.Double(), nullable=False),
        sa.Column("phone", sa.String(50)),
        sa.Column("opening_hours", sa.String(500)),
        sa.Column("status", sa.String(20), nullable=False),
        *(sa.Column(name, sa.Boolean()) for name in AMENITIES),
        sa.Column("is_sample", sa.Boolean(), nullable=False),
        sa.Column("verified_at", timestamp),
        sa.Column("created_at", timestamp, nullable=False),
        sa.Column("updated_at", timestamp, nullable=False),
    )
    op.create_index("ix_station_lat_lng", "station", ["lat", "lng"])
    dialect = op.get_bind().dialect.name
    for statement in {"sqlite": SQLITE_RTREE, "postgresql": POSTGIS_POSITION}.get(dialect, []):
        op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE station_rtree")
    op.drop_table("station")
