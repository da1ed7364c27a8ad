"""Retention: the purge log (one row per request whose documents were purged).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("document_purges"):
        return  # made by create_all before migrations existed
    op.create_table(
        "document_purges",
        sa.Column("request_number", sa.String(length=20), nullable=False),
        sa.Column("deleted", sa.Integer(), nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("request_number"),
    )


def downgrade() -> None:
    op.drop_table("document_purges")
