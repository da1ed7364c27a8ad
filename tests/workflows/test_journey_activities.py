"""The activities against real transports: a gRPC server of stand-in services, the SMTP sink."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import grpc
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from deploy.local import processes
from permis.common.v1 import dossier_pb2
from permis.ctn.v1 import ctn_pb2, ctn_pb2_grpc
from permis.documents.v1 import documents_pb2, documents_pb2_grpc
from permis.instruction.v1 import instruction_pb2, instruction_pb2_grpc
from permis.photocode.v1 import photocode_pb2, photocode_pb2_grpc
from services.common.clients import ServiceClients
from services.common.errors import ErrorCode, PermisError
from services.common.grpc_server import ServiceDefinition, start_server
from services.common.settings import Settings
from tests.workflows.inscription_scenarios import NEPH, address, civil_status, document, motif_step
from workflows.activities import JourneyActivities
from workflows.models import (
    ConsumePhotoCode,
    DocumentKind,
    EmailMessage,
    EnqueueForInstruction,
    Journey,
    RemindInstruction,
    RenderAttestation,
    RenderReceipt,
    RequestView,
    Stage,
    WithdrawFromInstruction,
)

SPENT = "A" * 22
UNKNOWN_CASE = "2511UNKNWN00"


class PhotoCodes(photocode_pb2_grpc.PhotoCodeServiceServicer):
    async def ConsumeCode(
        self, request: photocode_pb2.ConsumeCodeRequest, context: grpc.aio.ServicerContext
    ) -> photocode_pb2.PhotoCode:
        if request.code == SPENT:
            raise PermisError(ErrorCode.PHOTO_CODE_USED)
        return photocode_pb2.PhotoCode(code=request.code, consumed_by=request.request_number)


class Ctn(ctn_pb2_grpc.PreCheckServiceServicer):
    def __init__(self) -> None:
        self.dossiers: list[dossier_pb2.Dossier] = []
        self.workflow_ids: list[str] = []

    async def CheckDossier(
        self, request: ctn_pb2.CheckDossierRequest, context: grpc.aio.ServicerContext
    ) -> ctn_pb2.PreCheckResult:
        self.dossiers.append(request.dossier)
        self.workflow_ids.append(request.workflow_id)
        return ctn_pb2.PreCheckResult(
            request_number=request.dossier.request_number,
            compliant=False,
            findings=[ctn_pb2.Finding(code="blurred", message="Photo floue.", field="photo")],
        )


class Instruction(instruction_pb2_grpc.InstructionServiceServicer):
    def __init__(self) -> None:
        self.withdrawals: list[instruction_pb2.WithdrawCaseRequest] = []
        self.reminders: list[instruction_pb2.RemindCaseRequest] = []

    async def WithdrawCase(
        self, request: instruction_pb2.WithdrawCaseRequest, context: grpc.aio.ServicerContext
    ) -> instruction_pb2.InstructionCase:
        if request.request_number == UNKNOWN_CASE:
            raise PermisError(ErrorCode.CASE_NOT_FOUND)
        self.withdrawals.append(request)
        return instruction_pb2.InstructionCase(
            request_number=request.request_number,
            state="withdrawn",
            withdrawn_reason=request.reason,
        )

    async def RemindCase(
        self, request: instruction_pb2.RemindCaseRequest, context: grpc.aio.ServicerContext
    ) -> instruction_pb2.InstructionCase:
        self.reminders.append(request)
        return instruction_pb2.InstructionCase(
            request_number=request.request_number,
            department="69",
            state="pending",
            reminders=request.level,
        )

    async def EnqueueCase(
        self, request: instruction_pb2.EnqueueCaseRequest, context: grpc.aio.ServicerContext
    ) -> instruction_pb2.InstructionCase:
        return instruction_pb2.InstructionCase(
            request_number=request.dossier.request_number,
            workflow_id=request.workflow_id,
            department=request.dossier.address.department,
            state="pending",
        )


class Documents(documents_pb2_grpc.DocumentServiceServicer):
    def __init__(self) -> None:
        self.requests: list[documents_pb2.RenderAttestationRequest] = []
        self.receipts: list[documents_pb2.RenderReceiptRequest] = []

    async def RenderReceipt(
        self, request: documents_pb2.RenderReceiptRequest, context: grpc.aio.ServicerContext
    ) -> documents_pb2.Document:
        self.receipts.append(request)
        return documents_pb2.Document(document_id="doc-receipt-1", kind="deposit_receipt")

    async def RenderAttestation(
        self, request: documents_pb2.RenderAttestationRequest, context: grpc.aio.ServicerContext
    ) -> documents_pb2.Document:
        self.requests.append(request)
        return documents_pb2.Document(document_id="doc-attestation-1")


class Stack:
    def __init__(
        self,
        activities: JourneyActivities,
        ctn: Ctn,
        documents: Documents,
        instruction: Instruction,
        settings: Settings,
    ) -> None:
        self.activities, self.ctn, self.documents = activities, ctn, documents
        self.instruction, self.settings = instruction, settings


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    ctn, documents, instruction = Ctn(), Documents(), Instruction()
    definitions = [
        ServiceDefinition(
            "permis.photocode.v1.PhotoCodeService",
            lambda s: photocode_pb2_grpc.add_PhotoCodeServiceServicer_to_server(PhotoCodes(), s),
        ),
        ServiceDefinition(
            "permis.ctn.v1.PreCheckService",
            lambda s: ctn_pb2_grpc.add_PreCheckServiceServicer_to_server(ctn, s),
        ),
        ServiceDefinition(
            "permis.instruction.v1.InstructionService",
            lambda s: instruction_pb2_grpc.add_InstructionServiceServicer_to_server(instruction, s),
        ),
        ServiceDefinition(
            "permis.documents.v1.DocumentService",
            lambda s: documents_pb2_grpc.add_DocumentServiceServicer_to_server(documents, s),
        ),
    ]
    server, port = await start_server(definitions, "127.0.0.1:0")
    address_ = f"127.0.0.1:{port}"
    settings = Settings(
        photocode_address=address_,
        ctn_address=address_,
        instruction_address=address_,
        documents_address=address_,
    )
    clients = ServiceClients(settings)
    try:
        yield Stack(JourneyActivities(settings, clients), ctn, documents, instruction, settings)
    finally:
        await clients.close()
        await server.stop(None)


def submitted_view() -> RequestView:
    now = datetime(2025, 11, 26, 10, 0, tzinfo=UTC)
    return RequestView(
        request_number="2511ABCDEFGH",
        journey=Journey.INSCRIPTION,
        account_id="acc-1",
        stage=Stage.SUBMITTED,
        stage_label="Demande déposée",
        created_at=now,
        motif=motif_step(),
        civil_status=civil_status(),
        address=address(),
        photo_code="B" * 22,
        documents=[
            document(DocumentKind.IDENTITY_PROOF),
            document(DocumentKind.PROOF_OF_ADDRESS).model_copy(
                update={"issued_on": date(2025, 10, 3)}
            ),
        ],
        submitted_at=now,
    )


async def test_consume_photo_code(stack: Stack) -> None:
    env = ActivityEnvironment()
    consumed = await env.run(
        stack.activities.consume_photo_code, ConsumePhotoCode(code="B" * 22, request_number="R1")
    )
    assert consumed.consumed_by == "R1"

    # A business refusal crosses gRPC and becomes a final, typed ApplicationError.
    with pytest.raises(ApplicationError) as refused:
        await env.run(
            stack.activities.consume_photo_code, ConsumePhotoCode(code=SPENT, request_number="R1")
        )
    assert refused.value.type == ErrorCode.PHOTO_CODE_USED.value
    assert refused.value.non_retryable
    assert "déjà été utilisé" in refused.value.message


async def test_unreachable_service_is_left_to_retry() -> None:
    settings = Settings(photocode_address=f"127.0.0.1:{processes.free_port()}")
    clients = ServiceClients(settings)
    try:
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await ActivityEnvironment().run(
                JourneyActivities(settings, clients).consume_photo_code,
                ConsumePhotoCode(code="B" * 22, request_number="R1"),
            )
    finally:
        await clients.close()
    assert failure.value.code() is grpc.StatusCode.UNAVAILABLE


async def test_pre_check_enqueue_and_attestation(stack: Stack) -> None:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_id="inscription-2511ABCDEFGH")
    view = submitted_view()
    outcome = await env.run(stack.activities.pre_check, view)
    assert not outcome.compliant
    assert [(f.code, f.message, f.field) for f in outcome.findings] == [
        ("blurred", "Photo floue.", "photo")
    ]
    dossier = stack.ctn.dossiers[0]
    assert dossier.request_number == "2511ABCDEFGH"
    assert dossier.address.department == "69"
    assert dossier.civil_status.birth_date == "1990-05-17"
    # The CTN learns which journey to tell, and the declared issue dates.
    assert stack.ctn.workflow_ids == ["inscription-2511ABCDEFGH"]
    assert [(d.kind, d.issued_on) for d in dossier.documents] == [
        ("identity_proof", ""),
        ("proof_of_address", "2025-10-03"),
    ]

    enqueued = await env.run(
        stack.activities.enqueue_for_instruction,
        EnqueueForInstruction(workflow_id="inscription-2511ABCDEFGH", view=view),
    )
    assert (enqueued.request_number, enqueued.department) == ("2511ABCDEFGH", "69")

    decided = datetime(2025, 12, 1, 9, 0, tzinfo=UTC)
    rendered = await env.run(
        stack.activities.render_attestation,
        RenderAttestation(view=view, neph=NEPH, decided_at=decided),
    )
    assert rendered.document_id == "doc-attestation-1"
    request = stack.documents.requests[0]
    assert (request.neph, request.category, request.family_name) == (NEPH, "B", "Dupont")
    assert request.address_line == "12 rue de la République, 69002 Lyon"
    assert request.decided_at == decided.isoformat()
    assert request.owner_account_id == "acc-1"


async def test_send_email_lands_in_the_sink(
    mail_sink: processes.ChildProcess, mail_dir: Path
) -> None:
    settings = Settings(smtp_host="127.0.0.1", smtp_port=mail_sink.ports["smtp"])
    activities = JourneyActivities(settings, ServiceClients(settings))
    key = f"inscription-2511TEST{datetime.now(UTC):%H%M%S%f}.confirmation"
    message = EmailMessage(
        to="lea.dupont@example.fr",
        subject="Confirmation de l'enregistrement de votre demande n° 2511ABCDEFGH",
        body="Bonjour Léa,\nVotre demande a été enregistrée. À bientôt.",
        idempotency_key=key,
    )
    sent = await ActivityEnvironment().run(activities.send_email, message)
    assert sent.message_id == f"<{key}@permis.example.fr>"

    entries = [json.loads(line) for line in (mail_dir / "index.jsonl").read_text().splitlines()]
    entry = next(e for e in entries if e["message_id"] == sent.message_id)
    assert entry["subject"] == message.subject
    assert entry["to"] == ["lea.dupont@example.fr"]
    received = message_from_bytes((mail_dir / entry["file"]).read_bytes(), policy=policy.default)
    assert received["From"] == settings.mail_from
    assert received.get_content_type() == "text/plain"
    assert received.get_content_charset() == "utf-8"
    body = received.get_content()  # type: ignore[attr-defined]
    assert body.replace("\r\n", "\n").strip() == message.body


async def test_a_retried_email_is_delivered_once(
    mail_sink: processes.ChildProcess, mail_dir: Path
) -> None:
    """A retried attempt (a worker killed after the SMTP server took the message) sends
    it again under the same Message-ID: the server keeps the first, notes the repeat."""
    settings = Settings(smtp_host="127.0.0.1", smtp_port=mail_sink.ports["smtp"])
    activities = JourneyActivities(settings, ServiceClients(settings))
    key = f"inscription-2511RETRY{datetime.now(UTC):%H%M%S%f}.decision"
    message = EmailMessage(
        to="lea.dupont@example.fr",
        subject="Votre demande n° 2511ABCDEFGH est acceptée",
        body="Bonjour Léa,\nVotre demande est acceptée.",
        idempotency_key=key,
    )
    first = await ActivityEnvironment().run(activities.send_email, message)
    again = await ActivityEnvironment().run(activities.send_email, message)
    assert first == again

    def lines(name: str) -> list[dict[str, object]]:
        path = mail_dir / name
        text = path.read_text() if path.exists() else ""
        return [json.loads(line) for line in text.splitlines()]

    delivered = [e for e in lines("index.jsonl") if e["message_id"] == first.message_id]
    repeats = [e for e in lines("duplicates.jsonl") if e["message_id"] == first.message_id]
    assert len(delivered) == 1
    assert [(r["first_file"], r["same_body"]) for r in repeats] == [(delivered[0]["file"], True)]


async def test_receipt_and_withdrawal(stack: Stack) -> None:
    env = ActivityEnvironment()
    view = submitted_view()
    rendered = await env.run(stack.activities.render_receipt, RenderReceipt(view=view))
    assert rendered.document_id == "doc-receipt-1"
    [receipt] = stack.documents.receipts
    assert (receipt.request_number, receipt.category, receipt.motif) == (
        "2511ABCDEFGH",
        "B",
        "first_registration",
    )
    assert (receipt.family_name, receipt.given_names, receipt.department) == (
        "Dupont",
        "Léa Marie",
        "69",
    )
    assert receipt.address_line == "12 rue de la République, 69002 Lyon"
    assert receipt.submitted_at == "2025-11-26T10:00:00+00:00"
    assert receipt.owner_account_id == "acc-1"

    withdrawn = await env.run(
        stack.activities.withdraw_from_instruction,
        WithdrawFromInstruction(request_number="2511ABCDEFGH", reason="Photo floue."),
    )
    assert (withdrawn.request_number, withdrawn.state) == ("2511ABCDEFGH", "withdrawn")
    assert stack.instruction.withdrawals[0].reason == "Photo floue."
    with pytest.raises(ApplicationError) as refused:
        await env.run(
            stack.activities.withdraw_from_instruction,
            WithdrawFromInstruction(request_number=UNKNOWN_CASE, reason="x"),
        )
    assert refused.value.type == ErrorCode.CASE_NOT_FOUND.value and refused.value.non_retryable


async def test_remind_instruction_marks_the_case_and_writes_to_the_ddt(
    stack: Stack, mail_sink: processes.ChildProcess, mail_dir: Path
) -> None:
    settings = stack.settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": mail_sink.ports["smtp"]}
    )
    activities = JourneyActivities(settings, ServiceClients(settings))
    number = f"2511{uuid.uuid4().hex[:8].upper()}"
    view = submitted_view().model_copy(update={"request_number": number})
    since = datetime(2025, 11, 26, 10, 5, tzinfo=UTC)
    reminded = await ActivityEnvironment().run(
        activities.remind_instruction,
        RemindInstruction(
            view=view, level=2, in_instruction_since=since, waited=timedelta(days=30)
        ),
    )
    assert (reminded.level, reminded.reminders, reminded.emailed) == (2, 2, True)
    assert reminded.mailbox == "ddt-69@permis.example.fr"
    assert [(r.request_number, r.level) for r in stack.instruction.reminders] == [(number, 2)]

    entries = [json.loads(line) for line in (mail_dir / "index.jsonl").read_text().splitlines()]
    entry = next(
        e
        for e in entries
        if e["message_id"] == f"<inscription-{number}.ddt-reminder-2@permis.example.fr>"
    )
    assert entry["to"] == ["ddt-69@permis.example.fr"]
    assert entry["subject"] == f"Escalade : demande n° {number} en attente de décision"
    received = message_from_bytes((mail_dir / entry["file"]).read_bytes(), policy=policy.default)
    body = received.get_content()  # type: ignore[attr-defined]
    assert "depuis le 26/11/2025, soit plus de 30 jours" in body
