"""Titles and their journal, in the production service's own database.

``production_titles`` holds each card as it is now; ``production_title_events`` is the
append-only journal of what happened to it: the partners' events (one row per
``event_id``: a partner's retry finds it), the contact centre's resend requests, and the
journey's re-shipments and destruction. A change of a card is one transaction: the
journal line, and a conditional UPDATE of the card on the version it was read at (two
callers racing cannot both move it). Journal lines the journey must hear of are marked
delivered once signalled.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Index,
    Integer,
    String,
    Text,
    and_,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common import db, migrations
from services.common.db import UtcDateTime, is_unique_violation


class Base(DeclarativeBase):
    pass


class TitleRow(Base):
    """One licence card, from its order to its delivery (or destruction)."""

    __tablename__ = "production_titles"
    __table_args__ = (
        # ListTitles: the cards in one state, oldest order first.
        Index("ix_production_titles_state", "state", "ordered_at", "request_number"),
    )

    request_number: Mapped[str] = mapped_column(String(20), primary_key=True)
    # The delivery journey, told of every partner event and resend request.
    workflow_id: Mapped[str] = mapped_column(String(200))
    neph: Mapped[str] = mapped_column(String(12))
    category: Mapped[str] = mapped_column(String(4))
    family_name: Mapped[str] = mapped_column(String(200))
    given_names: Mapped[str] = mapped_column(String(200))
    address_line: Mapped[str] = mapped_column(String(500))
    first_licence: Mapped[bool] = mapped_column(Boolean)
    state: Mapped[str] = mapped_column(String(20))
    # The current shipment's number ("" before posting, and after a re-shipment until
    # the post reports the new one).
    tracking_number: Mapped[str] = mapped_column(String(40), default="")
    shipments: Mapped[int] = mapped_column(Integer, default=0)
    ordered_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # Bumped by every change: a change applies only to the version it was decided on.
    version: Mapped[int] = mapped_column(Integer, default=0)


class TitleEventRow(Base):
    """One line of a card's journal (append-only but for its delivery columns)."""

    __tablename__ = "production_title_events"

    # Integer (not BigInteger) so that SQLite makes it the autoincrementing rowid; it
    # orders a card's journal.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # The partner's id of its event; ours ("#...") for the other lines.
    event_id: Mapped[str] = mapped_column(String(120), unique=True)
    request_number: Mapped[str] = mapped_column(String(20), index=True)
    kind: Mapped[str] = mapped_column(String(30))  # rules.EVENTS
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    tracking_number: Mapped[str] = mapped_column(String(40), default="")
    # The partner ("imprimerie", "la-poste"), the contact-centre agent, or "parcours".
    actor: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str] = mapped_column(Text, default="")
    # Whether the journey must be told (partner events, resend requests), and when it was.
    signalled: Mapped[bool] = mapped_column(Boolean, default=False)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # The code of the last failed delivery ("" once delivered), for operators.
    delivery_error: Mapped[str] = mapped_column(String(40), default="")


async def create_tables(engine: AsyncEngine) -> None:
    """Bring the schema to head through the service's migrations (``migrations/``)."""
    await migrations.upgrade(engine, "production")


class TitleStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def get(self, request_number: str) -> TitleRow | None:
        async with self._sessions() as session:
            return await session.get(TitleRow, request_number)

    async def order(self, row: TitleRow) -> TitleRow:
        """Store the order unless one exists; either way return the one that counts (the
        primary key arbitrates concurrent orders of one request)."""
        existing = await self.get(row.request_number)
        if existing is not None:
            return existing
        try:
            async with self._sessions() as session, session.begin():
                session.add(row)
        except IntegrityError as error:
            if not is_unique_violation(error):
                raise
            winner = await self.get(row.request_number)
            if winner is None:
                raise
            return winner
        return row

    async def event(self, event_id: str) -> TitleEventRow | None:
        async with self._sessions() as session:
            return await session.scalar(
                select(TitleEventRow).where(TitleEventRow.event_id == event_id)
            )

    async def events(self, request_number: str) -> list[TitleEventRow]:
        """The card's journal, oldest first."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(TitleEventRow)
                .where(TitleEventRow.request_number == request_number)
                .order_by(TitleEventRow.id)
            )
            return list(rows)

    async def journals(self, request_numbers: list[str]) -> dict[str, list[TitleEventRow]]:
        """The journals of several cards (a page of them), in one query."""
        if not request_numbers:
            return {}
        async with self._sessions() as session:
            rows = await session.scalars(
                select(TitleEventRow)
                .where(TitleEventRow.request_number.in_(request_numbers))
                .order_by(TitleEventRow.id)
            )
            found: dict[str, list[TitleEventRow]] = {}
            for row in rows:
                found.setdefault(row.request_number, []).append(row)
            return found

    async def apply(self, title: TitleRow, changes: dict[str, Any], line: TitleEventRow) -> bool:
        """Change the card as read (``title.version``) and journal it, in one transaction.

        False when the card moved since it was read (nothing written: decide again);
        an IntegrityError when the line's ``event_id`` was recorded meanwhile.
        """
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                update(TitleRow)
                .where(
                    TitleRow.request_number == title.request_number,
                    TitleRow.version == title.version,
                )
                .values(**changes, version=title.version + 1, updated_at=line.recorded_at)
                .returning(TitleRow.request_number)
                .execution_options(synchronize_session=False)
            )
            if result.scalar_one_or_none() is None:
                return False
            session.add(line)
        return True

    async def undelivered(self, request_number: str) -> list[TitleEventRow]:
        """The lines the journey has not confirmed yet, oldest first."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(TitleEventRow)
                .where(
                    TitleEventRow.request_number == request_number,
                    TitleEventRow.signalled.is_(True),
                    TitleEventRow.delivered_at.is_(None),
                )
                .order_by(TitleEventRow.id)
            )
            return list(rows)

    async def mark_delivered(self, line_id: int, at: datetime) -> None:
        await db.mark_delivered(self._sessions, TitleEventRow, line_id, at)

    async def note_delivery_failure(self, line_id: int, code: str) -> None:
        await db.note_delivery_failure(self._sessions, TitleEventRow, line_id, code)

    async def page(
        self, state: str | None, after: tuple[datetime, str] | None, limit: int
    ) -> Sequence[TitleRow]:
        """Keyset page: the ``limit`` oldest orders after ``after`` (in ``state`` if given)."""
        query = select(TitleRow)
        if state is not None:
            query = query.where(TitleRow.state == state)
        if after is not None:
            ordered_at, request_number = after
            query = query.where(
                or_(
                    TitleRow.ordered_at > ordered_at,
                    and_(
                        TitleRow.ordered_at == ordered_at,
                        TitleRow.request_number > request_number,
                    ),
                )
            )
        query = query.order_by(TitleRow.ordered_at, TitleRow.request_number).limit(limit)
        async with self._sessions() as session:
            return (await session.scalars(query)).all()
