"""PreCheckService: the CTN's automatic form check of a submitted dossier."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import grpc
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from permis.ctn.v1 import ctn_pb2, ctn_pb2_grpc
from services.common.db import create_schema, make_engine, make_sessionmaker
from services.common.errors import ErrorCode, PermisError
from services.common.grpc_server import ServiceDefinition
from services.common.settings import Settings
from services.ctn import rules
from services.ctn.storage import Base, VerdictRow, VerdictStore

FULL_NAME = "permis.ctn.v1.PreCheckService"
MAX_REQUEST_NUMBER_LENGTH = 64
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_message(row: VerdictRow) -> ctn_pb2.PreCheckResult:
    return ctn_pb2.PreCheckResult(
        request_number=row.request_number,
        compliant=row.compliant,
        findings=[ctn_pb2.Finding(**finding) for finding in row.findings],
        checked_at=row.checked_at.isoformat(),
    )


def request_number_of(raw: str) -> str:
    request_number = raw.strip()
    if not request_number or len(request_number) > MAX_REQUEST_NUMBER_LENGTH:
        raise PermisError(
            ErrorCode.INVALID_FIELD,
            "Le numéro de demande est invalide.",
            {"field": "request_number"},
        )
    return request_number


class PreCheckServicer(ctn_pb2_grpc.PreCheckServiceServicer):
    def __init__(self, store: VerdictStore, *, clock: Clock = utc_now) -> None:
        self._store = store
        self._clock = clock

    async def CheckDossier(
        self, request: ctn_pb2.CheckDossierRequest, context: grpc.aio.ServicerContext
    ) -> ctn_pb2.PreCheckResult:
        request_number = request_number_of(request.dossier.request_number)
        # The workflow retries this call: the first verdict stands, whatever came since.
        existing = await self._store.get(request_number)
        if existing is not None:
            return to_message(existing)
        now = self._clock()
        findings = rules.check_dossier(request.dossier, today=rules.local_date(now))
        row = VerdictRow(
            request_number=request_number,
            compliant=not findings,
            findings=[
                {"code": f.code, "message": f.message, "field": f.field} for f in findings
            ],
            checked_at=now,
        )
        return to_message(await self._store.record_first(row))

    async def GetResult(
        self, request: ctn_pb2.GetResultRequest, context: grpc.aio.ServicerContext
    ) -> ctn_pb2.PreCheckResult:
        row = await self._store.get(request.request_number.strip())
        if row is None:
            raise PermisError(ErrorCode.REQUEST_NOT_FOUND)
        return to_message(row)


def definition(
    sessions: async_sessionmaker[AsyncSession], *, clock: Clock = utc_now
) -> ServiceDefinition:
    servicer = PreCheckServicer(VerdictStore(sessions), clock=clock)
    return ServiceDefinition(
        FULL_NAME,
        lambda server: ctn_pb2_grpc.add_PreCheckServiceServicer_to_server(servicer, server),
    )


async def build(settings: Settings) -> tuple[ServiceDefinition, AsyncEngine]:
    """The service on the configured database (schema created); dispose the engine on stop."""
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)  # the SQLite file lives there
    engine = make_engine(settings.database_url_for("ctn"))
    await create_schema(engine, Base)
    return definition(make_sessionmaker(engine)), engine
