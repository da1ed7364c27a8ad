"""The journey's side effects: thin gRPC and SMTP clients, one model in, one model out.

Error contract with the workflow: a business refusal decoded from the gRPC status
(``PermisError``) becomes a non-retryable ``ApplicationError`` whose type is the stable
code; anything else (UNAVAILABLE, deadline, connection refused...) is raised as is, so
Temporal retries it until the service is back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from email.message import EmailMessage as MimeMessage
from email.utils import formatdate
from typing import Any, TypeVar

import aiosmtplib
import grpc
from temporalio import activity
from temporalio.exceptions import ApplicationError

from permis.ctn.v1 import ctn_pb2
from permis.instruction.v1 import instruction_pb2
from permis.photocode.v1 import photocode_pb2
from permis.production.v1 import production_pb2
from services.common.clients import ServiceClients
from services.common.errors import ErrorCode, PermisError
from services.common.settings import Settings
from workflows import messages
from workflows.dossier import to_attestation_request, to_dossier, to_receipt_request
from workflows.models import (
    AttestationRendered,
    CheckExamPassed,
    ConsumePhotoCode,
    DestroyTitle,
    EmailMessage,
    EmailSent,
    EnqueueForInstruction,
    ExamCheck,
    Finding,
    InstructionEnqueued,
    InstructionReminded,
    InstructionWithdrawn,
    OrderTitle,
    PhotoCodeConsumed,
    PreCheckOutcome,
    ReceiptRendered,
    RemindInstruction,
    RenderAttestation,
    RenderReceipt,
    RequestView,
    ShipTitleAgain,
    TitleState,
    WithdrawFromInstruction,
)

# A permanent SMTP refusal (5xx for the recipient): retrying cannot help.
EMAIL_REJECTED = "email_rejected"
# Per-call gRPC deadline: a hung service becomes a retried attempt, not a stuck one.
GRPC_DEADLINE_SECONDS = 10.0
# The same for the SMTP conversation (within the workflow's EMAIL_TIMEOUT).
SMTP_TIMEOUT_SECONDS = 10.0
MESSAGE_ID_DOMAIN = "permis.example.fr"

T = TypeVar("T")


async def _call(rpc: Awaitable[T]) -> T:
    try:
        return await rpc
    except grpc.aio.AioRpcError as error:
        refusal = PermisError.from_rpc_error(error)
        if refusal is None or refusal.code is ErrorCode.SERVICE_UNAVAILABLE:
            raise  # transport or unexpected failure: let Temporal retry
        raise ApplicationError(
            refusal.message, refusal.details, type=refusal.code.value, non_retryable=True
        ) from None


def message_id(idempotency_key: str) -> str:
    return f"<{idempotency_key}@{MESSAGE_ID_DOMAIN}>"


def build_mime(message: EmailMessage, sender: str) -> MimeMessage:
    mime = MimeMessage()
    mime["From"] = sender
    mime["To"] = message.to
    mime["Subject"] = message.subject
    mime["Date"] = formatdate(localtime=False, usegmt=True)
    mime["Message-ID"] = message_id(message.idempotency_key)
    mime.set_content(message.body, subtype="plain", charset="utf-8")
    return mime


class JourneyActivities:
    def __init__(self, settings: Settings, clients: ServiceClients) -> None:
        self._settings = settings
        self._clients = clients

    @activity.defn
    async def consume_photo_code(self, request: ConsumePhotoCode) -> PhotoCodeConsumed:
        code = await _call(
            self._clients.photocode.ConsumeCode(
                photocode_pb2.ConsumeCodeRequest(
                    code=request.code, request_number=request.request_number
                ),
                timeout=GRPC_DEADLINE_SECONDS,
            )
        )
        return PhotoCodeConsumed(
            code=code.code, consumed_by=code.consumed_by, consumed_at=code.consumed_at
        )

    async def _deliver(self, message: EmailMessage) -> None:
        """Hand the message to the SMTP server (raises ``SMTPRecipientsRefused`` on a 5xx)."""
        settings = self._settings
        await aiosmtplib.send(
            build_mime(message, settings.mail_from),
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username or None,
            password=settings.smtp_password or None,
            start_tls=settings.smtp_use_tls,
            timeout=SMTP_TIMEOUT_SECONDS,
        )

    @activity.defn
    async def send_email(self, message: EmailMessage) -> EmailSent:
        try:
            await self._deliver(message)
        except aiosmtplib.SMTPRecipientsRefused as error:
            raise ApplicationError(
                f"Adresse refusée par le serveur de courriel : {message.to}",
                type=EMAIL_REJECTED,
                non_retryable=True,
            ) from error
        return EmailSent(message_id=message_id(message.idempotency_key))

    @activity.defn
    async def pre_check(self, view: RequestView) -> PreCheckOutcome:
        result = await _call(
            self._clients.ctn.CheckDossier(
                # The journey the CTN tells if an agent later finds the request
                # non-compliant: the workflow this activity runs for.
                ctn_pb2.CheckDossierRequest(
                    dossier=to_dossier(view), workflow_id=activity.info().workflow_id
                ),
                timeout=GRPC_DEADLINE_SECONDS,
            )
        )
        return PreCheckOutcome(
            compliant=result.compliant,
            findings=[
                Finding(code=item.code, message=item.message, field=item.field)
                for item in result.findings
            ],
        )

    @activity.defn
    async def enqueue_for_instruction(self, request: EnqueueForInstruction) -> InstructionEnqueued:
        case = await _call(
            self._clients.instruction.EnqueueCase(
                instruction_pb2.EnqueueCaseRequest(
                    workflow_id=request.workflow_id, dossier=to_dossier(request.view)
                ),
                timeout=GRPC_DEADLINE_SECONDS,
            )
        )
        return InstructionEnqueued(
            request_number=case.request_number, department=case.department, state=case.state
        )

    @activity.defn
    async def render_attestation(self, request: RenderAttestation) -> AttestationRendered:
        document = await _call(
            self._clients.documents.RenderAttestation(
                to_attestation_request(request), timeout=GRPC_DEADLINE_SECONDS * 3
            )
        )
        return AttestationRendered(document_id=document.document_id)

    @activity.defn
    async def render_receipt(self, request: RenderReceipt) -> ReceiptRendered:
        document = await _call(
            self._clients.documents.RenderReceipt(
                to_receipt_request(request.view), timeout=GRPC_DEADLINE_SECONDS * 3
            )
        )
        return ReceiptRendered(document_id=document.document_id)

    @activity.defn
    async def withdraw_from_instruction(
        self, request: WithdrawFromInstruction
    ) -> InstructionWithdrawn:
        case = await _call(
            self._clients.instruction.WithdrawCase(
                instruction_pb2.WithdrawCaseRequest(
                    request_number=request.request_number, reason=request.reason
                ),
                timeout=GRPC_DEADLINE_SECONDS,
            )
        )
        return InstructionWithdrawn(request_number=case.request_number, state=case.state)

    @activity.defn
    async def remind_instruction(self, request: RemindInstruction) -> InstructionReminded:
        """Marks the case overdue in the DDT queue, then writes to the DDT's mailbox.

        A retried attempt is harmless: RemindCase is idempotent per level, and the email
        goes out again under the same Message-ID (one per request and level).
        """
        view = request.view
        case = await _call(
            self._clients.instruction.RemindCase(
                instruction_pb2.RemindCaseRequest(
                    request_number=view.request_number, level=request.level
                ),
                timeout=GRPC_DEADLINE_SECONDS,
            )
        )
        department = view.address.department if view.address else case.department
        mailbox = self._settings.ddt_mailbox_pattern.format(department=department)
        message = messages.instruction_reminder(
            view, request.level, mailbox, request.in_instruction_since, request.waited
        )
        emailed = True
        try:
            await self._deliver(message)
        except aiosmtplib.SMTPRecipientsRefused:
            # The case is marked overdue in the queue all the same: the reminder counts.
            activity.logger.warning("DDT mailbox refused the reminder: %s", mailbox)
            emailed = False
        return InstructionReminded(
            level=request.level, reminders=case.reminders, mailbox=mailbox, emailed=emailed
        )

    # ---- title journey -----------------------------------------------------------

    @activity.defn
    async def check_exam_passed(self, request: CheckExamPassed) -> ExamCheck:
        """Is a PASS recorded by an examiner for this NEPH and category? (A NEPH without
        any result is not passed.)"""
        results = await _call(
            self._clients.instruction.ListExamResults(
                instruction_pb2.ListExamResultsRequest(neph=request.neph),
                timeout=GRPC_DEADLINE_SECONDS,
            )
        )
        # Newest first: the first pass found is the latest one.
        for result in results.results:
            if result.passed and result.category == request.category.value:
                return ExamCheck(
                    passed=True, exam_date=result.exam_date, examiner_id=result.examiner_id
                )
        return ExamCheck(passed=False)

    @activity.defn
    async def order_title(self, request: OrderTitle) -> TitleState:
        """Orders the card; idempotent per request number (a retry gets the same card)."""
        title = await _call(
            self._clients.production.OrderTitle(
                production_pb2.OrderTitleRequest(
                    request_number=request.request_number,
                    workflow_id=request.workflow_id,
                    neph=request.neph,
                    category=request.category.value,
                    family_name=request.family_name,
                    given_names=request.given_names,
                    address_line=request.address_line,
                    first_licence=request.first_licence,
                ),
                timeout=GRPC_DEADLINE_SECONDS,
            )
        )
        return _title_state(title)

    @activity.defn
    async def ship_again(self, request: ShipTitleAgain) -> TitleState:
        """Has a returned card posted again; idempotent per (request number, attempt)."""
        title = await _call(
            self._clients.production.ShipAgain(
                production_pb2.ShipAgainRequest(
                    request_number=request.request_number, attempt=request.attempt
                ),
                timeout=GRPC_DEADLINE_SECONDS,
            )
        )
        return _title_state(title)

    @activity.defn
    async def destroy_title(self, request: DestroyTitle) -> TitleState:
        """Has an unclaimed card destroyed; idempotent."""
        title = await _call(
            self._clients.production.DestroyTitle(
                production_pb2.DestroyTitleRequest(
                    request_number=request.request_number, reason=request.reason
                ),
                timeout=GRPC_DEADLINE_SECONDS,
            )
        )
        return _title_state(title)

    def all(self) -> list[Callable[..., Any]]:
        """Every activity, for ``Worker(activities=...)``."""
        return [
            self.consume_photo_code,
            self.send_email,
            self.pre_check,
            self.enqueue_for_instruction,
            self.render_attestation,
            self.render_receipt,
            self.withdraw_from_instruction,
            self.remind_instruction,
            self.check_exam_passed,
            self.order_title,
            self.ship_again,
            self.destroy_title,
        ]


def _title_state(title: production_pb2.Title) -> TitleState:
    return TitleState(
        request_number=title.request_number,
        state=title.state,
        tracking_number=title.tracking_number,
        shipments=title.shipments,
    )
