"""Coverage counts: nearest searches per day, grid cell, kind filter and distance band.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "coverage_count",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("cell", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(60), nullable=False),
        sa.Column("nearest_over_m", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("searches", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "cell", "kind", "nearest_over_m"),
    )


def downgrade():
    op.drop_table("coverage_count")
