"""Initial schema: automatic verdicts and CTN agents' verdicts.

Revision ID: 0001
Revises:
Create Date: 2026-11-26

A database created before migrations existed (the tables made at start-up by
``create_all``) keeps its tables. One from the first release, before agent verdicts,
gets what it lacks: ``ctn_verdicts.workflow_id`` (empty for the verdicts it holds) and
the ``ctn_agent_verdicts`` table.
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
    bind = op.get_bind()
    if not sa.inspect(bind).has_table("ctn_verdicts"):
        op.create_table(
            "ctn_verdicts",
            sa.Column("request_number", sa.String(length=64), nullable=False),
            sa.Column("compliant", sa.Boolean(), nullable=False),
            sa.Column("findings", sa.JSON(), nullable=False),
            sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("workflow_id", sa.String(length=200), server_default="", nullable=False),
            sa.PrimaryKeyConstraint("request_number"),
        )
    elif "workflow_id" not in {c["name"] for c in sa.inspect(bind).get_columns("ctn_verdicts")}:
        op.add_column(
            "ctn_verdicts",
            sa.Column("workflow_id", sa.String(length=200), server_default="", nullable=False),
        )
    if sa.inspect(bind).has_table("ctn_agent_verdicts"):
        return
    op.create_table(
        "ctn_agent_verdicts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_number", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.String(length=100), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivery_error", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(["request_number"], ["ctn_verdicts.request_number"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_number", "fingerprint"),
    )
    op.create_index(
        "ix_ctn_agent_verdicts_request_number", "ctn_agent_verdicts", ["request_number"]
    )


def downgrade() -> None:
    op.drop_table("ctn_agent_verdicts")  # first: it refers to ctn_verdicts
    op.drop_table("ctn_verdicts")
