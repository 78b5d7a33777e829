"""Accounts: a session token per account (a new one ends its sessions), and the account audit.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN, no batch copy: SQLite would recreate the table, and with foreign keys on
    # dropping the old account table cascades into station_manager. So the column comes with a
    # constant default (SQLite allows no other here), and each account then gets its own token;
    # an empty token opens no session (auth.py).
    op.add_column(
        "account",
        sa.Column("session_token", sa.String(64), nullable=False, server_default=""),
    )
    account = sa.table("account", sa.column("id", sa.Integer), sa.column("session_token"))
    connection = op.get_bind()
    for (account_id,) in connection.execute(sa.select(account.c.id)).all():
        connection.execute(
            account.update()
            .where(account.c.id == account_id)
            .values(session_token=secrets.token_hex(32))
        )
    op.create_table(
        "account_audit",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("actor_id", sa.Integer(), sa.ForeignKey("account.id")),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("field", sa.String(50), nullable=False),
        sa.Column("before", sa.Text()),
        sa.Column("after", sa.Text()),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ip", sa.String(45)),
        sa.Column("user_agent", sa.String(200)),
    )
    op.create_index("ix_account_audit_account", "account_audit", ["account_id", "id"])


def downgrade():
    op.drop_table("account_audit")
    # Not a batch operation, for the reason above.
    op.execute("ALTER TABLE account DROP COLUMN session_token")
