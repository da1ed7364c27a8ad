"""The operators' audit log, in the support service's own database.

``support_operator_actions`` is append-only but for its delivery columns: one row per
action an operator took (who, what, when, why), recorded before it is delivered to the
journey, then marked delivered (or refused, with the journey's code). ``action_key`` is
unique: a cancellation of a request is ``cancel_request:<number>:<n>`` where ``n`` counts
the earlier refused ones, so two operators racing cannot both record one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Index, Integer, String, Text, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common import migrations
from services.common.db import UtcDateTime, is_unique_violation
from services.support import rules


class Base(DeclarativeBase):
    pass


class ActionRow(Base):
    """One operator action (audit log line)."""

    __tablename__ = "support_operator_actions"
    __table_args__ = (
        Index("ix_support_actions_request", "request_number", "id"),
        Index("ix_support_actions_operator", "operator_id", "id"),
    )

    # Integer so that SQLite makes it the autoincrementing rowid; it orders the log.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    action_key: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(30))  # rules.KIND_*
    request_number: Mapped[str] = mapped_column(String(20))
    workflow_id: Mapped[str] = mapped_column(String(200))
    operator_id: Mapped[str] = mapped_column(String(200))  # who
    reason: Mapped[str] = mapped_column(Text)  # why
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)  # when
    outcome: Mapped[str] = mapped_column(String(20))  # rules.RECORDED/DELIVERED/REFUSED
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # The code of the last refusal or failed delivery ("" once delivered).
    error_code: Mapped[str] = mapped_column(String(40), default="")


async def create_tables(engine: AsyncEngine) -> None:
    """Bring the schema to head through the service's migrations (``migrations/``)."""
    await migrations.upgrade(engine, "support")


class ActionStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def open_action(self, kind: str, request_number: str) -> ActionRow | None:
        """The request's action of that kind that is not refused (recorded or delivered)."""
        async with self._sessions() as session:
            return await session.scalar(
                select(ActionRow)
                .where(
                    ActionRow.kind == kind,
                    ActionRow.request_number == request_number,
                    ActionRow.outcome != rules.REFUSED,
                )
                .order_by(ActionRow.id.desc())
                .limit(1)
            )

    async def refused_count(self, kind: str, request_number: str) -> int:
        async with self._sessions() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(ActionRow)
                .where(
                    ActionRow.kind == kind,
                    ActionRow.request_number == request_number,
                    ActionRow.outcome == rules.REFUSED,
                )
            )
            return int(count or 0)

    async def record(self, row: ActionRow) -> ActionRow | None:
        """Store the action; None when its ``action_key`` was recorded meanwhile."""
        try:
            async with self._sessions() as session, session.begin():
                session.add(row)
        except IntegrityError as error:
            if not is_unique_violation(error):
                raise
            return None
        return row

    async def get(self, action_id: int) -> ActionRow | None:
        async with self._sessions() as session:
            return await session.get(ActionRow, action_id)

    async def mark_delivered(self, action_id: int, at: datetime) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(ActionRow)
                .where(ActionRow.id == action_id)
                .values(outcome=rules.DELIVERED, delivered_at=at, error_code="")
            )

    async def mark_refused(self, action_id: int, code: str) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(ActionRow)
                .where(ActionRow.id == action_id, ActionRow.outcome == rules.RECORDED)
                .values(outcome=rules.REFUSED, error_code=code[:40])
            )

    async def note_failure(self, action_id: int, code: str) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(ActionRow)
                .where(ActionRow.id == action_id, ActionRow.outcome == rules.RECORDED)
                .values(error_code=code[:40])
            )

    async def page(
        self, *, request_number: str = "", operator_id: str = "", limit: int
    ) -> Sequence[ActionRow]:
        query = select(ActionRow)
        if request_number:
            query = query.where(ActionRow.request_number == request_number)
        if operator_id:
            query = query.where(ActionRow.operator_id == operator_id)
        async with self._sessions() as session:
            return (await session.scalars(query.order_by(ActionRow.id).limit(limit))).all()
