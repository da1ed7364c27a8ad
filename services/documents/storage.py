"""Where documents live: metadata rows in the service's database, bytes in S3.

The ``minio`` client is synchronous, so every call to it runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import urllib3
from minio import Minio
from minio.error import S3Error
from sqlalchemy import (
    BigInteger,
    Boolean,
    Index,
    Integer,
    String,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.db import UtcDateTime
from services.common.errors import ErrorCode, PermisError
from services.common.settings import Settings

log = logging.getLogger(__name__)


class Base(DeclarativeBase):
    pass


class DocumentRow(Base):
    __tablename__ = "documents"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    request_number: Mapped[str] = mapped_column(String(20), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    object_key: Mapped[str] = mapped_column(String(120), unique=True)
    owner_account_id: Mapped[str] = mapped_column(String(64), default="")
    generated: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


# One generated document per (request, kind): the attestation is produced once, even when
# two calls race. Uploads are not concerned (a candidate may add several of one kind).
Index(
    "uq_documents_generated_kind",
    DocumentRow.request_number,
    DocumentRow.kind,
    unique=True,
    sqlite_where=DocumentRow.generated,
    postgresql_where=DocumentRow.generated,
)


class PurgeRow(Base):
    """Retention's purge log: the request's documents are gone (how many, and when)."""

    __tablename__ = "document_purges"
    request_number: Mapped[str] = mapped_column(String(20), primary_key=True)
    deleted: Mapped[int] = mapped_column(Integer)
    purged_at: Mapped[datetime] = mapped_column(UtcDateTime)


# ---- queries -------------------------------------------------------------------------


async def get_document(session: AsyncSession, document_id: str) -> DocumentRow | None:
    return await session.get(DocumentRow, document_id)


async def find_generated(
    session: AsyncSession, request_number: str, kind: str
) -> DocumentRow | None:
    result = await session.execute(
        select(DocumentRow).where(
            DocumentRow.request_number == request_number,
            DocumentRow.kind == kind,
            DocumentRow.generated.is_(True),
        )
    )
    return result.scalar_one_or_none()


async def list_documents(session: AsyncSession, request_number: str) -> Sequence[DocumentRow]:
    result = await session.execute(
        select(DocumentRow)
        .where(DocumentRow.request_number == request_number)
        .order_by(DocumentRow.created_at, DocumentRow.id)
    )
    return result.scalars().all()


async def insert_document(
    sessionmaker: async_sessionmaker[AsyncSession], row: DocumentRow
) -> DocumentRow:
    async with sessionmaker.begin() as session:
        session.add(row)
    return row


# ---- object storage ------------------------------------------------------------------

# Transport failures of the S3 endpoint (minio retries a few times before raising these).
_UNREACHABLE: tuple[type[BaseException], ...] = (urllib3.exceptions.HTTPError, OSError)


class ObjectStore:
    """The bucket holding the bytes; every method runs the blocking client in a thread."""

    def __init__(self, client: Minio, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    @classmethod
    def from_settings(cls, settings: Settings) -> ObjectStore:
        client = Minio(
            settings.s3_endpoint,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key,
            secure=settings.s3_secure,
            # Given explicitly, so presigning needs no round trip to ask for the region.
            region=settings.s3_region,
        )
        return cls(client, settings.s3_bucket)

    async def _call(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(function, *args, **kwargs)
        except S3Error as error:
            if error.code in ("NoSuchKey", "NoSuchObject"):
                raise PermisError(ErrorCode.DOCUMENT_NOT_FOUND) from error
            log.warning("S3 refused %s: %s", getattr(function, "__name__", function), error)
            raise PermisError(ErrorCode.SERVICE_UNAVAILABLE) from error
        except _UNREACHABLE as error:
            log.warning("S3 unreachable: %s", error)
            raise PermisError(ErrorCode.SERVICE_UNAVAILABLE) from error

    async def ensure_bucket(self) -> None:
        def ensure() -> None:
            if self.client.bucket_exists(self.bucket):
                return
            try:
                self.client.make_bucket(self.bucket)
            except S3Error as error:  # another replica created it first
                if error.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise

        await self._call(ensure)

    async def put(self, key: str, content: bytes, content_type: str, sha256: str) -> None:
        await self._call(
            self.client.put_object,
            self.bucket,
            key,
            io.BytesIO(content),
            len(content),
            content_type=content_type,
            metadata={"sha256": sha256},
        )

    async def get(self, key: str) -> bytes:
        def read() -> bytes:
            response = self.client.get_object(self.bucket, key)
            try:
                return bytes(response.read())
            finally:
                response.close()
                response.release_conn()

        data: bytes = await self._call(read)
        return data

    async def remove(self, key: str) -> None:
        """Removing a missing object is not an error (S3 semantics): retries are safe."""
        await self._call(self.client.remove_object, self.bucket, key)

    async def presigned_get(
        self, key: str, ttl: timedelta, content_type: str, filename: str
    ) -> str:
        url: str = await self._call(
            self.client.presigned_get_object,
            self.bucket,
            key,
            expires=ttl,
            response_headers={
                "response-content-type": content_type,
                "response-content-disposition": content_disposition(filename),
            },
        )
        return url


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback and the UTF-8 name (RFC 6266 / RFC 5987)."""
    fallback = filename.encode("ascii", "replace").decode("ascii").replace("?", "_")
    fallback = fallback.replace('"', "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
