"""Shared by the title and delivery tests and ``record_histories``: stand-in activities
(the inscription's, plus the exam check and the production service's) and journeys."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from services.common.errors import ErrorCode, PermisError
from services.common.requirements import Applicant, required_documents
from tests.workflows.delivery_parent import StandInTitleJourney
from tests.workflows.inscription_scenarios import (
    ADULT_BIRTH_DATE,
    NEPH,
    FakeServices,
    address,
    civil_status,
    document,
    new_task_queue,
    photo_code,
)
from workflows.delivery import TitleDeliveryWorkflow
from workflows.ids import delivery_workflow_id, new_request_number, title_workflow_id
from workflows.models import (
    Category,
    CheckExamPassed,
    DeliveryView,
    DestroyTitle,
    ExamCheck,
    Journey,
    OrderTitle,
    PartnerEventSignal,
    PartnerEventType,
    PhotoStep,
    RequestView,
    ResendRequested,
    ShipTitleAgain,
    StartDelivery,
    StartTitle,
    TitleMotif,
    TitleMotifStep,
    TitleState,
)
from workflows.title import TitleWorkflow

TitleHandle = WorkflowHandle[TitleWorkflow, RequestView]
DeliveryHandle = WorkflowHandle[TitleDeliveryWorkflow, DeliveryView]
TRACKING = "LP12345678901FR"
SECOND_TRACKING = "LP98765432109FR"


class FakeTitleServices(FakeServices):
    """The inscription's stand-ins, plus the examiner's results and the production service."""

    def __init__(self, *, exam_passed: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.exam_passed = exam_passed
        self.exam_checks: list[CheckExamPassed] = []
        self.orders: list[OrderTitle] = []
        self.shipped: list[ShipTitleAgain] = []
        self.destroyed: list[DestroyTitle] = []

    @activity.defn(name="check_exam_passed")
    async def check_exam_passed(self, request: CheckExamPassed) -> ExamCheck:
        self.exam_checks.append(request)
        if not self.exam_passed:
            return ExamCheck(passed=False)
        return ExamCheck(passed=True, exam_date="2025-10-14", examiner_id="ipcsr-69-04")

    @activity.defn(name="order_title")
    async def order_title(self, request: OrderTitle) -> TitleState:
        self.orders.append(request)
        return TitleState(request_number=request.request_number, state="ordered")

    @activity.defn(name="ship_again")
    async def ship_again(self, request: ShipTitleAgain) -> TitleState:
        self.shipped.append(request)
        return TitleState(
            request_number=request.request_number, state="posted", shipments=request.attempt + 1
        )

    @activity.defn(name="destroy_title")
    async def destroy_title(self, request: DestroyTitle) -> TitleState:
        self.destroyed.append(request)
        if request.request_number.endswith("REFUSED"):
            error = PermisError(ErrorCode.TITLE_EVENT_OUT_OF_ORDER)
            raise ApplicationError(error.message, type=error.code.value, non_retryable=True)
        return TitleState(request_number=request.request_number, state="destroyed")

    def all(self) -> list[Callable[..., Any]]:
        return [
            *super().all(),
            self.check_exam_passed,
            self.order_title,
            self.ship_again,
            self.destroy_title,
        ]


TITLE_WORKFLOWS = (TitleWorkflow, TitleDeliveryWorkflow)
DELIVERY_WORKFLOWS = (StandInTitleJourney, TitleDeliveryWorkflow)


@asynccontextmanager
async def running_title_worker(  # type: ignore[no-untyped-def]
    client: Client,
    fake: FakeTitleServices,
    task_queue: str = "",
    *,
    workflows: Sequence[type] = TITLE_WORKFLOWS,
):
    """A worker for the title journey (and its delivery child) on a queue of its own."""
    task_queue = task_queue or new_task_queue()
    async with Worker(client, task_queue=task_queue, workflows=workflows, activities=fake.all()):
        yield task_queue


async def start_title(client: Client, task_queue: str) -> TitleHandle:
    request_number = new_request_number(datetime.now(UTC))
    start = StartTitle(
        request_number=request_number,
        account_id=f"acc-{uuid.uuid4().hex[:8]}",
        account_email="compte@example.fr",
    )
    return await client.start_workflow(
        TitleWorkflow.run, start, id=title_workflow_id(request_number), task_queue=task_queue
    )


def title_motif(
    motif: TitleMotif = TitleMotif.EXAM_SUCCESS_FIRST_TITLE,
    category: Category = Category.B,
    neph: str = NEPH,
) -> TitleMotifStep:
    return TitleMotifStep(motif=motif, category=category, neph=neph)


def title_documents(step: TitleMotifStep, birth_date: date = ADULT_BIRTH_DATE) -> list[str]:
    """The documents the requirements engine asks of an adult for this title motif."""
    applicant = Applicant(step.motif, step.category, birth_date, journey=Journey.TITLE)
    return [kind.value for kind in required_documents(applicant, datetime.now(UTC).date())]


async def fill_title_draft(
    handle: TitleHandle,
    step: TitleMotifStep | None = None,
    *,
    birth_date: date = ADULT_BIRTH_DATE,
) -> RequestView:
    """Every step of an adult's title request, with every required document."""
    await handle.execute_update(TitleWorkflow.set_motif, step or title_motif())
    await handle.execute_update(TitleWorkflow.set_civil_status, civil_status(birth_date))
    await handle.execute_update(TitleWorkflow.set_address, address())
    view = await handle.execute_update(
        TitleWorkflow.set_photo_code, PhotoStep(photo_code=photo_code())
    )
    for kind in view.required_documents:
        view = await handle.execute_update(TitleWorkflow.add_document, document(kind))
    return view


def partner_event(
    kind: PartnerEventType,
    at: datetime | None = None,
    *,
    tracking_number: str = "",
    event_id: str = "",
) -> PartnerEventSignal:
    return PartnerEventSignal(
        event_id=event_id or f"evt-{uuid.uuid4().hex[:12]}",
        type=kind,
        occurred_at=at or datetime.now(UTC),
        tracking_number=tracking_number,
        partner="imprimerie" if kind is PartnerEventType.MANUFACTURED else "la-poste",
    )


def resend(at: datetime | None = None, agent_id: str = "ccc-agent-12") -> ResendRequested:
    return ResendRequested(agent_id=agent_id, requested_at=at or datetime.now(UTC))


def delivery_handle(client: Client, request_number: str) -> DeliveryHandle:
    return client.get_workflow_handle_for(
        TitleDeliveryWorkflow.run, delivery_workflow_id(request_number)
    )


async def wait_for_delivery(
    handle: DeliveryHandle, predicate: Callable[[DeliveryView], bool], within: float = 10.0
) -> DeliveryView:
    """Polls the delivery journey's view until ``predicate`` holds."""
    async with asyncio.timeout(within):
        for _ in iter(int, 1):
            try:
                view = await handle.query(TitleDeliveryWorkflow.view)
            except Exception:  # not started yet (the parent starts it)
                view = None
            if view is not None and predicate(view):
                return view
            await asyncio.sleep(0.05)
    raise AssertionError("unreachable")


async def start_delivery(
    client: Client, task_queue: str, *, request_number: str = ""
) -> tuple[WorkflowHandle[StandInTitleJourney, DeliveryView], DeliveryHandle]:
    """The delivery journey under a stand-in title journey: (parent, child) handles."""
    number = request_number or new_request_number(datetime.now(UTC))
    parent = await client.start_workflow(
        StandInTitleJourney.run,
        StartDelivery(request_number=number),
        id=f"stand-in-{number}",
        task_queue=task_queue,
    )
    child = delivery_handle(client, number)
    await wait_for_delivery(child, lambda _: True)
    return parent, child
