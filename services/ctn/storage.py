"""Pre-check verdicts in the CTN service's own database.

Per request: one automatic verdict (``ctn_verdicts``, written once by CheckDossier, with
the journey to tell later), then any number of CTN agents' verdicts
(``ctn_agent_verdicts``), each recorded before it is delivered to the journey and
marked delivered once the journey took it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common import db, migrations
from services.common.db import UtcDateTime, is_unique_violation


class Base(DeclarativeBase):
    pass


class VerdictRow(Base):
    """The automatic check of a request: the first verdict, and the journey it belongs to."""

    __tablename__ = "ctn_verdicts"

    request_number: Mapped[str] = mapped_column(String(64), primary_key=True)
    compliant: Mapped[bool] = mapped_column(Boolean)
    # [{"code": ..., "message": ..., "field": ...}, ...] in the order the checks found them.
    findings: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    checked_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # Added after the first release: the initial migration adds it to older databases.
    workflow_id: Mapped[str] = mapped_column(String(200), default="", server_default="")


class AgentVerdictRow(Base):
    """A CTN agent's non-compliance verdict, and whether the journey has taken it."""

    __tablename__ = "ctn_agent_verdicts"
    # The same agent with the same findings on the same request is one verdict: a
    # repeated call finds it (and re-delivers it) instead of adding a second one.
    __table_args__ = (UniqueConstraint("request_number", "fingerprint"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_number: Mapped[str] = mapped_column(
        String(64), ForeignKey("ctn_verdicts.request_number"), index=True
    )
    agent_id: Mapped[str] = mapped_column(String(100))
    findings: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    fingerprint: Mapped[str] = mapped_column(String(64))
    decided_at: Mapped[datetime] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # The code of the last failed delivery ("" once delivered), for operators.
    delivery_error: Mapped[str] = mapped_column(String(40), default="")


def fingerprint(agent_id: str, findings: list[dict[str, str]]) -> str:
    """What makes two agent verdicts the same: who, and which findings in which order."""
    canonical = json.dumps([agent_id, findings], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def create_tables(engine: AsyncEngine) -> None:
    """Bring the schema to head through the CTN's migrations (``migrations/``), a database
    from before agent verdicts included; at head already, nothing changes."""
    await migrations.upgrade(engine, "ctn")


class VerdictStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def get(self, request_number: str) -> VerdictRow | None:
        async with self._sessions() as session:
            return await session.get(VerdictRow, request_number)

    async def record_first(self, row: VerdictRow) -> VerdictRow:
        """Store the verdict unless one exists; either way return the one that counts.

        The primary key arbitrates concurrent checks of one request: the loser of the
        insert reads and returns the winner's verdict.
        """
        try:
            async with self._sessions() as session, session.begin():
                session.add(row)
        except IntegrityError as error:
            if not is_unique_violation(error):
                raise
            existing = await self.get(row.request_number)
            if existing is None:
                raise
            return existing
        return row

    async def record_agent_verdict(self, row: AgentVerdictRow) -> AgentVerdictRow:
        """Store the agent's verdict, or return the identical one recorded before."""
        existing = await self._same_verdict(row)
        if existing is not None:
            return existing
        try:
            async with self._sessions() as session, session.begin():
                session.add(row)
        except IntegrityError as error:
            if not is_unique_violation(error):
                raise
            winner = await self._same_verdict(row)  # a concurrent identical call won
            if winner is None:
                raise
            return winner
        return row

    async def _same_verdict(self, row: AgentVerdictRow) -> AgentVerdictRow | None:
        async with self._sessions() as session:
            return await session.scalar(
                select(AgentVerdictRow).where(
                    AgentVerdictRow.request_number == row.request_number,
                    AgentVerdictRow.fingerprint == row.fingerprint,
                )
            )

    async def mark_delivered(self, verdict_id: int, at: datetime) -> None:
        await db.mark_delivered(self._sessions, AgentVerdictRow, verdict_id, at)

    async def note_delivery_failure(self, verdict_id: int, code: str) -> None:
        await db.note_delivery_failure(self._sessions, AgentVerdictRow, verdict_id, code)

    async def agent_verdicts(self, request_number: str) -> list[AgentVerdictRow]:
        """Every agent verdict on the request, oldest first."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(AgentVerdictRow)
                .where(AgentVerdictRow.request_number == request_number)
                .order_by(AgentVerdictRow.decided_at, AgentVerdictRow.id)
            )
            return list(rows)

    async def latest_delivered(self, request_number: str) -> AgentVerdictRow | None:
        """The latest agent verdict the journey took, if any."""
        async with self._sessions() as session:
            return await session.scalar(
                select(AgentVerdictRow)
                .where(
                    AgentVerdictRow.request_number == request_number,
                    AgentVerdictRow.delivered_at.is_not(None),
                )
                .order_by(AgentVerdictRow.decided_at.desc(), AgentVerdictRow.id.desc())
                .limit(1)
            )
