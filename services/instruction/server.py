"""InstructionService: the DDT instructors' queue, their decisions, and their delivery.

A decision is first recorded (with its NEPH) in one transaction, then delivered to
the running journey as the ``record_decision`` update, then marked delivered. If
delivery fails the decision stays recorded: deciding again the same way delivers it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Protocol

import grpc
from google.protobuf import json_format
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.client import (
    Client,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from permis.common.v1 import dossier_pb2
from permis.instruction.v1 import instruction_pb2, instruction_pb2_grpc
from services.common.db import create_schema, is_unique_violation, make_engine, make_sessionmaker
from services.common.errors import ErrorCode, PermisError
from services.common.grpc_server import ServiceDefinition
from services.common.settings import Settings
from services.instruction import rules, storage
from services.instruction.storage import ACCEPTED, REJECTED, Base, CaseRow
from workflows.ids import is_request_number
from workflows.models import Decision, Outcome

log = logging.getLogger(__name__)

SERVICE_NAME = instruction_pb2.DESCRIPTOR.services_by_name["InstructionService"].full_name
UPDATE_NAME = "record_decision"

_OUTCOMES = {
    ACCEPTED: (Outcome.ACCEPTED, instruction_pb2.OUTCOME_ACCEPTED),
    REJECTED: (Outcome.REJECTED, instruction_pb2.OUTCOME_REJECTED),
}


# ---- delivery to the journey ---------------------------------------------------------


class DecisionSink(Protocol):
    """Where decisions go. Raises PermisError SERVICE_UNAVAILABLE when the journey cannot
    be reached (retry later) and JOURNEY_NOT_WAITING when it refuses the decision."""

    async def deliver(self, workflow_id: str, decision: Decision) -> None: ...


# Statuses that say "not now" rather than "no": the instructor may retry.
_TRANSIENT = frozenset(
    {
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.RESOURCE_EXHAUSTED,
        RPCStatusCode.ABORTED,
        RPCStatusCode.CANCELLED,
        RPCStatusCode.UNKNOWN,
        RPCStatusCode.INTERNAL,
        RPCStatusCode.UNAUTHENTICATED,
    }
)


class TemporalDecisionSink:
    """Delivers a decision as the journey workflow's ``record_decision`` update.

    The client must use the pydantic data converter. The journey's validator accepts a
    retried identical decision, so delivering twice is harmless.
    """

    def __init__(self, client: Client, rpc_timeout: timedelta = timedelta(seconds=15)) -> None:
        self.client = client
        self.rpc_timeout = rpc_timeout

    async def deliver(self, workflow_id: str, decision: Decision) -> None:
        handle = self.client.get_workflow_handle(workflow_id)
        try:
            await handle.execute_update(UPDATE_NAME, decision, rpc_timeout=self.rpc_timeout)
        except WorkflowUpdateFailedError as error:
            cause = error.cause
            details = {"workflow_id": workflow_id}
            if isinstance(cause, ApplicationError):
                details |= {"journey_reason": cause.type or "", "journey_message": cause.message}
            raise PermisError(ErrorCode.JOURNEY_NOT_WAITING, details=details) from error
        except RPCError as error:
            if error.status in _TRANSIENT:
                log.warning("Temporal unavailable for %s: %s", workflow_id, error)
                raise PermisError(ErrorCode.SERVICE_UNAVAILABLE) from error
            # NOT_FOUND (no such journey, or it has ended), FAILED_PRECONDITION...
            raise PermisError(
                ErrorCode.JOURNEY_NOT_WAITING,
                details={"workflow_id": workflow_id, "journey_reason": error.status.name},
            ) from error
        except WorkflowUpdateRPCTimeoutOrCancelledError as error:
            raise PermisError(ErrorCode.SERVICE_UNAVAILABLE) from error
        except RuntimeError as error:  # the SDK core could not connect at all
            log.warning("Temporal unreachable for %s: %s", workflow_id, error)
            raise PermisError(ErrorCode.SERVICE_UNAVAILABLE) from error


# ---- mapping -------------------------------------------------------------------------


def decision_model(case: CaseRow) -> Decision:
    assert case.decided_at is not None
    return Decision(
        outcome=_OUTCOMES[case.state][0],
        instructor_id=case.instructor_id,
        decided_at=case.decided_at,
        reason_code=case.reason_code,
        reason_text=case.reason_text,
        neph=case.neph or "",
    )


def decision_proto(case: CaseRow) -> instruction_pb2.Decision:
    if case.state not in _OUTCOMES or case.decided_at is None:
        return instruction_pb2.Decision()
    return instruction_pb2.Decision(
        request_number=case.request_number,
        outcome=_OUTCOMES[case.state][1],
        instructor_id=case.instructor_id,
        reason_code=case.reason_code,
        reason_text=case.reason_text,
        decided_at=case.decided_at.isoformat(),
        neph=case.neph or "",
    )


def case_proto(case: CaseRow) -> instruction_pb2.InstructionCase:
    message = instruction_pb2.InstructionCase(
        request_number=case.request_number,
        workflow_id=case.workflow_id,
        department=case.department,
        dossier=json_format.ParseDict(case.dossier, dossier_pb2.Dossier()),
        state=case.state,
        enqueued_at=case.enqueued_at.isoformat(),
        delivered_at=case.delivered_at.isoformat() if case.delivered_at else "",
    )
    if case.state in _OUTCOMES:
        message.decision.CopyFrom(decision_proto(case))
    return message


def _required(value: str, field: str) -> str:
    if not value.strip():
        raise PermisError(ErrorCode.MISSING_FIELDS, details={"field": field})
    return value.strip()


# ---- the servicer --------------------------------------------------------------------


class InstructionServicer(instruction_pb2_grpc.InstructionServiceServicer):
    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], sink: DecisionSink
    ) -> None:
        self.sessionmaker = sessionmaker
        self.sink = sink

    async def EnqueueCase(
        self, request: instruction_pb2.EnqueueCaseRequest, context: grpc.aio.ServicerContext
    ) -> instruction_pb2.InstructionCase:
        """Idempotent per request number: a retried enqueue returns the case as it is."""
        workflow_id = _required(request.workflow_id, "workflow_id")
        dossier = request.dossier
        number = _required(dossier.request_number, "dossier.request_number")
        if not is_request_number(number):
            raise PermisError(
                ErrorCode.INVALID_FIELD, "Numéro de demande invalide.",
                {"field": "dossier.request_number"},
            )
        department = rules.check_department(dossier.address.department, "address.department")
        async with self.sessionmaker() as session:
            existing = await storage.get_case(session, number)
        if existing is not None:
            return case_proto(existing)
        row = CaseRow(
            request_number=number,
            workflow_id=workflow_id,
            department=department,
            dossier=json_format.MessageToDict(dossier),
            state=storage.PENDING,
            enqueued_at=datetime.now(UTC),
        )
        try:
            async with self.sessionmaker.begin() as session:
                session.add(row)
        except IntegrityError as error:
            if not is_unique_violation(error):
                raise
            async with self.sessionmaker() as session:  # a concurrent enqueue won
                winner = await storage.get_case(session, number)
            assert winner is not None
            return case_proto(winner)
        log.info("case %s enqueued for department %s", number, department)
        return case_proto(row)

    async def ListPendingCases(
        self, request: instruction_pb2.ListPendingCasesRequest, context: grpc.aio.ServicerContext
    ) -> instruction_pb2.ListPendingCasesResponse:
        department = rules.check_department(request.department)
        size = rules.page_size(request.page_size)
        after = rules.decode_page_token(request.page_token) if request.page_token else None
        async with self.sessionmaker() as session:
            rows = list(await storage.pending_page(session, department, after, size + 1))
        token = ""
        if len(rows) > size:  # one more than asked: there is a next page
            rows = rows[:size]
            token = rules.encode_page_token(rows[-1].enqueued_at, rows[-1].request_number)
        return instruction_pb2.ListPendingCasesResponse(
            cases=[case_proto(row) for row in rows], next_page_token=token
        )

    async def GetCase(
        self, request: instruction_pb2.GetCaseRequest, context: grpc.aio.ServicerContext
    ) -> instruction_pb2.InstructionCase:
        number = _required(request.request_number, "request_number")
        async with self.sessionmaker() as session:
            case = await storage.get_case(session, number)
        if case is None:
            raise PermisError(ErrorCode.CASE_NOT_FOUND)
        return case_proto(case)

    async def AcceptCase(
        self, request: instruction_pb2.AcceptCaseRequest, context: grpc.aio.ServicerContext
    ) -> instruction_pb2.Decision:
        case = await self._decide(
            _required(request.request_number, "request_number"),
            ACCEPTED,
            _required(request.instructor_id, "instructor_id"),
        )
        return await self._deliver(case)

    async def RejectCase(
        self, request: instruction_pb2.RejectCaseRequest, context: grpc.aio.ServicerContext
    ) -> instruction_pb2.Decision:
        number = _required(request.request_number, "request_number")
        instructor = _required(request.instructor_id, "instructor_id")
        reason_code, reason_text = rules.check_rejection(request.reason_code, request.reason_text)
        case = await self._decide(number, REJECTED, instructor, reason_code, reason_text)
        return await self._deliver(case)

    async def _decide(
        self,
        request_number: str,
        state: str,
        instructor_id: str,
        reason_code: str = "",
        reason_text: str = "",
    ) -> CaseRow:
        """Record the decision (and the NEPH) in one transaction; or find the stored one.

        Deciding again the same way returns the stored decision (the instructor retries
        after an outage); the opposite decision is refused.
        """
        decided_at = datetime.now(UTC)
        async with self.sessionmaker.begin() as session:
            department = await storage.claim(
                session,
                request_number,
                state=state,
                instructor_id=instructor_id,
                decided_at=decided_at,
                reason_code=reason_code,
                reason_text=reason_text,
            )
            if department is not None and state == ACCEPTED:
                series = rules.neph_series(decided_at, department)
                neph = rules.format_neph(series, await storage.next_order(session, series))
                await storage.set_neph(session, request_number, neph)
            case = await storage.get_case(session, request_number)
        if case is None:
            raise PermisError(ErrorCode.CASE_NOT_FOUND)
        if case.state != state:
            raise PermisError(ErrorCode.CASE_ALREADY_DECIDED, details={"state": case.state})
        if department is not None:
            log.info("case %s %s by %s", request_number, state, instructor_id)
        return case

    async def _deliver(self, case: CaseRow) -> instruction_pb2.Decision:
        """Tell the journey, unless it already confirmed; then note that it knows."""
        if case.delivered_at is None:
            try:
                await self.sink.deliver(case.workflow_id, decision_model(case))
            except PermisError:
                raise
            except Exception as error:
                log.exception("delivery of %s failed", case.request_number)
                raise PermisError(ErrorCode.SERVICE_UNAVAILABLE) from error
            async with self.sessionmaker.begin() as session:
                await storage.mark_delivered(session, case.request_number, datetime.now(UTC))
        return decision_proto(case)


def definition(servicer: InstructionServicer) -> ServiceDefinition:
    return ServiceDefinition(
        SERVICE_NAME,
        lambda server: instruction_pb2_grpc.add_InstructionServiceServicer_to_server(
            servicer, server
        ),
    )


async def build(settings: Settings, sink: DecisionSink) -> tuple[InstructionServicer, AsyncEngine]:
    """The servicer on its database (schema created), delivering through ``sink``."""
    engine = make_engine(settings.database_url_for("instruction"))
    try:
        await create_schema(engine, Base)
    except BaseException:
        await engine.dispose()
        raise
    return InstructionServicer(make_sessionmaker(engine), sink), engine
