"""Photo/signature codes in the photocode service's own database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, String, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, undefer

from services.common.db import UtcDateTime, is_unique_violation


class Base(DeclarativeBase):
    pass


class CodeRow(Base):
    __tablename__ = "photocode_codes"

    code: Mapped[str] = mapped_column(String(22), primary_key=True)
    booth_id: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    consumed_by: Mapped[str | None] = mapped_column(String(64), default=None)
    consumed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    # The images are only loaded when asked for (GetPortrait), not on every check.
    photo: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    photo_content_type: Mapped[str] = mapped_column(String(32))
    photo_sha256: Mapped[str] = mapped_column(String(64))
    signature: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    signature_content_type: Mapped[str] = mapped_column(String(32))
    signature_sha256: Mapped[str] = mapped_column(String(64))


class CodeStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def insert(self, row: CodeRow) -> bool:
        """Store a new code; False if that code already exists (the caller draws another)."""
        try:
            async with self._sessions() as session, session.begin():
                session.add(row)
        except IntegrityError as error:
            if not is_unique_violation(error):
                raise
            return False
        return True

    async def get(self, code: str, *, with_images: bool = False) -> CodeRow | None:
        query = select(CodeRow).where(CodeRow.code == code)
        if with_images:
            query = query.options(undefer(CodeRow.photo), undefer(CodeRow.signature))
        async with self._sessions() as session:
            return (await session.execute(query)).scalar_one_or_none()

    async def consume(self, code: str, request_number: str, now: datetime) -> CodeRow | None:
        """Spend the code for a request; returns the row as it stands afterwards.

        One conditional UPDATE decides the winner: the database serialises concurrent
        attempts on the row (PostgreSQL re-checks the WHERE after a row lock, SQLite
        takes the write lock), so exactly one request number can ever be written.
        The caller reads the outcome from ``consumed_by``.
        """
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(CodeRow)
                .where(
                    CodeRow.code == code,
                    CodeRow.consumed_by.is_(None),
                    CodeRow.expires_at > now,
                )
                .values(consumed_by=request_number, consumed_at=now)
                .execution_options(synchronize_session=False)
            )
            result = await session.execute(select(CodeRow).where(CodeRow.code == code))
            return result.scalar_one_or_none()
