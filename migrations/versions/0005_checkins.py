"""Rider check-ins: one row per fact a rider confirmed or denied at a station.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "checkin",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "station_id",
            sa.Integer(),
            sa.ForeignKey("station.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("fact", sa.String(20), nullable=False),
        sa.Column("value", sa.Boolean(), nullable=False),
        sa.Column("expected", sa.Boolean()),
        sa.Column("device", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_checkin_station_at", "checkin", ["station_id", "at"])
    op.create_index("ix_checkin_at", "checkin", ["at"])


def downgrade():
    op.drop_table("checkin")
