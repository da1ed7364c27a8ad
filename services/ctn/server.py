"""PreCheckService: the CTN's form check of a submitted request.

The automatic check runs once per request (CheckDossier, called by the journey) and
remembers the journey. A CTN agent may then find the request non-compliant
(MarkNonCompliant): the verdict is recorded first, then delivered to the journey as the
``record_pre_check_verdict`` update, then marked delivered. If delivery fails the
verdict stays recorded, undelivered: repeating the same call delivers it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

import grpc
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from permis.ctn.v1 import ctn_pb2, ctn_pb2_grpc
from services.common.auth import CTN_AGENT, OPERATOR, WORKER, AccessTable, acting_person, roles
from services.common.db import make_engine, make_sessionmaker
from services.common.errors import ErrorCode, PermisError
from services.common.grpc_server import ServiceDefinition
from services.common.journey_updates import JourneyUpdater
from services.common.settings import Settings
from services.ctn import rules
from services.ctn.storage import (
    AgentVerdictRow,
    VerdictRow,
    VerdictStore,
    create_tables,
    fingerprint,
)
from workflows.ids import inscription_workflow_id
from workflows.models import Finding, Journey, PreCheckVerdict

log = logging.getLogger(__name__)

FULL_NAME = "permis.ctn.v1.PreCheckService"
UPDATE_NAME = "record_pre_check_verdict"
AUTOMATIC = "automatique"  # decided_by of the automatic check
MAX_REQUEST_NUMBER_LENGTH = 64
MAX_AGENT_ID_LENGTH = 100
MAX_WORKFLOW_ID_LENGTH = 200
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_message(row: VerdictRow | AgentVerdictRow) -> ctn_pb2.PreCheckResult:
    if isinstance(row, AgentVerdictRow):
        compliant, checked_at, decided_by = False, row.decided_at, row.agent_id
    else:
        compliant, checked_at, decided_by = row.compliant, row.checked_at, AUTOMATIC
    return ctn_pb2.PreCheckResult(
        request_number=row.request_number,
        compliant=compliant,
        findings=[ctn_pb2.Finding(**finding) for finding in row.findings],
        checked_at=checked_at.isoformat(),
        decided_by=decided_by,
    )


def as_dicts(findings: list[rules.Finding]) -> list[dict[str, str]]:
    return [{"code": f.code, "message": f.message, "field": f.field} for f in findings]


def verdict_model(row: AgentVerdictRow) -> PreCheckVerdict:
    """What the journey receives: always built from the stored row, so a re-delivery
    carries exactly the first delivery's payload (same time, same findings)."""
    return PreCheckVerdict(
        agent_id=row.agent_id,
        decided_at=row.decided_at,
        findings=[Finding(**finding) for finding in row.findings],
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


def workflow_id_of(request: ctn_pb2.CheckDossierRequest) -> str:
    """The journey to tell later. Callers that predate the field send none: an
    inscription's id follows from its request number (``workflows.ids``)."""
    workflow_id = request.workflow_id.strip()
    if len(workflow_id) > MAX_WORKFLOW_ID_LENGTH:
        raise PermisError(
            ErrorCode.INVALID_FIELD,
            "L'identifiant de la démarche est invalide.",
            {"field": "workflow_id"},
        )
    if not workflow_id and request.dossier.journey in ("", Journey.INSCRIPTION.value):
        return inscription_workflow_id(request.dossier.request_number.strip())
    return workflow_id


def agent_id_of(raw: str) -> str:
    agent_id = raw.strip()
    if not agent_id:
        raise PermisError(ErrorCode.MISSING_FIELDS, details={"field": "agent_id"})
    if len(agent_id) > MAX_AGENT_ID_LENGTH or agent_id == AUTOMATIC:
        raise PermisError(
            ErrorCode.INVALID_FIELD,
            "L'identifiant de l'agent est invalide.",
            {"field": "agent_id"},
        )
    return agent_id


class PreCheckServicer(ctn_pb2_grpc.PreCheckServiceServicer):
    def __init__(
        self, store: VerdictStore, updater: JourneyUpdater, *, clock: Clock = utc_now
    ) -> None:
        self._store = store
        self._updater = updater
        self._clock = clock

    async def CheckDossier(
        self, request: ctn_pb2.CheckDossierRequest, context: grpc.aio.ServicerContext
    ) -> ctn_pb2.PreCheckResult:
        request_number = request_number_of(request.dossier.request_number)
        workflow_id = workflow_id_of(request)
        # The workflow retries this call: the first verdict stands, whatever came since.
        existing = await self._store.get(request_number)
        if existing is not None:
            return to_message(existing)
        now = self._clock()
        findings = rules.check_dossier(request.dossier, today=rules.local_date(now))
        row = VerdictRow(
            request_number=request_number,
            compliant=not findings,
            findings=as_dicts(findings),
            checked_at=now,
            workflow_id=workflow_id,
        )
        return to_message(await self._store.record_first(row))

    async def GetResult(
        self, request: ctn_pb2.GetResultRequest, context: grpc.aio.ServicerContext
    ) -> ctn_pb2.PreCheckResult:
        """The verdict that counts: the latest agent verdict the journey took, else the
        automatic one. A verdict the journey refused, or has not received yet, does not
        count (the request's fate did not follow it)."""
        request_number = request.request_number.strip()
        automatic = await self._store.get(request_number)
        if automatic is None:
            raise PermisError(ErrorCode.REQUEST_NOT_FOUND)
        agent = await self._store.latest_delivered(request_number)
        return to_message(agent if agent is not None else automatic)

    async def MarkNonCompliant(
        self, request: ctn_pb2.MarkNonCompliantRequest, context: grpc.aio.ServicerContext
    ) -> ctn_pb2.PreCheckResult:
        request_number = request_number_of(request.request_number)
        agent_id = agent_id_of(acting_person(request.agent_id, "agent_id"))
        findings = as_dicts(
            rules.agent_findings((f.code, f.message, f.field) for f in request.findings)
        )
        automatic = await self._store.get(request_number)
        if automatic is None:  # never submitted to the CTN: nothing to judge
            raise PermisError(ErrorCode.REQUEST_NOT_FOUND)
        verdict = await self._store.record_agent_verdict(
            AgentVerdictRow(
                request_number=request_number,
                agent_id=agent_id,
                findings=findings,
                fingerprint=fingerprint(agent_id, findings),
                decided_at=self._clock(),
            )
        )
        if verdict.delivered_at is None:
            workflow_id = automatic.workflow_id or inscription_workflow_id(request_number)
            await self._deliver(workflow_id, verdict)
        return to_message(verdict)

    async def _deliver(self, workflow_id: str, verdict: AgentVerdictRow) -> None:
        """Tell the journey; on failure note why and answer with the catalogue's code."""
        try:
            await self._updater.update(workflow_id, UPDATE_NAME, verdict_model(verdict))
        except Exception as error:
            refusal = delivery_refusal(error, verdict, workflow_id)
            await self._store.note_delivery_failure(verdict.id, refusal.code.value)
            log.warning(
                "CTN verdict on %s recorded, not delivered: %s",
                verdict.request_number,
                refusal.code.value,
            )
            if refusal is error:
                raise
            raise refusal from error
        verdict.delivered_at = self._clock()
        await self._store.mark_delivered(verdict.id, verdict.delivered_at)
        log.info("CTN verdict by %s on %s delivered", verdict.agent_id, verdict.request_number)


def delivery_refusal(error: Exception, verdict: AgentVerdictRow, workflow_id: str) -> PermisError:
    """The answer to the agent when the journey did not take the verdict."""
    if not isinstance(error, PermisError):
        log.exception("delivery of the CTN verdict on %s failed", verdict.request_number)
        return PermisError(ErrorCode.SERVICE_UNAVAILABLE, details={"workflow_id": workflow_id})
    if error.code is ErrorCode.JOURNEY_NOT_WAITING:
        # No running journey to receive it: it has ended, so the request was decided.
        return PermisError(ErrorCode.PRE_CHECK_NOT_OPEN, details=error.details)
    return error


# Who may call each method (services.common.auth enforces it; absent = nobody).
ACCESS: AccessTable = {
    "CheckDossier": roles(WORKER),
    "GetResult": roles(WORKER, CTN_AGENT, OPERATOR),
    "MarkNonCompliant": roles(CTN_AGENT),
}


def definition(
    sessions: async_sessionmaker[AsyncSession],
    updater: JourneyUpdater,
    *,
    clock: Clock = utc_now,
) -> ServiceDefinition:
    servicer = PreCheckServicer(VerdictStore(sessions), updater, clock=clock)
    return ServiceDefinition(
        FULL_NAME,
        lambda server: ctn_pb2_grpc.add_PreCheckServiceServicer_to_server(servicer, server),
        access=ACCESS,
    )


async def build(
    settings: Settings, updater: JourneyUpdater
) -> tuple[ServiceDefinition, AsyncEngine]:
    """The service on the configured database (schema created); dispose the engine on stop."""
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)  # the SQLite file lives there
    engine = make_engine(settings.database_url_for("ctn"))
    try:
        await create_tables(engine)
    except BaseException:
        await engine.dispose()
        raise
    return definition(make_sessionmaker(engine), updater), engine
