"""Accounts in the identity service's own database, and the queries on them."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Date, DateTime, String, TypeDecorator, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.db import is_unique_violation
from services.common.errors import ErrorCode, PermisError


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


class AccountRow(Base):
    # Prefixed: a deployment may point every service at one database.
    __tablename__ = "identity_accounts"

    account_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    identifier: Mapped[str] = mapped_column(String(16), unique=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    given_names: Mapped[str] = mapped_column(String(120))
    family_name: Mapped[str] = mapped_column(String(80))
    birth_date: Mapped[date] = mapped_column(Date)
    role: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AccountStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def create(
        self,
        *,
        identifier: str,
        email: str,
        password_hash: str,
        given_names: str,
        family_name: str,
        birth_date: date,
        role: str,
        now: datetime,
    ) -> AccountRow | None:
        """Insert an account; None when the identifier is taken (the caller draws another).

        ACCOUNT_EXISTS when the email is taken. The insert runs without a prior read so
        that two concurrent sign-ups with one email cannot both pass a check.
        """
        row = AccountRow(
            account_id=str(uuid.uuid4()),
            identifier=identifier,
            email=email,
            password_hash=password_hash,
            given_names=given_names,
            family_name=family_name,
            birth_date=birth_date,
            role=role,
            created_at=now,
        )
        try:
            async with self._sessions() as session, session.begin():
                session.add(row)
        except IntegrityError as error:
            if not is_unique_violation(error):
                raise
            if await self.by_email(email) is not None:
                raise PermisError(ErrorCode.ACCOUNT_EXISTS, details={"field": "email"}) from error
            return None
        return row

    async def _one(self, *criteria: Any) -> AccountRow | None:
        async with self._sessions() as session:
            result = await session.execute(select(AccountRow).where(*criteria))
            return result.scalar_one_or_none()

    async def by_id(self, account_id: str) -> AccountRow | None:
        return await self._one(AccountRow.account_id == account_id)

    async def by_email(self, email: str) -> AccountRow | None:
        return await self._one(AccountRow.email == email)

    async def by_identifier(self, identifier: str) -> AccountRow | None:
        return await self._one(AccountRow.identifier == identifier)

    async def update_password_hash(self, account_id: str, password_hash: str) -> None:
        # A plain UPDATE: no read first, so SQLite never has to upgrade a read lock.
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(AccountRow)
                .where(AccountRow.account_id == account_id)
                .values(password_hash=password_hash)
            )
