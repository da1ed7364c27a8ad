"""Pre-check verdicts in the CTN service's own database, one per request number."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, String, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.db import is_unique_violation


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: timestamps are stored in UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class VerdictRow(Base):
    __tablename__ = "ctn_verdicts"

    request_number: Mapped[str] = mapped_column(String(64), primary_key=True)
    compliant: Mapped[bool] = mapped_column(Boolean)
    # [{"code": ..., "message": ..., "field": ...}, ...] in the order the checks found them.
    findings: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    checked_at: Mapped[datetime] = mapped_column(UtcDateTime)


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
