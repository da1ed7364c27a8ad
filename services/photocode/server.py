"""PhotoCodeService: approved booths issue single-use codes; journeys check and spend them."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection
from datetime import UTC, datetime

import grpc
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from permis.photocode.v1 import photocode_pb2, photocode_pb2_grpc
from services.common import migrations
from services.common.auth import (
    APPROVED_BOOTH,
    CTN_AGENT,
    DDT_INSTRUCTOR,
    GATEWAY,
    OPERATOR,
    WORKER,
    AccessTable,
    roles,
)
from services.common.db import make_engine, make_sessionmaker
from services.common.errors import ErrorCode, PermisError
from services.common.grpc_server import ServiceDefinition
from services.common.settings import Settings
from services.photocode import rules
from services.photocode.storage import CodeRow, CodeStore

FULL_NAME = "permis.photocode.v1.PhotoCodeService"
MAX_REQUEST_NUMBER_LENGTH = 64
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_message(row: CodeRow) -> photocode_pb2.PhotoCode:
    return photocode_pb2.PhotoCode(
        code=row.code,
        booth_id=row.booth_id,
        issued_at=row.issued_at.isoformat(),
        expires_at=row.expires_at.isoformat(),
        consumed_by=row.consumed_by or "",
        consumed_at=row.consumed_at.isoformat() if row.consumed_at else "",
        photo_sha256=row.photo_sha256,
    )


def unknown_code() -> PermisError:
    return PermisError(ErrorCode.PHOTO_CODE_UNKNOWN, details={"field": "photo_code"})


class PhotoCodeServicer(photocode_pb2_grpc.PhotoCodeServiceServicer):
    def __init__(
        self,
        store: CodeStore,
        *,
        approved_booths: Collection[str],
        max_image_bytes: int,
        clock: Clock = utc_now,
    ) -> None:
        self._store = store
        self._approved = frozenset(approved_booths)
        self._max_image_bytes = max_image_bytes
        self._clock = clock

    async def _existing(self, raw_code: str, *, with_images: bool = False) -> CodeRow:
        code = rules.normalise_code(raw_code)
        if not rules.is_well_formed(code):
            raise unknown_code()
        row = await self._store.get(code, with_images=with_images)
        if row is None:
            raise unknown_code()
        return row

    async def IssueCode(
        self, request: photocode_pb2.IssueCodeRequest, context: grpc.aio.ServicerContext
    ) -> photocode_pb2.PhotoCode:
        booth_id = request.booth_id.strip()
        if booth_id not in self._approved:
            raise PermisError(ErrorCode.BOOTH_NOT_APPROVED, details={"booth_id": booth_id})
        photo_type = rules.check_image(request.photo, "photo", self._max_image_bytes)
        signature_type = rules.check_image(request.signature, "signature", self._max_image_bytes)
        now = self._clock()
        for _ in range(5):
            row = CodeRow(
                code=rules.new_code(),
                booth_id=booth_id,
                issued_at=now,
                expires_at=rules.expiry_of(now),
                photo=request.photo,
                photo_content_type=photo_type,
                photo_sha256=hashlib.sha256(request.photo).hexdigest(),
                signature=request.signature,
                signature_content_type=signature_type,
                signature_sha256=hashlib.sha256(request.signature).hexdigest(),
            )
            if await self._store.insert(row):
                return to_message(row)
        raise RuntimeError("no free photo code after 5 draws")

    async def CheckCode(
        self, request: photocode_pb2.CheckCodeRequest, context: grpc.aio.ServicerContext
    ) -> photocode_pb2.PhotoCode:
        row = await self._existing(request.code)
        refusal = rules.refusal(rules.state_of(row.consumed_by, row.expires_at, self._clock()))
        if refusal is not None:
            raise refusal
        return to_message(row)

    async def ConsumeCode(
        self, request: photocode_pb2.ConsumeCodeRequest, context: grpc.aio.ServicerContext
    ) -> photocode_pb2.PhotoCode:
        request_number = request.request_number.strip()
        if not request_number or len(request_number) > MAX_REQUEST_NUMBER_LENGTH:
            raise PermisError(
                ErrorCode.INVALID_FIELD,
                "Le numéro de demande est invalide.",
                {"field": "request_number"},
            )
        code = rules.normalise_code(request.code)
        if not rules.is_well_formed(code):
            raise unknown_code()
        now = self._clock()
        row = await self._store.consume(code, request_number, now)
        if row is None:
            raise unknown_code()
        if row.consumed_by == request_number:
            # Won now, or won by an earlier attempt of the same request: a retry succeeds.
            return to_message(row)
        refusal = rules.refusal(rules.state_of(row.consumed_by, row.expires_at, now))
        # Not ours and the UPDATE did not take it: it is either spent or expired.
        raise refusal or PermisError(ErrorCode.PHOTO_CODE_USED)

    async def GetPortrait(
        self, request: photocode_pb2.CheckCodeRequest, context: grpc.aio.ServicerContext
    ) -> photocode_pb2.Portrait:
        row = await self._existing(request.code, with_images=True)
        return photocode_pb2.Portrait(
            code=row.code,
            photo=row.photo,
            photo_content_type=row.photo_content_type,
            signature=row.signature,
            signature_content_type=row.signature_content_type,
        )


# Who may call each method (services.common.auth enforces it; absent = nobody).
ACCESS: AccessTable = {
    "IssueCode": roles(APPROVED_BOOTH),
    "CheckCode": roles(GATEWAY, WORKER),
    "ConsumeCode": roles(WORKER),
    "GetPortrait": roles(WORKER, CTN_AGENT, DDT_INSTRUCTOR, OPERATOR),
}


def definition(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, *, clock: Clock = utc_now
) -> ServiceDefinition:
    servicer = PhotoCodeServicer(
        CodeStore(sessions),
        approved_booths=settings.approved_booths,
        max_image_bytes=settings.max_upload_bytes,
        clock=clock,
    )
    return ServiceDefinition(
        FULL_NAME,
        lambda server: photocode_pb2_grpc.add_PhotoCodeServiceServicer_to_server(servicer, server),
        access=ACCESS,
    )


async def build(settings: Settings) -> tuple[ServiceDefinition, AsyncEngine]:
    """The service on the configured database (schema migrated to head); dispose the engine
    on stop."""
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)  # the SQLite file lives there
    engine = make_engine(settings.database_url_for("photocode"))
    await migrations.upgrade(engine, "photocode")
    return definition(make_sessionmaker(engine), settings), engine
