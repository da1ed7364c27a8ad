"""Initial schema: photo/signature codes.

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
    if sa.inspect(op.get_bind()).has_table("photocode_codes"):
        return
    op.create_table(
        "photocode_codes",
        sa.Column("code", sa.String(length=22), nullable=False),
        sa.Column("booth_id", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("consumed_by", sa.String(length=64), nullable=True),
        sa.Column("consumed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("photo", sa.LargeBinary(), nullable=False),
        sa.Column("photo_content_type", sa.String(length=32), nullable=False),
        sa.Column("photo_sha256", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("signature_content_type", sa.String(length=32), nullable=False),
        sa.Column("signature_sha256", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )


def downgrade() -> None:
    op.drop_table("photocode_codes")
