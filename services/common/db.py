"""Database plumbing shared by the services: one async engine per service, its own schema.

SQLite (aiosqlite) is the embedded default; PostgreSQL (psycopg) is the production
database. The same SQLAlchemy 2 models run on both. Each service's schema comes from its
Alembic migrations (``services/common/migrations.py``), never from ``create_all``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect, TypeDecorator, event, update
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


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


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # WAL lets readers run beside the writer; busy_timeout waits instead of failing.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def is_unique_violation(error: Exception) -> bool:
    """True for a unique-constraint failure on SQLite or PostgreSQL."""
    text = str(getattr(error, "orig", error)).lower()
    return "unique" in text or "duplicate key" in text


# Outbox rows: something recorded first, then delivered to a journey (a CTN agent's
# verdict, a partner's event). Their model has ``id``, ``delivered_at`` and
# ``delivery_error`` columns; a row once delivered is never touched again.


async def mark_delivered(
    sessions: async_sessionmaker[AsyncSession], model: Any, row_id: int, at: datetime
) -> None:
    async with sessions() as session, session.begin():
        await session.execute(
            update(model)
            .where(model.id == row_id, model.delivered_at.is_(None))
            .values(delivered_at=at, delivery_error="")
        )


async def note_delivery_failure(
    sessions: async_sessionmaker[AsyncSession], model: Any, row_id: int, code: str
) -> None:
    async with sessions() as session, session.begin():
        await session.execute(
            update(model)
            .where(model.id == row_id, model.delivered_at.is_(None))
            .values(delivery_error=code[:40])
        )
