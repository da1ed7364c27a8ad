"""Shared by the workflow tests and ``record_histories``: stand-in activities and journeys.

The stand-ins are registered under the real activities' names, so the workflow runs
unchanged while the test sees every call (and can make one fail like a service would).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
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
    InstructionReminded,
    InstructionWithdrawn,
    Motif,
    MotifStep,
    Outcome,
    PhotoCodeConsumed,
    PhotoStep,
    PreCheckOutcome,
    PreCheckVerdict,
    ReceiptRendered,
    RemindInstruction,
    RenderAttestation,
    RenderReceipt,
    RequestView,
    Stage,
    StartInscription,
    WithdrawFromInstruction,
)

T = TypeVar("T")
Handle = WorkflowHandle[InscriptionWorkflow, RequestView]
# Any journey with the shared procedure (inscription, title): same ``view`` query.
AnyJourney = WorkflowHandle[Any, RequestView]

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
        self.receipts: list[RenderReceipt] = []
        self.withdrawn: list[WithdrawFromInstruction] = []
        self.reminders: list[RemindInstruction] = []
        # A test holds an activity by putting a closed gate under its name here: the
        # stand-in then waits for it; ``started[name]`` is set when the activity begins.
        self.gates: dict[str, asyncio.Event] = {}
        self.started: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self.receipt_refused = False

    async def _enter(self, name: str) -> None:
        self.started[name].set()
        gate = self.gates.get(name)
        if gate is not None:
            await gate.wait()

    def hold(self, name: str) -> asyncio.Event:
        """Holds activity ``name`` until the returned event is set."""
        self.gates[name] = asyncio.Event()
        return self.gates[name]

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
        await self._enter("pre_check")
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
        await self._enter("render_attestation")
        return AttestationRendered(document_id=f"att-{request.view.request_number}")

    @activity.defn(name="render_receipt")
    async def render_receipt(self, request: RenderReceipt) -> ReceiptRendered:
        self.receipts.append(request)
        if self.receipt_refused:
            error = PermisError(ErrorCode.INVALID_FIELD, details={"field": "category"})
            raise ApplicationError(error.message, type=error.code.value, non_retryable=True)
        return ReceiptRendered(document_id=f"rcp-{request.view.request_number}")

    @activity.defn(name="withdraw_from_instruction")
    async def withdraw_from_instruction(
        self, request: WithdrawFromInstruction
    ) -> InstructionWithdrawn:
        self.withdrawn.append(request)
        await self._enter("withdraw_from_instruction")
        return InstructionWithdrawn(request_number=request.request_number, state="withdrawn")

    @activity.defn(name="remind_instruction")
    async def remind_instruction(self, request: RemindInstruction) -> InstructionReminded:
        self.reminders.append(request)
        department = request.view.address.department if request.view.address else ""
        return InstructionReminded(
            level=request.level,
            reminders=request.level,
            mailbox=f"ddt-{department}@permis.example.fr",
        )

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.consume_photo_code,
            self.send_email,
            self.pre_check,
            self.enqueue_for_instruction,
            self.render_attestation,
            self.render_receipt,
            self.withdraw_from_instruction,
            self.remind_instruction,
        ]

    def email_keys(self) -> list[str]:
        return [message.idempotency_key for message in self.emails]


def new_task_queue() -> str:
    return f"test-inscription-{uuid.uuid4().hex[:8]}"


@asynccontextmanager
async def running_worker(  # type: ignore[no-untyped-def]
    client: Client,
    fake: FakeServices,
    task_queue: str = "",
    *,
    cache: bool = True,
    legacy: bool = False,
):
    """A worker on a task queue of its own (unless given one); yields the queue's name.

    ``cache=False`` keeps no workflow in memory, hence no sticky queue: another worker
    on the same queue picks the journey up at once after this one stops.
    ``legacy=True`` activates no ``workflow.patched`` branch: the journeys it runs behave,
    and write history, like journeys started by the code before the patches.
    """
    task_queue = task_queue or new_task_queue()
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[InscriptionWorkflow],
        activities=fake.all(),
        max_cached_workflows=100 if cache else 0,
        patch_activation_callback=(lambda _: False) if legacy else None,
    ):
        yield task_queue


async def start_journey(
    client: Client,
    task_queue: str,
    *,
    reminder_after: timedelta | None = None,
    escalation_after: timedelta | None = None,
    task_timeout: timedelta | None = None,
) -> Handle:
    """Starts a journey; the DDT delays default to the model's (15 and 30 days).

    A short ``task_timeout`` bounds the wait when a stopped worker's last poll was still
    handed a workflow task (it is retried on the next worker once that task times out).
    """
    request_number = new_request_number(datetime.now(UTC))
    delays: dict[str, timedelta] = {}
    if reminder_after is not None:
        delays["instruction_reminder_after"] = reminder_after
    if escalation_after is not None:
        delays["instruction_escalation_after"] = escalation_after
    start = StartInscription.model_validate(
        {
            "request_number": request_number,
            "account_id": f"acc-{uuid.uuid4().hex[:8]}",
            "account_email": "compte@example.fr",
            **delays,
        }
    )
    return await client.start_workflow(
        InscriptionWorkflow.run,
        start,
        id=inscription_workflow_id(request_number),
        task_queue=task_queue,
        task_timeout=task_timeout,
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
    handle: Handle,
    *,
    birth_date: date = ADULT_BIRTH_DATE,
    code: str = "",
    category: Category = Category.B,
) -> RequestView:
    await handle.execute_update(InscriptionWorkflow.set_motif, motif_step(category))
    await handle.execute_update(InscriptionWorkflow.set_civil_status, civil_status(birth_date))
    await handle.execute_update(InscriptionWorkflow.set_address, address())
    return await handle.execute_update(
        InscriptionWorkflow.set_photo_code, PhotoStep(photo_code=code or photo_code())
    )


async def fill_draft(
    handle: Handle, *, code: str = "", category: Category = Category.B
) -> RequestView:
    """Every step of an adult's first registration (category B by default), ready to submit."""
    view = await fill_until_photo(handle, code=code, category=category)
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


async def wait_for_stage(handle: AnyJourney, stage: Stage, within: float = 10.0) -> RequestView:
    return await wait_for_view(handle, lambda view: view.stage is stage, within)


async def wait_for_view(
    handle: AnyJourney, predicate: Callable[[RequestView], bool], within: float = 10.0
) -> RequestView:
    """Polls the view until ``predicate`` holds (the journey moves on by itself)."""
    async with asyncio.timeout(within):
        for _ in iter(int, 1):
            view = await handle.query(InscriptionWorkflow.view)
            if predicate(view):
                return view
            await asyncio.sleep(0.05)
    raise AssertionError("unreachable")


def verdict(agent_id: str = "agent-ctn-07") -> PreCheckVerdict:
    """A CTN agent's finding that the request is not compliant."""
    return PreCheckVerdict(
        agent_id=agent_id,
        decided_at=datetime(2025, 11, 27, 14, 0, tzinfo=UTC),
        findings=[
            Finding(
                code="document_expired",
                message="Le justificatif de domicile date de plus de 6 mois.",
                field="proof_of_address",
            )
        ],
    )


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
