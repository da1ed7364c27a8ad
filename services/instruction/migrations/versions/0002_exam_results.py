"""Exam results: an examiner's pass or fail per NEPH, category and exam day.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26

Like 0001, a table already there (a database made by ``create_all``) is kept.
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
    if "instruction_exam_results" in set(sa.inspect(op.get_bind()).get_table_names()):
        return
    op.create_table(
        "instruction_exam_results",
        sa.Column("neph", sa.String(length=12), nullable=False),
        sa.Column("category", sa.String(length=3), nullable=False),
        sa.Column("exam_date", sa.Date(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("examiner_id", sa.String(length=100), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("neph", "category", "exam_date"),
    )


def downgrade() -> None:
    op.drop_table("instruction_exam_results")
