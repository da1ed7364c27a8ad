"""Shared by the workflow tests and ``record_histories``: stand-in activities and journeys.

The stand-ins are registered under the real activities' names, so the workflow runs
unchanged while the test sees every call (and can make one fail like a service would).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from temporalio import activity
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from services.common.errors import ErrorCode, PermisError
from workflows.ids import inscription_workflow_id, new_request_number
from workflows.inscription import InscriptionWorkflow
from workflows.models import (
    AddressStep,
    AttestationRendered,
    Category,
    CivilStatusStep,
    ConsumePhotoCode,
    Decision,
    DocumentAdded,
    DocumentKind,
    EmailMessage,
    EmailSent,
    EnqueueForInstruction,
    Finding,
    InstructionEnqueued,
    Motif,
    MotifStep,
    Outcome,
    PhotoCodeConsumed,
    PhotoStep,
    PreCheckOutcome,
    RenderAttestation,
    RequestView,
    Stage,
    StartInscription,
)

T = TypeVar("T")
Handle = WorkflowHandle[InscriptionWorkflow, RequestView]

NEPH = "250169010001"
ADULT_BIRTH_DATE = date(1990, 5, 17)


def photo_code() -> str:
    return uuid.uuid4().hex[:22].upper()


class FakeServices:
    """The five services as the journey sees them, in memory."""

    def __init__(self, *, compliant: bool = True, spent_codes: set[str] | None = None) -> None:
        self.compliant = compliant
        self.spent_codes = set(spent_codes or ())  # codes another request already used
        self.consumed: dict[str, str] = {}  # code -> request number
        self.emails: list[EmailMessage] = []
        self.checked: list[RequestView] = []
        self.enqueued: list[EnqueueForInstruction] = []
        self.rendered: list[RenderAttestation] = []

    @activity.defn(name="consume_photo_code")
    async def consume_photo_code(self, request: ConsumePhotoCode) -> PhotoCodeConsumed:
        owner = self.consumed.get(request.code)
        if request.code in self.spent_codes or owner not in (None, request.request_number):
            error = PermisError(ErrorCode.PHOTO_CODE_USED)
            raise ApplicationError(error.message, type=error.code.value, non_retryable=True)
        self.consumed[request.code] = request.request_number
        return PhotoCodeConsumed(code=request.code, consumed_by=request.request_number)

    @activity.defn(name="send_email")
    async def send_email(self, message: EmailMessage) -> EmailSent:
        self.emails.append(message)
        return EmailSent(message_id=f"<{message.idempotency_key}@permis.example.fr>")

    @activity.defn(name="pre_check")
    async def pre_check(self, view: RequestView) -> PreCheckOutcome:
        self.checked.append(view)
        if self.compliant:
            return PreCheckOutcome(compliant=True)
        return PreCheckOutcome(
            compliant=False,
            findings=[
                Finding(
                    code="unreadable_document",
                    message="Le justificatif de domicile est illisible.",
                    field="proof_of_address",
                )
            ],
        )

    @activity.defn(name="enqueue_for_instruction")
    async def enqueue_for_instruction(self, request: EnqueueForInstruction) -> InstructionEnqueued:
        self.enqueued.append(request)
        return InstructionEnqueued(request_number=request.view.request_number, state="pending")

    @activity.defn(name="render_attestation")
    async def render_attestation(self, request: RenderAttestation) -> AttestationRendered:
        self.rendered.append(request)
        return AttestationRendered(document_id=f"att-{request.view.request_number}")

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.consume_photo_code,
            self.send_email,
            self.pre_check,
            self.enqueue_for_instruction,
            self.render_attestation,
        ]

    def email_keys(self) -> list[str]:
        return [message.idempotency_key for message in self.emails]


def new_task_queue() -> str:
    return f"test-inscription-{uuid.uuid4().hex[:8]}"


@asynccontextmanager
async def running_worker(  # type: ignore[no-untyped-def]
    client: Client, fake: FakeServices, task_queue: str = "", *, cache: bool = True
):
    """A worker on a task queue of its own (unless given one); yields the queue's name.

    ``cache=False`` keeps no workflow in memory, hence no sticky queue: another worker
    on the same queue picks the journey up at once after this one stops.
    """
    task_queue = task_queue or new_task_queue()
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[InscriptionWorkflow],
        activities=fake.all(),
        max_cached_workflows=100 if cache else 0,
    ):
        yield task_queue


async def start_journey(client: Client, task_queue: str) -> Handle:
    request_number = new_request_number(datetime.now(UTC))
    start = StartInscription(
        request_number=request_number,
        account_id=f"acc-{uuid.uuid4().hex[:8]}",
        account_email="compte@example.fr",
    )
    return await client.start_workflow(
        InscriptionWorkflow.run,
        start,
        id=inscription_workflow_id(request_number),
        task_queue=task_queue,
    )


def motif_step(category: Category = Category.B) -> MotifStep:
    return MotifStep(motif=Motif.FIRST_REGISTRATION, category=category)


def civil_status(birth_date: date = ADULT_BIRTH_DATE) -> CivilStatusStep:
    return CivilStatusStep(
        family_name="Dupont",
        given_names="Léa Marie",
        birth_date=birth_date,
        birth_place="Lyon",
        sex="F",
    )


def address() -> AddressStep:
    return AddressStep(
        street="12 rue de la République",
        postal_code="69002",
        city="Lyon",
        email="lea.dupont@example.fr",
        mobile_phone="06 12 34 56 78",
    )


def document(kind: DocumentKind) -> DocumentAdded:
    return DocumentAdded(
        document_id=f"doc-{kind.value}-{uuid.uuid4().hex[:6]}",
        kind=kind,
        content_type="application/pdf",
        sha256="0" * 64,
        size=1234,
    )


async def fill_until_photo(
    handle: Handle, *, birth_date: date = ADULT_BIRTH_DATE, code: str = ""
) -> RequestView:
    await handle.execute_update(InscriptionWorkflow.set_motif, motif_step())
    await handle.execute_update(InscriptionWorkflow.set_civil_status, civil_status(birth_date))
    await handle.execute_update(InscriptionWorkflow.set_address, address())
    return await handle.execute_update(
        InscriptionWorkflow.set_photo_code, PhotoStep(photo_code=code or photo_code())
    )


async def fill_draft(handle: Handle, *, code: str = "") -> RequestView:
    """Every step of an adult's first registration in category B, ready to submit."""
    view = await fill_until_photo(handle, code=code)
    for kind in view.required_documents:
        view = await handle.execute_update(InscriptionWorkflow.add_document, document(kind))
    return view


def decision(outcome: Outcome, *, reason: str = "") -> Decision:
    return Decision(
        outcome=outcome,
        instructor_id="instructeur-69-01",
        decided_at=datetime(2025, 11, 26, 9, 30, tzinfo=UTC),
        reason_code="" if outcome is Outcome.ACCEPTED else "inconsistent_data",
        reason_text=reason,
        neph=NEPH if outcome is Outcome.ACCEPTED else "",
    )


async def wait_for_stage(handle: Handle, stage: Stage, within: float = 10.0) -> RequestView:
    async with asyncio.timeout(within):
        for _ in iter(int, 1):  # poll: the stage moves on when an activity completes
            view = await handle.query(InscriptionWorkflow.view)
            if view.stage is stage:
                return view
            await asyncio.sleep(0.05)
    raise AssertionError("unreachable")


async def refused(update: Awaitable[T]) -> ApplicationError:
    """The ApplicationError an update was refused with."""
    try:
        await update
    except WorkflowUpdateFailedError as error:
        assert isinstance(error.cause, ApplicationError), error.cause
        return error.cause
    raise AssertionError("the update was accepted")


async def journey_to_decision(
    client: Client, task_queue: str, outcome: Outcome
) -> tuple[Handle, RequestView]:
    """A whole journey, from start to the decision; returns the handle and the result."""
    handle = await start_journey(client, task_queue)
    await fill_draft(handle)
    await handle.execute_update(InscriptionWorkflow.submit)
    await wait_for_stage(handle, Stage.IN_INSTRUCTION)
    reason = "" if outcome is Outcome.ACCEPTED else "Les données d'état civil sont incohérentes."
    await handle.execute_update(
        InscriptionWorkflow.record_decision, decision(outcome, reason=reason)
    )
    return handle, await handle.result()
