"""Accounts in the identity service's own database, and the queries on them."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    Index,
    Integer,
    String,
    UniqueConstraint,
    delete,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.db import UtcDateTime, is_unique_violation
from services.common.errors import ErrorCode, PermisError
from services.identity.rules import ANONYMISED, CANDIDATE_ROLE, anonymous_fields


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
    # "pending" until the activation link is followed (no usable password until then).
    status: Mapped[str] = mapped_column(String(16), server_default="active")
    failed_logins: Mapped[int] = mapped_column(Integer, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    franceconnect_sub: Mapped[str | None] = mapped_column(String(255), nullable=True)
    birth_place: Mapped[str | None] = mapped_column(String(80), nullable=True)
    birth_country: Mapped[str | None] = mapped_column(String(80), nullable=True)
    gender: Mapped[str | None] = mapped_column(String(16), nullable=True)

    __table_args__ = (
        UniqueConstraint("franceconnect_sub", name="uq_identity_accounts_franceconnect_sub"),
    )


class LinkRow(Base):
    """A single-use emailed link (activation, password reset): only its SHA-256 is kept."""

    __tablename__ = "identity_links"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(36))
    purpose: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    __table_args__ = (Index("ix_identity_links_account_id", "account_id"),)


class SessionRow(Base):
    """A login session; its id is inside the signed token, so logging out revokes it."""

    __tablename__ = "identity_sessions"

    session_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    __table_args__ = (Index("ix_identity_sessions_account_id", "account_id"),)


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
        status: str = "active",
        franceconnect: dict[str, str | None] | None = None,
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
            status=status,
            failed_logins=0,
            **(franceconnect or {}),
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

    async def by_franceconnect_sub(self, sub: str) -> AccountRow | None:
        return await self._one(AccountRow.franceconnect_sub == sub)

    async def update_account(self, account_id: str, **values: Any) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(AccountRow).where(AccountRow.account_id == account_id).values(**values)
            )

    # ---- login failures ---------------------------------------------------------------

    async def record_failure(self, account_id: str) -> int:
        """Count one more failed login, atomically; the new count."""
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                update(AccountRow)
                .where(AccountRow.account_id == account_id)
                .values(failed_logins=AccountRow.failed_logins + 1)
                .returning(AccountRow.failed_logins)
            )
            return int(result.scalar_one())

    async def lock(self, account_id: str, until: datetime) -> None:
        await self.update_account(account_id, locked_until=until)

    async def clear_failures(self, account_id: str) -> None:
        await self.update_account(account_id, failed_logins=0, locked_until=None)

    # ---- single-use links -------------------------------------------------------------

    async def add_link(
        self, token_hash: str, account_id: str, purpose: str, now: datetime, expires: datetime
    ) -> None:
        async with self._sessions() as session, session.begin():
            session.add(
                LinkRow(
                    token_hash=token_hash,
                    account_id=account_id,
                    purpose=purpose,
                    created_at=now,
                    expires_at=expires,
                )
            )

    async def spend_link(
        self, token_hash: str, purpose: str, now: datetime, then: dict[str, Any]
    ) -> str:
        """Mark the link used and apply ``then`` to its account, in one transaction.

        The conditional UPDATE makes two concurrent uses spend it once. Returns the
        account id; LINK_UNKNOWN, LINK_USED or LINK_EXPIRED otherwise.
        """
        async with self._sessions() as session, session.begin():
            spent = await session.execute(
                update(LinkRow)
                .where(
                    LinkRow.token_hash == token_hash,
                    LinkRow.purpose == purpose,
                    LinkRow.used_at.is_(None),
                    LinkRow.expires_at > now,
                )
                .values(used_at=now)
                .returning(LinkRow.account_id)
            )
            account_id = spent.scalar_one_or_none()
            if account_id is not None:
                await session.execute(
                    update(AccountRow).where(AccountRow.account_id == account_id).values(**then)
                )
                return str(account_id)
        async with self._sessions() as session:
            link = await session.get(LinkRow, token_hash)
        if link is None or link.purpose != purpose:
            raise PermisError(ErrorCode.LINK_UNKNOWN)
        if link.used_at is not None:
            raise PermisError(ErrorCode.LINK_USED)
        raise PermisError(ErrorCode.LINK_EXPIRED)

    # ---- sessions ---------------------------------------------------------------------

    async def add_session(
        self, session_id: str, account_id: str, now: datetime, expires: datetime
    ) -> None:
        async with self._sessions() as session, session.begin():
            session.add(
                SessionRow(
                    session_id=session_id,
                    account_id=account_id,
                    created_at=now,
                    expires_at=expires,
                )
            )

    async def session_live(self, session_id: str, account_id: str) -> bool:
        async with self._sessions() as session:
            row = await session.get(SessionRow, session_id)
        return row is not None and row.account_id == account_id and row.revoked_at is None

    async def revoke_session(self, session_id: str, now: datetime) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(SessionRow)
                .where(SessionRow.session_id == session_id, SessionRow.revoked_at.is_(None))
                .values(revoked_at=now)
            )

    async def revoke_all_sessions(self, account_id: str, now: datetime) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(SessionRow)
                .where(SessionRow.account_id == account_id, SessionRow.revoked_at.is_(None))
                .values(revoked_at=now)
            )

    # ---- retention ----------------------------------------------------------------------

    @staticmethod
    def _inactive_since(since: datetime) -> list[ColumnElement[bool]]:
        """A candidate account neither created nor logged into (a session opened) since
        ``since``, and not anonymised yet."""
        logged_in_since = (
            select(SessionRow.session_id)
            .where(SessionRow.account_id == AccountRow.account_id, SessionRow.created_at >= since)
            .exists()
        )
        return [
            AccountRow.role == CANDIDATE_ROLE,
            AccountRow.status != ANONYMISED,
            AccountRow.created_at < since,
            ~logged_in_since,
        ]

    async def inactive_accounts(self, since: datetime, limit: int, after: str = "") -> list[str]:
        """One page of inactive account ids, ascending, after ``after`` (keyset)."""
        async with self._sessions() as session:
            result = await session.execute(
                select(AccountRow.account_id)
                .where(*self._inactive_since(since), AccountRow.account_id > after)
                .order_by(AccountRow.account_id)
                .limit(limit)
            )
            return [str(account_id) for account_id in result.scalars()]

    async def anonymise(self, account_id: str, since: datetime) -> bool:
        """Erase the account's personal data, its sessions and links, in one transaction,
        if it is still inactive since ``since`` (a login in between keeps it); False if
        nothing was erased."""
        async with self._sessions() as session, session.begin():
            erased = await session.execute(
                update(AccountRow)
                .where(AccountRow.account_id == account_id, *self._inactive_since(since))
                .values(**anonymous_fields(account_id))
                .execution_options(synchronize_session=False)
            )
            if erased.rowcount != 1:  # type: ignore[attr-defined]
                return False
            await session.execute(delete(SessionRow).where(SessionRow.account_id == account_id))
            await session.execute(delete(LinkRow).where(LinkRow.account_id == account_id))
        return True
