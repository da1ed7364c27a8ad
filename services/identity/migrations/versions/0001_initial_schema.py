"""Initial schema: accounts.

Revision ID: 0001
Revises:
Create Date: 2026-11-26

A database created before migrations existed (the tables made at start-up by
``create_all``) already has the table: it is kept as it is, and only stamped.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("identity_accounts"):
        return
    op.create_table(
        "identity_accounts",
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("identifier", sa.String(length=16), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("given_names", sa.String(length=120), nullable=False),
        sa.Column("family_name", sa.String(length=80), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_id"),
        sa.UniqueConstraint("email"),
        sa.UniqueConstraint("identifier"),
    )


def downgrade() -> None:
    op.drop_table("identity_accounts")
