"""Initial schema: document metadata (the bytes are in S3).

Revision ID: 0001
Revises:
Create Date: 2026-11-26

A database created before migrations existed (the tables made at start-up by
``create_all``) already has the table and its indexes: they are kept, and only stamped.
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
    if sa.inspect(op.get_bind()).has_table("documents"):
        return
    op.create_table(
        "documents",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("request_number", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=40), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("object_key", sa.String(length=120), nullable=False),
        sa.Column("owner_account_id", sa.String(length=64), nullable=False),
        sa.Column("generated", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("object_key"),
    )
    op.create_index("ix_documents_request_number", "documents", ["request_number"])
    # One generated document per (request, kind); uploads may repeat a kind.
    op.create_index(
        "uq_documents_generated_kind",
        "documents",
        ["request_number", "kind"],
        unique=True,
        sqlite_where=sa.text("generated"),
        postgresql_where=sa.text("generated"),
    )


def downgrade() -> None:
    op.drop_table("documents")  # its indexes go with it
