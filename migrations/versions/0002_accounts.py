"""Accounts, manager assignments, the audit trail, rider reports, import uploads; station
version and temporary-closure details.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    timestamp = sa.DateTime(timezone=True)
    # Plain ADD COLUMN (no batch copy), so the SQLite R*Tree triggers on station stay in place.
    op.add_column("station", sa.Column("closed_reason", sa.String(200)))
    op.add_column("station", sa.Column("closed_until", sa.Date()))
    op.add_column(
        "station", sa.Column("version", sa.Integer(), nullable=False, server_default="1")
    )
    op.create_table(
        "account",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email", sa.String(254), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(300), nullable=False),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", timestamp, nullable=False),
    )
    op.create_table(
        "station_manager",
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("account.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "station_id",
            sa.Integer(),
            sa.ForeignKey("station.id", ondelete="CASCADE"),
            primary_key=True,
        ),
    )
    op.create_index("ix_station_manager_station", "station_manager", ["station_id"])
    op.create_table(
        "audit_entry",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("station_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("account.id")),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("field", sa.String(50), nullable=False),
        sa.Column("before", sa.Text()),
        sa.Column("after", sa.Text()),
        sa.Column("at", timestamp, nullable=False),
        sa.Column("ip", sa.String(45)),
        sa.Column("user_agent", sa.String(200)),
    )
    op.create_index("ix_audit_entry_station", "audit_entry", ["station_id", "id"])
    op.create_table(
        "report",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "station_id",
            sa.Integer(),
            sa.ForeignKey("station.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("reason", sa.String(20), nullable=False),
        sa.Column("text", sa.String(200)),
        sa.Column("created_at", timestamp, nullable=False),
        sa.Column("resolved_at", timestamp),
        sa.Column("resolved_by", sa.Integer(), sa.ForeignKey("account.id")),
        sa.Column("resolution", sa.String(10)),
    )
    op.create_index("ix_report_station_open", "report", ["station_id", "resolved_at"])
    op.create_table(
        "upload",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("account.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("crs", sa.String(10), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", timestamp, nullable=False),
    )


def downgrade():
    for table in ("upload", "report", "audit_entry", "station_manager", "account"):
        op.drop_table(table)
    with op.batch_alter_table("station", recreate="never") as batch:
        for column in ("version", "closed_until", "closed_reason"):
            batch.drop_column(column)
