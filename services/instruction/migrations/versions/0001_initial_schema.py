"""Initial schema: the DDT queue (cases), its journal and the NEPH counters.

Revision ID: 0001
Revises:
Create Date: 2026-11-26

A database created before migrations existed (the tables made at start-up by
``create_all``) keeps the tables it has, with their indexes; missing ones are created.
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
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "instruction_cases" not in existing:
        op.create_table(
            "instruction_cases",
            sa.Column("request_number", sa.String(length=20), nullable=False),
            sa.Column("workflow_id", sa.String(length=200), nullable=False),
            sa.Column("department", sa.String(length=3), nullable=False),
            sa.Column("dossier", sa.JSON(), nullable=False),
            sa.Column("state", sa.String(length=10), nullable=False),
            sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("instructor_id", sa.String(length=100), nullable=False),
            sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("reason_code", sa.String(length=40), nullable=False),
            sa.Column("reason_text", sa.Text(), nullable=False),
            sa.Column("neph", sa.String(length=12), nullable=True),
            sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("claimed_by", sa.String(length=100), nullable=False),
            sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("reminders", sa.Integer(), nullable=False),
            sa.Column("last_reminded_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("withdrawn_reason", sa.Text(), nullable=False),
            sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
            sa.PrimaryKeyConstraint("request_number"),
            sa.UniqueConstraint("neph"),
        )
        # The queue query: one department's pending cases, oldest first.
        op.create_index(
            "ix_instruction_cases_queue",
            "instruction_cases",
            ["department", "state", "enqueued_at"],
        )
    if "instruction_case_events" not in existing:
        op.create_table(
            "instruction_case_events",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("request_number", sa.String(length=20), nullable=False),
            sa.Column("action", sa.String(length=20), nullable=False),
            sa.Column("actor", sa.String(length=200), nullable=False),
            sa.Column("at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("detail", sa.Text(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(
            "ix_instruction_case_events_request_number",
            "instruction_case_events",
            ["request_number"],
        )
    if "neph_counters" not in existing:
        op.create_table(
            "neph_counters",
            sa.Column("yymm", sa.String(length=4), nullable=False),
            sa.Column("department", sa.String(length=2), nullable=False),
            sa.Column("prefecture", sa.String(length=2), nullable=False),
            sa.Column("last_order", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("yymm", "department", "prefecture"),
        )


def downgrade() -> None:
    op.drop_table("neph_counters")
    op.drop_table("instruction_case_events")
    op.drop_table("instruction_cases")
