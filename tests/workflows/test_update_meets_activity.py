"""An update that reaches the journey in the same workflow task as an activity's result.

The chaos test found tasks that replayed in another order than they ran (an update
sharing its task with a patch marker, two signals around a crash), a nondeterminism
error that blocks the journey after the next worker restart. The CTN verdict, the
operator's cancellation and the DDT decision can meet an activity's result in one task
too, typically when a worker comes back from an outage and finds both waiting. These
tests build exactly that: the activities run on a worker of their own, the workflow
worker is stopped while the held activity completes and the update waits on the server,
and the next workflow worker (no cache: every task replays) gets both in one task. The
history must show that shared task, and replay.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer, Worker

from services.common.payload_codec import data_converter
from tests.workflows.inscription_scenarios import (
    FakeServices,
    Handle,
    decision,
    fill_draft,
    new_task_queue,
    start_journey,
    verdict,
    wait_for_stage,
)
from workflows.inscription import InscriptionWorkflow
from workflows.models import (
    CancelRequest,
    EmailMessage,
    EmailSent,
    EnqueueForInstruction,
    InstructionEnqueued,
    Outcome,
    Stage,
)


class HeldServices(FakeServices):
    """Can also hold the enqueue, and the email whose event is ``held_event`` (the
    others go out at once)."""

    def __init__(self, held_event: str = "") -> None:
        super().__init__()
        self.held_event = held_event

    @activity.defn(name="send_email")
    async def send_email(self, message: EmailMessage) -> EmailSent:
        if message.idempotency_key.endswith(f".{self.held_event}"):
            await self._enter(f"send_email:{self.held_event}")
        return await super().send_email(message)

    @activity.defn(name="enqueue_for_instruction")
    async def enqueue_for_instruction(self, request: EnqueueForInstruction) -> InstructionEnqueued:
        await self._enter("enqueue_for_instruction")
        return await super().enqueue_for_instruction(request)


@asynccontextmanager
async def workflow_worker(client: Client, task_queue: str) -> AsyncIterator[None]:
    # No cache: every task replays the whole history, as after a worker restart.
    async with Worker(
        client, task_queue=task_queue, workflows=[InscriptionWorkflow], max_cached_workflows=0
    ):
        yield


def cancellation() -> CancelRequest:
    return CancelRequest(
        operator_id="operateur-12",
        reason="Demande faite en double",
        cancelled_at=datetime(2025, 11, 27, 10, 0, tzinfo=UTC),
    )


async def send_verdict(handle: Handle) -> object:
    return await handle.execute_update(InscriptionWorkflow.record_pre_check_verdict, verdict())


async def send_cancel(handle: Handle) -> object:
    return await handle.execute_update(InscriptionWorkflow.cancel, cancellation())


async def send_acceptance(handle: Handle) -> object:
    return await handle.execute_update(
        InscriptionWorkflow.record_decision, decision(Outcome.ACCEPTED)
    )


VERDICT = (send_verdict, "record_pre_check_verdict", Stage.REJECTED)
CANCEL = (send_cancel, "cancel", Stage.CANCELLED)
ACCEPTANCE = (send_acceptance, "record_decision", Stage.ACCEPTED)
# case -> (activity held, or the event of the email held; the update and where it ends)
CASES = {
    "verdict-meets-pre-check": ("pre_check", *VERDICT),
    "verdict-meets-enqueue": ("enqueue_for_instruction", *VERDICT),
    "verdict-meets-in-instruction-email": ("in-instruction", *VERDICT),
    "cancel-meets-confirmation-email": ("confirmation", *CANCEL),
    "cancel-meets-pre-check": ("pre_check", *CANCEL),
    "cancel-meets-enqueue": ("enqueue_for_instruction", *CANCEL),
    "decision-meets-in-instruction-email": ("in-instruction", *ACCEPTANCE),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_an_update_sharing_a_task_with_an_activity_result_replays(
    temporal_client: Client, case: str
) -> None:
    held, send, update_name, final_stage = CASES[case]
    is_email = "_" not in held
    fake = HeldServices(held if is_email else "")
    gate_name = f"send_email:{held}" if is_email else held
    gate = fake.hold(gate_name)
    task_queue = new_task_queue()
    async with Worker(temporal_client, task_queue=task_queue, activities=fake.all()):
        async with workflow_worker(temporal_client, task_queue):
            # A short task timeout: a task handed to the worker's last poll is retried soon.
            handle = await start_journey(
                temporal_client, task_queue, task_timeout=timedelta(seconds=2)
            )
            await fill_draft(handle)
            await handle.execute_update(InscriptionWorkflow.submit)
            await asyncio.wait_for(fake.started[gate_name].wait(), 10)
        # No workflow worker: the activity's result and the update wait on the server.
        gate.set()
        await wait_for_pending_activities(handle, 0)
        update: asyncio.Task[object] = asyncio.create_task(send(handle))
        await asyncio.sleep(1.0)  # the server holds the update (no worker saw it yet)
        async with workflow_worker(temporal_client, task_queue):
            await asyncio.wait_for(update, 30)
            view = await wait_for_stage(handle, final_stage, within=30)
            assert view.stage is final_stage
            await asyncio.wait_for(handle.result(), 30)

    history = await handle.fetch_history()
    # What this test means to build: one workflow task took both.
    assert results_sharing_a_task_with_updates(history) == {
        ("send_email" if is_email else held, update_name)
    }
    replayer = Replayer(workflows=[InscriptionWorkflow], data_converter=data_converter())
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


def results_sharing_a_task_with_updates(history: WorkflowHistory) -> set[tuple[str, str]]:
    """(activity, update) pairs whose result and acceptance fell in one workflow task."""
    activity_names: dict[int, str] = {}
    completed: list[str] = []  # activity results since the last completed workflow task
    pairs: set[tuple[str, str]] = set()
    after_task: list[str] = []  # those results, while the task's accepted updates follow
    for event in history.events:
        match event.event_type:
            case EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                name = event.activity_task_scheduled_event_attributes.activity_type.name
                activity_names[event.event_id] = name
            case EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                scheduled = event.activity_task_completed_event_attributes.scheduled_event_id
                completed.append(activity_names[scheduled])
            case EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                after_task, completed = completed, []
            case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
                attributes = event.workflow_execution_update_accepted_event_attributes
                update = attributes.accepted_request.input.name
                pairs.update((name, update) for name in after_task)
            case EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
                after_task = []
    return pairs


async def wait_for_pending_activities(handle: Handle, count: int) -> None:
    await poll(lambda: _pending_activities(handle), lambda n: n == count)


async def _pending_activities(handle: Handle) -> int:
    description = await handle.describe()
    return len(description.raw_description.pending_activities)


async def poll(read: Callable[[], Awaitable[Any]], done: Callable[[Any], bool]) -> None:
    for _ in range(100):
        if done(await read()):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not reached within 10 s")
