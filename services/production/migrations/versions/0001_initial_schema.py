"""Initial schema: the cards (titles) and their journal.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
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
    op.create_table(
        "production_titles",
        sa.Column("request_number", sa.String(length=20), nullable=False),
        sa.Column("workflow_id", sa.String(length=200), nullable=False),
        sa.Column("neph", sa.String(length=12), nullable=False),
        sa.Column("category", sa.String(length=4), nullable=False),
        sa.Column("family_name", sa.String(length=200), nullable=False),
        sa.Column("given_names", sa.String(length=200), nullable=False),
        sa.Column("address_line", sa.String(length=500), nullable=False),
        sa.Column("first_licence", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("tracking_number", sa.String(length=40), nullable=False),
        sa.Column("shipments", sa.Integer(), nullable=False),
        sa.Column("ordered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("request_number"),
    )
    # ListTitles: the cards in one state, oldest order first.
    op.create_index(
        "ix_production_titles_state",
        "production_titles",
        ["state", "ordered_at", "request_number"],
    )
    op.create_table(
        "production_title_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=120), nullable=False),
        sa.Column("request_number", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tracking_number", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("signalled", sa.Boolean(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivery_error", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id"),
    )
    op.create_index(
        "ix_production_title_events_request_number",
        "production_title_events",
        ["request_number"],
    )


def downgrade() -> None:
    op.drop_table("production_title_events")
    op.drop_table("production_titles")
