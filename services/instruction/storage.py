"""The instructors' queue, its journal and the NEPH counters, in the instruction service's
database.

Every change of a case is one conditional UPDATE (the state it expects is in the WHERE
clause, so two callers racing cannot both win) plus, in the same transaction, a line in
the journal saying who did what and when. A repeat that changes nothing writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Index,
    Integer,
    String,
    Text,
    bindparam,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.db import UtcDateTime
from services.instruction.rules import NephSeries

PENDING = "pending"
ACCEPTED = "accepted"
REJECTED = "rejected"
WITHDRAWN = "withdrawn"

# Journal actions.
ENQUEUED = "enqueued"
CLAIMED = "claimed"
REMINDED = "reminded"
# An examiner's result, in the journal of the inscription case that gave the NEPH.
EXAM_PASSED = "exam_passed"
EXAM_FAILED = "exam_failed"


class Base(DeclarativeBase):
    pass


class CaseRow(Base):
    """One request in a DDT's queue, and the decision taken on it."""

    __tablename__ = "instruction_cases"
    __table_args__ = (
        # The queue query: one department's pending cases, oldest first.
        Index("ix_instruction_cases_queue", "department", "state", "enqueued_at"),
    )

    request_number: Mapped[str] = mapped_column(String(20), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(200))
    department: Mapped[str] = mapped_column(String(3))
    dossier: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(10), default=PENDING)
    enqueued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    instructor_id: Mapped[str] = mapped_column(String(100), default="")
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    reason_code: Mapped[str] = mapped_column(String(40), default="")
    reason_text: Mapped[str] = mapped_column(Text, default="")
    neph: Mapped[str | None] = mapped_column(String(12), unique=True, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # The instructor who took the case (ClaimCase, or implicitly by deciding it).
    claimed_by: Mapped[str] = mapped_column(String(100), default="")
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # Reminder level reached while the case waited (1: reminder, 2: escalation).
    reminders: Mapped[int] = mapped_column(Integer, default=0)
    last_reminded_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    withdrawn_reason: Mapped[str] = mapped_column(Text, default="")
    withdrawn_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class CaseEvent(Base):
    """One line of a case's journal: who did what, when (append-only)."""

    __tablename__ = "instruction_case_events"

    # Integer (not BigInteger) so that SQLite makes it the autoincrementing rowid.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_number: Mapped[str] = mapped_column(String(20), index=True)
    action: Mapped[str] = mapped_column(String(20))
    # An instructor id, or the journey (its workflow id) for enqueue/withdraw/remind.
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    detail: Mapped[str] = mapped_column(Text, default="")


class NephCounter(Base):
    """The last order number given in one (YYMM, department, prefecture) series."""

    __tablename__ = "neph_counters"

    yymm: Mapped[str] = mapped_column(String(4), primary_key=True)
    department: Mapped[str] = mapped_column(String(2), primary_key=True)
    prefecture: Mapped[str] = mapped_column(String(2), primary_key=True)
    last_order: Mapped[int] = mapped_column(Integer, default=0)


class ExamResultRow(Base):
    """An examiner's result for a NEPH and a category on one exam day (one per day: a
    repeated recording finds it). A pass unlocks the title request."""

    __tablename__ = "instruction_exam_results"

    neph: Mapped[str] = mapped_column(String(12), primary_key=True)
    category: Mapped[str] = mapped_column(String(3), primary_key=True)
    exam_date: Mapped[date] = mapped_column(Date, primary_key=True)
    passed: Mapped[bool] = mapped_column(Boolean)
    examiner_id: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)


# ---- queries -------------------------------------------------------------------------


async def get_case(session: AsyncSession, request_number: str) -> CaseRow | None:
    result = await session.execute(
        select(CaseRow)
        .where(CaseRow.request_number == request_number)
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def pending_page(
    session: AsyncSession,
    department: str,
    after: tuple[datetime, str] | None,
    limit: int,
    *,
    unclaimed_only: bool = False,
) -> Sequence[CaseRow]:
    """Keyset page: the ``limit`` oldest pending cases after ``after``."""
    query = select(CaseRow).where(CaseRow.department == department, CaseRow.state == PENDING)
    if unclaimed_only:
        query = query.where(CaseRow.claimed_by == "")
    if after is not None:
        enqueued_at, request_number = after
        # (enqueued_at, number) > cursor, written so that its first term is a range on
        # the queue index: with the OR alone the database scans the department's queue
        # from its start (30 ms in the middle of 100,000 cases instead of under 1 ms).
        query = query.where(
            CaseRow.enqueued_at >= enqueued_at,
            or_(CaseRow.enqueued_at > enqueued_at, CaseRow.request_number > request_number),
        )
    query = query.order_by(CaseRow.enqueued_at, CaseRow.request_number).limit(limit)
    return (await session.execute(query)).scalars().all()


async def record_event(
    session: AsyncSession,
    request_number: str,
    action: str,
    actor: str,
    at: datetime,
    detail: str = "",
) -> None:
    session.add(
        CaseEvent(request_number=request_number, action=action, actor=actor, at=at, detail=detail)
    )


async def events(session: AsyncSession, request_number: str) -> Sequence[CaseEvent]:
    result = await session.execute(
        select(CaseEvent).where(CaseEvent.request_number == request_number).order_by(CaseEvent.id)
    )
    return result.scalars().all()


def _keep_or(column: Any, moment: datetime) -> Any:
    """The column's value if set, else ``moment`` (typed, so SQLite stores it like the rest)."""
    return func.coalesce(column, bindparam(None, moment, type_=UtcDateTime()))


async def decide(
    session: AsyncSession,
    request_number: str,
    *,
    state: str,
    instructor_id: str,
    decided_at: datetime,
    reason_code: str = "",
    reason_text: str = "",
) -> str | None:
    """Decide a pending case nobody else holds; its department, or None if not decided.

    A conditional UPDATE rather than read-then-write: of two instructors deciding
    at once, the second finds the row no longer pending (PostgreSQL re-checks the
    condition after the first commits; SQLite serialises the writers). An unclaimed
    case is claimed by its decision.
    """
    result = await session.execute(
        update(CaseRow)
        .where(
            CaseRow.request_number == request_number,
            CaseRow.state == PENDING,
            CaseRow.claimed_by.in_(["", instructor_id]),
        )
        .values(
            state=state,
            instructor_id=instructor_id,
            decided_at=decided_at,
            reason_code=reason_code,
            reason_text=reason_text,
            claimed_by=instructor_id,
            claimed_at=_keep_or(CaseRow.claimed_at, decided_at),
        )
        .returning(CaseRow.department)
        .execution_options(synchronize_session=False)
    )
    return result.scalar_one_or_none()


async def claim(
    session: AsyncSession, request_number: str, instructor_id: str, at: datetime
) -> bool:
    """Give a pending, unclaimed case to the instructor; False if it was not both."""
    result = await session.execute(
        update(CaseRow)
        .where(
            CaseRow.request_number == request_number,
            CaseRow.state == PENDING,
            CaseRow.claimed_by == "",
        )
        .values(claimed_by=instructor_id, claimed_at=at)
        .returning(CaseRow.request_number)
        .execution_options(synchronize_session=False)
    )
    return result.scalar_one_or_none() is not None


async def withdraw(session: AsyncSession, request_number: str, reason: str, at: datetime) -> bool:
    """Take a pending case out of the queue; False if it was not pending."""
    result = await session.execute(
        update(CaseRow)
        .where(CaseRow.request_number == request_number, CaseRow.state == PENDING)
        .values(state=WITHDRAWN, withdrawn_reason=reason, withdrawn_at=at)
        .returning(CaseRow.request_number)
        .execution_options(synchronize_session=False)
    )
    return result.scalar_one_or_none() is not None


async def remind(session: AsyncSession, request_number: str, level: int, at: datetime) -> bool:
    """Raise a pending case's reminder level; False if pending at that level already (or
    not pending at all): a level is counted once, and never goes down."""
    result = await session.execute(
        update(CaseRow)
        .where(
            CaseRow.request_number == request_number,
            CaseRow.state == PENDING,
            CaseRow.reminders < level,
        )
        .values(reminders=level, last_reminded_at=at)
        .returning(CaseRow.request_number)
        .execution_options(synchronize_session=False)
    )
    return result.scalar_one_or_none() is not None


async def set_neph(session: AsyncSession, request_number: str, neph: str) -> None:
    await session.execute(
        update(CaseRow)
        .where(CaseRow.request_number == request_number)
        .values(neph=neph)
        .execution_options(synchronize_session=False)
    )


async def mark_delivered(session: AsyncSession, request_number: str, at: datetime) -> None:
    await session.execute(
        update(CaseRow)
        .where(CaseRow.request_number == request_number, CaseRow.delivered_at.is_(None))
        .values(delivered_at=at)
        .execution_options(synchronize_session=False)
    )


async def next_order(session: AsyncSession, series: NephSeries) -> int:
    """The next order number of the series, incremented atomically in the caller's transaction.

    UPDATE ... RETURNING holds the counter row until commit, so concurrent decisions
    get consecutive numbers and a rolled-back decision gives its number back.
    """
    key = (
        NephCounter.yymm == series.yymm,
        NephCounter.department == series.department,
        NephCounter.prefecture == series.prefecture,
    )
    increment = (
        update(NephCounter)
        .where(*key)
        .values(last_order=NephCounter.last_order + 1)
        .returning(NephCounter.last_order)
        .execution_options(synchronize_session=False)
    )
    order = (await session.execute(increment)).scalar_one_or_none()
    if order is None:
        # First decision of the series: create the row (a concurrent creator wins
        # harmlessly), then increment like everyone else.
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        await session.execute(
            insert(NephCounter)
            .values(
                yymm=series.yymm,
                department=series.department,
                prefecture=series.prefecture,
                last_order=0,
            )
            .on_conflict_do_nothing()
        )
        order = (await session.execute(increment)).scalar_one()
    return int(order)


# ---- exam results --------------------------------------------------------------------


async def case_with_neph(session: AsyncSession, neph: str) -> CaseRow | None:
    """The accepted case that was given this NEPH, if this service gave it."""
    result = await session.execute(
        select(CaseRow).where(CaseRow.neph == neph, CaseRow.state == ACCEPTED)
    )
    return result.scalar_one_or_none()


async def get_exam_result(
    session: AsyncSession, neph: str, category: str, exam_date: date
) -> ExamResultRow | None:
    return await session.get(ExamResultRow, (neph, category, exam_date), populate_existing=True)


async def exam_results(session: AsyncSession, neph: str) -> Sequence[ExamResultRow]:
    """A NEPH's results, newest exam first (then the latest recorded, then by category)."""
    result = await session.execute(
        select(ExamResultRow)
        .where(ExamResultRow.neph == neph)
        .order_by(
            ExamResultRow.exam_date.desc(),
            ExamResultRow.recorded_at.desc(),
            ExamResultRow.category,
        )
    )
    return result.scalars().all()
