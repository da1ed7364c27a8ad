"""InstructionService: the DDT instructors' queue, their decisions, and their delivery.

An instructor of the case's department claims it (and gets its documents as short-lived
links from the document service); only they may then decide it, and deciding an
unclaimed case claims it. A decision is first recorded (with its NEPH) in one
transaction, then delivered to the running journey as the ``record_decision`` update
(through the shared ``JourneyUpdater``), then marked delivered. If delivery fails the
decision stays recorded: deciding again the same way delivers it. A journey that
refuses answers with its own catalogue code (``journey_not_waiting``,
``case_already_decided``, ``invalid_field``), passed on to the instructor. The journey
may also withdraw a case or record reminders.

A title request (dossier ``journey == "title"``) is accepted with the candidate's own
NEPH, from the dossier: no number is allocated. Examiners record exam results per
NEPH (one this service gave), category and exam day; the title journey lists them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Protocol

import grpc
from google.protobuf import json_format
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowExecutionDescription, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from permis.common.v1 import dossier_pb2
from permis.documents.v1 import documents_pb2, documents_pb2_grpc
from permis.instruction.v1 import instruction_pb2, instruction_pb2_grpc
from services.common import migrations
from services.common.auth import (
    CONTACT_CENTRE,
    DDT_INSTRUCTOR,
    EXAMINER,
    OPERATOR,
    WORKER,
    AccessTable,
    acting_person,
    current_principal,
    require_department,
    roles,
)
from services.common.db import is_unique_violation, make_engine, make_sessionmaker
from services.common.errors import ErrorCode, PermisError
from services.common.grpc_server import ServiceDefinition
from services.common.journey_updates import JourneyUpdater
from services.common.settings import Settings
from services.instruction import rules, storage
from services.instruction.storage import (
    ACCEPTED,
    CLAIMED,
    ENQUEUED,
    EXAM_FAILED,
    EXAM_PASSED,
    PENDING,
    REJECTED,
    REMINDED,
    WITHDRAWN,
    CaseRow,
    ExamResultRow,
)
from workflows.ids import STAGE, is_request_number
from workflows.models import Decision, Outcome, RequestView

log = logging.getLogger(__name__)

SERVICE_NAME = instruction_pb2.DESCRIPTOR.services_by_name["InstructionService"].full_name
UPDATE_NAME = "record_decision"


class JourneyLookup(Protocol):
    """What the Temporal server knows of a journey (see TemporalJourneyLookup)."""

    async def stage(self, workflow_id: str) -> str | None:
        """Its committed stage (PermisStage), None if unknown."""
        ...

    async def ended_with(self, workflow_id: str) -> Decision | None:
        """The decision a journey that has completed holds; None if it runs, or has
        none, or is unknown."""
        ...


# Stages in which a journey has not yet recorded its case's enqueueing (see _deliver).
NOT_YET_IN_INSTRUCTION = frozenset({"submitted", "pre_check"})
# How long a decision waits for that record before the instructor is told to retry.
IN_INSTRUCTION_WAIT_SECONDS = 5.0

# Links to a dossier's documents live 5 minutes: long enough to open them while
# instructing, short enough that a copied link soon stops working.
DOCUMENT_URL_TTL_SECONDS = 300
DOCUMENTS_DEADLINE_SECONDS = 10.0

_OUTCOMES = {
    ACCEPTED: (Outcome.ACCEPTED, instruction_pb2.OUTCOME_ACCEPTED),
    REJECTED: (Outcome.REJECTED, instruction_pb2.OUTCOME_REJECTED),
}


# ---- mapping -------------------------------------------------------------------------


def is_title_case(case: CaseRow) -> bool:
    return bool(case.dossier.get("journey") == rules.TITLE_JOURNEY)


def case_neph(case: CaseRow) -> str:
    """The NEPH an accepted case carries: the one allocated to an inscription, or the
    candidate's own (from the dossier) for a title request."""
    if case.state != ACCEPTED:
        return ""
    if is_title_case(case):
        return str(case.dossier.get("neph", ""))
    return case.neph or ""


def decision_model(case: CaseRow) -> Decision:
    assert case.decided_at is not None
    return Decision(
        outcome=_OUTCOMES[case.state][0],
        instructor_id=case.instructor_id,
        decided_at=case.decided_at,
        reason_code=case.reason_code,
        reason_text=case.reason_text,
        neph=case_neph(case),
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
        neph=case_neph(case),
    )


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


def case_proto(case: CaseRow) -> instruction_pb2.InstructionCase:
    message = instruction_pb2.InstructionCase(
        request_number=case.request_number,
        workflow_id=case.workflow_id,
        department=case.department,
        dossier=json_format.ParseDict(case.dossier, dossier_pb2.Dossier()),
        state=case.state,
        enqueued_at=case.enqueued_at.isoformat(),
        delivered_at=_iso(case.delivered_at),
        claimed_by=case.claimed_by or "",
        claimed_at=_iso(case.claimed_at),
        reminders=case.reminders or 0,
        last_reminded_at=_iso(case.last_reminded_at),
        withdrawn_reason=case.withdrawn_reason or "",
    )
    if case.state in _OUTCOMES:
        message.decision.CopyFrom(decision_proto(case))
    return message


def exam_result_proto(row: ExamResultRow) -> instruction_pb2.ExamResult:
    return instruction_pb2.ExamResult(
        neph=row.neph,
        category=row.category,
        passed=row.passed,
        exam_date=row.exam_date.isoformat(),
        examiner_id=row.examiner_id,
        recorded_at=row.recorded_at.isoformat(),
    )


def same_exam_result(row: ExamResultRow, passed: bool) -> instruction_pb2.ExamResult:
    """The stored result, when a recording repeats it; a different outcome is refused."""
    if row.passed != passed:
        raise PermisError(
            ErrorCode.EXAM_RESULT_CONFLICT,
            details={
                "neph": row.neph,
                "category": row.category,
                "exam_date": row.exam_date.isoformat(),
                "passed": "true" if row.passed else "false",
            },
        )
    return exam_result_proto(row)


def _required(value: str, field: str) -> str:
    if not value.strip():
        raise PermisError(ErrorCode.MISSING_FIELDS, details={"field": field})
    return value.strip()


def _instructor(instructor_id: str) -> str:
    """Who decides or claims: the calling instructor (see ``acting_person``)."""
    return _required(acting_person(instructor_id, "instructor_id"), "instructor_id")


# ---- the servicer --------------------------------------------------------------------


def check_claimable(case: CaseRow, instructor_id: str, department: str) -> None:
    """Refuses an instructor of another department, a case no longer pending, and a case
    another instructor holds; the same instructor claiming again passes."""
    if case.department != department:
        raise PermisError(ErrorCode.WRONG_DEPARTMENT, details={"department": case.department})
    if case.state != PENDING:
        raise PermisError(ErrorCode.CASE_ALREADY_DECIDED, details={"state": case.state})
    if case.claimed_by and case.claimed_by != instructor_id:
        raise PermisError(ErrorCode.CASE_CLAIMED, details={"claimed_by": case.claimed_by})


class InstructionServicer(instruction_pb2_grpc.InstructionServiceServicer):
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        updater: JourneyUpdater,
        documents: documents_pb2_grpc.DocumentServiceStub,
        journeys: JourneyLookup | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.updater = updater
        self.documents = documents
        self.journeys = journeys

    async def EnqueueCase(
        self, request: instruction_pb2.EnqueueCaseRequest, context: grpc.aio.ServicerContext
    ) -> instruction_pb2.InstructionCase:
        """Idempotent per request number: a retried enqueue returns the case as it is."""
        workflow_id = _required(request.workflow_id, "workflow_id")
        dossier = request.dossier
        number = _required(dossier.request_number, "dossier.request_number")
        if not is_request_number(number):
            raise PermisError(
                ErrorCode.INVALID_FIELD,
                "Numéro de demande invalide.",
                {"field": "dossier.request_number"},
            )
        department = rules.check_department(dossier.address.department, "address.department")
        if dossier.journey == rules.TITLE_JOURNEY:  # accepted with this NEPH, never a new one
            rules.check_neph(dossier.neph, "dossier.neph")
        async with self.sessionmaker() as session:
            existing = await storage.get_case(session, number)
        if existing is not None:
            return case_proto(existing)
        now = datetime.now(UTC)
        row = CaseRow(
            request_number=number,
            workflow_id=workflow_id,
            department=department,
            dossier=json_format.MessageToDict(dossier),
            state=PENDING,
            enqueued_at=now,
            claimed_by="",
            reminders=0,
            withdrawn_reason="",
        )
        try:
            async with self.sessionmaker.begin() as session:
                session.add(row)
                await storage.record_event(session, number, ENQUEUED, workflow_id, now)
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
        require_department(department)  # an instructor sees only their department's queue
        size = rules.page_size(request.page_size)
        after = rules.decode_page_token(request.page_token) if request.page_token else None
        async with self.sessionmaker() as session:
            rows = list(
                await storage.pending_page(
                    session, department, after, size + 1, unclaimed_only=request.unclaimed_only
                )
            )
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
        case = await self._case(_required(request.request_number, "request_number"))
        require_department(case.department)
        return case_proto(case)

    async def _case(self, request_number: str) -> CaseRow:
        async with self.sessionmaker() as session:
            case = await storage.get_case(session, request_number)
        if case is None:
            raise PermisError(ErrorCode.CASE_NOT_FOUND)
        return case

    async def ClaimCase(
        self, request: instruction_pb2.ClaimCaseRequest, context: grpc.aio.ServicerContext
    ) -> instruction_pb2.InstructionCase:
        """Checked, then the links fetched, then the claim written: if the document
        service cannot give the links, nothing is recorded and the instructor retries."""
        number = _required(request.request_number, "request_number")
        instructor = _instructor(request.instructor_id)
        department = rules.check_department(request.department.strip())
        require_department(department)
        case = await self._case(number)
        check_claimable(case, instructor, department)
        documents = await self._document_links(case)
        now = datetime.now(UTC)
        async with self.sessionmaker.begin() as session:
            newly_claimed = await storage.claim(session, number, instructor, now)
            if newly_claimed:
                await storage.record_event(session, number, CLAIMED, instructor, now)
            claimed = await storage.get_case(session, number)
        assert claimed is not None  # cases are never deleted
        # Someone may have claimed, decided or withdrawn it since the first check.
        check_claimable(claimed, instructor, department)
        if newly_claimed:
            log.info("case %s claimed by %s", number, instructor)
        message = case_proto(claimed)
        message.documents.extend(documents)
        return message

    async def _document_links(self, case: CaseRow) -> list[instruction_pb2.CaseDocument]:
        refs = json_format.ParseDict(case.dossier, dossier_pb2.Dossier()).documents
        return list(await asyncio.gather(*(self._document_link(ref) for ref in refs)))

    async def _document_link(self, ref: dossier_pb2.DocumentRef) -> instruction_pb2.CaseDocument:
        """A short-lived link to one document; a document the store no longer knows comes
        without one (the instructor can still reject the case for a missing document)."""
        try:
            link = await self.documents.GetDownloadUrl(
                documents_pb2.GetDownloadUrlRequest(
                    document_id=ref.document_id, ttl_seconds=DOCUMENT_URL_TTL_SECONDS
                ),
                timeout=DOCUMENTS_DEADLINE_SECONDS,
            )
        except grpc.aio.AioRpcError as error:
            refusal = PermisError.from_rpc_error(error)
            if refusal is not None and refusal.code is ErrorCode.DOCUMENT_NOT_FOUND:
                log.warning("document %s of a dossier is unknown to storage", ref.document_id)
                return instruction_pb2.CaseDocument(document=ref)
            log.warning("document service failed for %s: %s", ref.document_id, error.code())
            raise PermisError(
                ErrorCode.SERVICE_UNAVAILABLE, details={"service": "documents"}
            ) from error
        return instruction_pb2.CaseDocument(
            document=ref, download_url=link.url, url_expires_at=link.expires_at
        )

    async def WithdrawCase(
        self, request: instruction_pb2.WithdrawCaseRequest, context: grpc.aio.ServicerContext
    ) -> instruction_pb2.InstructionCase:
        """Pending → withdrawn; withdrawing again returns the case as it is (first reason)."""
        number = _required(request.request_number, "request_number")
        reason = rules.check_withdrawal_reason(request.reason)
        now = datetime.now(UTC)
        async with self.sessionmaker.begin() as session:
            withdrawn = await storage.withdraw(session, number, reason, now)
            case = await storage.get_case(session, number)
            if withdrawn and case is not None:
                await storage.record_event(
                    session, number, WITHDRAWN, case.workflow_id, now, reason
                )
        if case is None:
            raise PermisError(ErrorCode.CASE_NOT_FOUND)
        if case.state != WITHDRAWN:
            raise PermisError(ErrorCode.CASE_ALREADY_DECIDED, details={"state": case.state})
        if withdrawn:
            log.info("case %s withdrawn", number)
        return case_proto(case)

    async def RemindCase(
        self, request: instruction_pb2.RemindCaseRequest, context: grpc.aio.ServicerContext
    ) -> instruction_pb2.InstructionCase:
        """Raises the reminder level of a pending case. A level already reached, or a case
        decided meanwhile (the journey's timer may race the decision), is left as it is."""
        number = _required(request.request_number, "request_number")
        level = rules.check_reminder_level(request.level)
        now = datetime.now(UTC)
        async with self.sessionmaker.begin() as session:
            reminded = await storage.remind(session, number, level, now)
            case = await storage.get_case(session, number)
            if reminded and case is not None:
                await storage.record_event(
                    session, number, REMINDED, case.workflow_id, now, str(level)
                )
        if case is None:
            raise PermisError(ErrorCode.CASE_NOT_FOUND)
        if reminded:
            log.info("case %s reminded (level %d)", number, level)
        return case_proto(case)

    async def ListRejectionReasons(
        self,
        request: instruction_pb2.ListRejectionReasonsRequest,
        context: grpc.aio.ServicerContext,
    ) -> instruction_pb2.ListRejectionReasonsResponse:
        return instruction_pb2.ListRejectionReasonsResponse(
            reasons=[
                instruction_pb2.RejectionReason(
                    code=reason.code, label=reason.label, requires_text=reason.requires_text
                )
                for reason in rules.rejection_reasons()
            ]
        )

    async def RecordExamResult(
        self, request: instruction_pb2.RecordExamResultRequest, context: grpc.aio.ServicerContext
    ) -> instruction_pb2.ExamResult:
        """Idempotent per (NEPH, category, exam day): the same result again answers the
        stored one; the other outcome for that day is refused (``exam_result_conflict``).
        The NEPH must be one this service gave to an accepted inscription."""
        checked = rules.check_exam_result(
            request.neph,
            request.category,
            request.exam_date,
            acting_person(request.examiner_id, "examiner_id"),
            today=rules.paris_today(),
        )
        key = (checked.neph, checked.category.value, checked.exam_date)
        async with self.sessionmaker() as session:
            case = await storage.case_with_neph(session, checked.neph)
            stored = await storage.get_exam_result(session, *key)
        if case is None:
            raise PermisError(ErrorCode.NEPH_NOT_FOUND, details={"neph": checked.neph})
        if stored is not None:
            return same_exam_result(stored, request.passed)
        now = datetime.now(UTC)
        row = ExamResultRow(
            neph=checked.neph,
            category=checked.category.value,
            exam_date=checked.exam_date,
            passed=request.passed,
            examiner_id=checked.examiner_id,
            recorded_at=now,
        )
        try:
            async with self.sessionmaker.begin() as session:
                session.add(row)
                await storage.record_event(
                    session,
                    case.request_number,
                    EXAM_PASSED if request.passed else EXAM_FAILED,
                    checked.examiner_id,
                    now,
                    f"{checked.neph} {checked.category.value} {checked.exam_date.isoformat()}",
                )
        except IntegrityError as error:
            if not is_unique_violation(error):
                raise
            async with self.sessionmaker() as session:  # a concurrent recording won
                winner = await storage.get_exam_result(session, *key)
            assert winner is not None
            return same_exam_result(winner, request.passed)
        log.info(
            "exam %s for NEPH %s, category %s, on %s (examiner %s)",
            "passed" if request.passed else "failed",
            checked.neph,
            checked.category.value,
            checked.exam_date,
            checked.examiner_id,
        )
        return exam_result_proto(row)

    async def ListExamResults(
        self, request: instruction_pb2.ListExamResultsRequest, context: grpc.aio.ServicerContext
    ) -> instruction_pb2.ListExamResultsResponse:
        """Newest first; a NEPH without results (or unknown here) has an empty list."""
        neph = _required(request.neph, "neph")
        async with self.sessionmaker() as session:
            rows = await storage.exam_results(session, neph)
        return instruction_pb2.ListExamResultsResponse(
            results=[exam_result_proto(row) for row in rows]
        )

    async def AcceptCase(
        self, request: instruction_pb2.AcceptCaseRequest, context: grpc.aio.ServicerContext
    ) -> instruction_pb2.Decision:
        case = await self._decide(
            _required(request.request_number, "request_number"),
            ACCEPTED,
            _instructor(request.instructor_id),
        )
        return await self._deliver(case)

    async def RejectCase(
        self, request: instruction_pb2.RejectCaseRequest, context: grpc.aio.ServicerContext
    ) -> instruction_pb2.Decision:
        number = _required(request.request_number, "request_number")
        instructor = _instructor(request.instructor_id)
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
        after an outage); the opposite decision is refused, and so is a pending case
        another instructor holds.
        """
        principal = current_principal()
        if principal is not None and principal.role == DDT_INSTRUCTOR:
            require_department((await self._case(request_number)).department)
        decided_at = datetime.now(UTC)
        async with self.sessionmaker.begin() as session:
            department = await storage.decide(
                session,
                request_number,
                state=state,
                instructor_id=instructor_id,
                decided_at=decided_at,
                reason_code=reason_code,
                reason_text=reason_text,
            )
            if department is not None:
                detail = reason_code  # the journal keeps the reason, or the NEPH given
                if state == ACCEPTED:
                    decided = await storage.get_case(session, request_number)
                    assert decided is not None
                    if is_title_case(decided):  # the candidate's NEPH, for life
                        detail = case_neph(decided)
                    else:
                        series = rules.neph_series(decided_at, department)
                        detail = rules.format_neph(
                            series, await storage.next_order(session, series)
                        )
                        await storage.set_neph(session, request_number, detail)
                await storage.record_event(
                    session, request_number, state, instructor_id, decided_at, detail
                )
            case = await storage.get_case(session, request_number)
        if case is None:
            raise PermisError(ErrorCode.CASE_NOT_FOUND)
        if case.state == PENDING:  # still pending: someone else holds it
            raise PermisError(ErrorCode.CASE_CLAIMED, details={"claimed_by": case.claimed_by})
        if case.state != state:
            raise PermisError(ErrorCode.CASE_ALREADY_DECIDED, details={"state": case.state})
        if department is not None:
            log.info("case %s %s by %s", request_number, state, instructor_id)
        return case

    async def _deliver(self, case: CaseRow) -> instruction_pb2.Decision:
        """Tell the journey, unless it already confirmed; then note that it knows."""
        if case.delivered_at is None:
            await self._until_in_instruction(case)
            try:
                await self.updater.update(case.workflow_id, UPDATE_NAME, decision_model(case))
            except PermisError as error:
                # A first delivery whose answer was lost, then a journey that went on to
                # its end: it holds this decision, which is what delivering means.
                if error.code is not ErrorCode.JOURNEY_NOT_WAITING or not await self._held(case):
                    raise
            except Exception as error:
                log.exception("delivery of %s failed", case.request_number)
                raise PermisError(ErrorCode.SERVICE_UNAVAILABLE) from error
            async with self.sessionmaker.begin() as session:
                await storage.mark_delivered(session, case.request_number, datetime.now(UTC))
        return decision_proto(case)

    async def _until_in_instruction(self, case: CaseRow) -> None:
        """Wait (a little) until the journey has recorded its case's enqueueing.

        A case is in the queue as soon as EnqueueCase ran, before the journey records
        that activity's result. A decision delivered in that gap reaches the journey in
        the same workflow task as the result. Such a shared task replayed in another
        order than it ran when it also held a patch marker (a nondeterminism error, seen
        in the chaos test before inscriptions took their markers at start); without one
        it replays (tests/workflows/test_update_meets_activity.py), but only the
        restarted-worker case is tested, so the gap stays closed. Once the journey is in
        instruction, its run loop only waits, and the decision is safe to deliver. If it
        takes longer (worker down), the decision stays recorded: the instructor's retry
        delivers it.
        """
        if self.journeys is None:
            return
        deadline = time.monotonic() + IN_INSTRUCTION_WAIT_SECONDS
        while True:
            try:
                stage = await self.journeys.stage(case.workflow_id)
            except Exception as error:
                log.warning("stage of %s unknown: %s", case.workflow_id, error)
                raise PermisError(ErrorCode.SERVICE_UNAVAILABLE) from error
            if stage not in NOT_YET_IN_INSTRUCTION:
                return  # in instruction, or elsewhere: the journey's validator decides
            if time.monotonic() > deadline:
                raise PermisError(
                    ErrorCode.SERVICE_UNAVAILABLE,
                    details={"workflow_id": case.workflow_id, "journey_stage": stage or ""},
                )
            await asyncio.sleep(0.2)

    async def _held(self, case: CaseRow) -> bool:
        """Whether the journey ended holding this very decision."""
        if self.journeys is None:
            return False
        try:
            held = await self.journeys.ended_with(case.workflow_id)
        except Exception as error:
            log.warning("outcome of %s unknown: %s", case.workflow_id, error)
            raise PermisError(ErrorCode.SERVICE_UNAVAILABLE) from error
        return held is not None and held.same_as(decision_model(case))


# Who may call each method (services.common.auth enforces it; absent = nobody).
ACCESS: AccessTable = {
    "EnqueueCase": roles(WORKER),
    "WithdrawCase": roles(WORKER),
    "RemindCase": roles(WORKER),
    # Department-scoped for instructors (checked by the servicer).
    "ListPendingCases": roles(DDT_INSTRUCTOR),
    "GetCase": roles(DDT_INSTRUCTOR, OPERATOR),
    "ClaimCase": roles(DDT_INSTRUCTOR),
    "AcceptCase": roles(DDT_INSTRUCTOR),
    "RejectCase": roles(DDT_INSTRUCTOR),
    "ListRejectionReasons": roles(DDT_INSTRUCTOR, OPERATOR, CONTACT_CENTRE),
    "RecordExamResult": roles(EXAMINER),
    "ListExamResults": roles(WORKER, EXAMINER, DDT_INSTRUCTOR),
}


def definition(servicer: InstructionServicer) -> ServiceDefinition:
    return ServiceDefinition(
        SERVICE_NAME,
        lambda server: instruction_pb2_grpc.add_InstructionServiceServicer_to_server(
            servicer, server
        ),
        access=ACCESS,
    )


async def build(
    settings: Settings,
    updater: JourneyUpdater,
    documents: documents_pb2_grpc.DocumentServiceStub,
    journeys: JourneyLookup | None = None,
) -> tuple[InstructionServicer, AsyncEngine]:
    """The servicer on its database (schema migrated to head), delivering decisions
    through ``updater`` (once ``journeys`` says the journey is in instruction) and asking
    ``documents`` for the dossiers' download links."""
    engine = make_engine(settings.database_url_for("instruction"))
    try:
        await migrations.upgrade(engine, "instruction")
    except BaseException:
        await engine.dispose()
        raise
    servicer = InstructionServicer(make_sessionmaker(engine), updater, documents, journeys)
    return servicer, engine


class TemporalJourneyLookup:
    """``JourneyLookup`` from the Temporal server's own state (describe, the result): what
    completed workflow tasks recorded, not what a query would compute."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def _describe(self, workflow_id: str) -> WorkflowExecutionDescription | None:
        try:
            return await self.client.get_workflow_handle(workflow_id).describe()
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return None  # the update will say so
            raise

    async def stage(self, workflow_id: str) -> str | None:
        description = await self._describe(workflow_id)
        return None if description is None else description.typed_search_attributes.get(STAGE)

    async def ended_with(self, workflow_id: str) -> Decision | None:
        description = await self._describe(workflow_id)
        if description is None or description.status != WorkflowExecutionStatus.COMPLETED:
            return None
        handle = self.client.get_workflow_handle(
            workflow_id, run_id=description.run_id, result_type=RequestView
        )
        view: RequestView = await handle.result()
        return view.decision
