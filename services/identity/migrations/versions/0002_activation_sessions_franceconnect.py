"""Account activation, single-use links, revocable sessions, lockout, FranceConnect.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

Accounts made before this revision had chosen their password at sign-up: they are
``active``. New columns are nullable or defaulted, so the upgrade runs on a live table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A database made by ``create_all`` from today's models already has all of it: only
    # what is missing is added (the same adoption rule as 0001).
    inspector = sa.inspect(op.get_bind())
    present = {column["name"] for column in inspector.get_columns("identity_accounts")}
    columns: list[sa.Column[Any]] = [
        sa.Column("status", sa.String(length=16), nullable=False, server_default="active"),
        sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("franceconnect_sub", sa.String(length=255), nullable=True),
        sa.Column("birth_place", sa.String(length=80), nullable=True),
        sa.Column("birth_country", sa.String(length=80), nullable=True),
        sa.Column("gender", sa.String(length=16), nullable=True),
    ]
    missing = [column for column in columns if column.name not in present]
    if missing:
        with op.batch_alter_table("identity_accounts") as batch:
            for column in missing:
                batch.add_column(column)
            if "franceconnect_sub" not in present:
                batch.create_unique_constraint(
                    "uq_identity_accounts_franceconnect_sub", ["franceconnect_sub"]
                )
    if not inspector.has_table("identity_links"):
        op.create_table(
            "identity_links",
            sa.Column("token_hash", sa.String(length=64), nullable=False),
            sa.Column("account_id", sa.String(length=36), nullable=False),
            sa.Column("purpose", sa.String(length=16), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
            sa.PrimaryKeyConstraint("token_hash"),
        )
        op.create_index("ix_identity_links_account_id", "identity_links", ["account_id"])
    if not inspector.has_table("identity_sessions"):
        op.create_table(
            "identity_sessions",
            sa.Column("session_id", sa.String(length=36), nullable=False),
            sa.Column("account_id", sa.String(length=36), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
            sa.PrimaryKeyConstraint("session_id"),
        )
        op.create_index("ix_identity_sessions_account_id", "identity_sessions", ["account_id"])


def downgrade() -> None:
    op.drop_index("ix_identity_sessions_account_id", table_name="identity_sessions")
    op.drop_table("identity_sessions")
    op.drop_index("ix_identity_links_account_id", table_name="identity_links")
    op.drop_table("identity_links")
    with op.batch_alter_table("identity_accounts") as batch:
        batch.drop_constraint("uq_identity_accounts_franceconnect_sub", type_="unique")
        for column in (
            "gender",
            "birth_country",
            "birth_place",
            "franceconnect_sub",
            "locked_until",
            "failed_logins",
            "status",
        ):
            batch.drop_column(column)
