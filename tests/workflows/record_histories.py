"""Record the histories the replay test guards: ``python -m tests.workflows.record_histories``.

Runs whole journeys (stand-in activities) on a throw-away Temporal server and writes each
history to ``tests/workflows/histories/<scenario>.json``. An existing file is never
overwritten unless named with ``--force``: a history recorded by older code that no
longer replays means running journeys would break, so such a change belongs behind
``workflow.patched`` instead.

Two generations live side by side in ``histories/``:

- ``LEGACY``: recorded by the first inscription workflow (before the récépissé, the status
  emails, the CTN agent's verdict and the DDT reminders). The current code can no longer
  produce them; they prove that journeys started back then still replay.
- ``SCENARIOS`` below: the current code's paths, each taking the patched branches.

The title journey and its delivery child have their own: ``TITLE_SCENARIOS`` (dev server,
whole requests with the delivery driven by signals) and ``DELIVERY_SCENARIOS``
(time-skipping server, under a stand-in title journey, for the 15-day and 6-month paths).

``python -m tests.workflows.record_histories`` records the missing ones;
``... NAME [NAME...] --force`` re-records the named ones on purpose.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from deploy.local import processes
from services.common.payload_codec import data_converter
from tests.workflows.inscription_scenarios import (
    FakeServices,
    Handle,
    decision,
    fill_draft,
    running_worker,
    start_journey,
    verdict,
    wait_for_stage,
    wait_for_view,
)
from tests.workflows.test_inscription_abandon import register_search_attributes
from tests.workflows.title_scenarios import (
    DELIVERY_WORKFLOWS,
    SECOND_TRACKING,
    TRACKING,
    DeliveryHandle,
    FakeTitleServices,
    TitleHandle,
    delivery_handle,
    fill_title_draft,
    partner_event,
    resend,
    running_title_worker,
    start_delivery,
    start_title,
    title_motif,
    wait_for_delivery,
)
from workflows.delivery import TitleDeliveryWorkflow
from workflows.inscription import InscriptionWorkflow
from workflows.models import (
    Category,
    Outcome,
    PartnerEventSignal,
    PartnerEventType,
    Stage,
    TitleMotif,
    TitleMotifStep,
)
from workflows.title import TitleWorkflow

HISTORIES = Path(__file__).parent / "histories"
LEGACY = ("accepted", "rejected_by_instructor", "rejected_by_ctn")

Scenario = Callable[[Client], Awaitable[Handle | TitleHandle]]


async def accepted_with_receipt_and_reminders(client: Client) -> Handle:
    """Category B: receipt, confirmation, CTN, DDT reminded then escalated, accepted."""
    fake = FakeServices()
    async with running_worker(client, fake) as task_queue:
        handle = await start_journey(
            client,
            task_queue,
            reminder_after=timedelta(seconds=1),
            escalation_after=timedelta(seconds=2),
        )
        await fill_draft(handle)
        await handle.execute_update(InscriptionWorkflow.submit)
        await wait_for_view(handle, lambda view: view.instruction_reminders == 2)
        await handle.execute_update(InscriptionWorkflow.record_decision, decision(Outcome.ACCEPTED))
        await handle.result()
    return handle


async def accepted_category_c_before_any_reminder(client: Client) -> Handle:
    """No receipt (category C); the decision cancels the reminder timer."""
    fake = FakeServices()
    async with running_worker(client, fake) as task_queue:
        handle = await start_journey(client, task_queue)
        await fill_draft(handle, category=Category.C)
        await handle.execute_update(InscriptionWorkflow.submit)
        await wait_for_stage(handle, Stage.IN_INSTRUCTION)
        await handle.execute_update(InscriptionWorkflow.record_decision, decision(Outcome.ACCEPTED))
        await handle.result()
    return handle


async def rejected_by_ctn_agent_after_enqueue(client: Client) -> Handle:
    """A CTN agent's verdict while the DDT instructs: withdrawn from the queue, rejected."""
    fake = FakeServices()
    async with running_worker(client, fake) as task_queue:
        handle = await start_journey(client, task_queue)
        await fill_draft(handle)
        await handle.execute_update(InscriptionWorkflow.submit)
        await wait_for_stage(handle, Stage.IN_INSTRUCTION)
        await handle.execute_update(InscriptionWorkflow.record_pre_check_verdict, verdict())
        await handle.result()
    return handle


async def rejected_by_ctn_agent_during_pre_check(client: Client) -> Handle:
    """A CTN agent's verdict while the automatic check runs: never queued."""
    fake = FakeServices()
    check = fake.hold("pre_check")
    async with running_worker(client, fake) as task_queue:
        handle = await start_journey(client, task_queue)
        await fill_draft(handle)
        await handle.execute_update(InscriptionWorkflow.submit)
        try:
            await asyncio.wait_for(fake.started["pre_check"].wait(), 10)
            await handle.execute_update(InscriptionWorkflow.record_pre_check_verdict, verdict())
        finally:
            check.set()
        await handle.result()
    return handle


async def legacy_journey_then_ctn_agent_verdict(client: Client) -> Handle:
    """Started on the old behaviour (no patch active) up to instruction, then a CTN
    agent's verdict on the current code: the unpatched wait still ends in a withdrawal."""
    fake = FakeServices()
    async with running_worker(client, fake, cache=False, legacy=True) as task_queue:
        handle = await start_journey(client, task_queue)
        await fill_draft(handle)
        await handle.execute_update(InscriptionWorkflow.submit)
        await wait_for_stage(handle, Stage.IN_INSTRUCTION)
        await wait_for_view(handle, lambda _: len(fake.emails) == 1)
    async with running_worker(client, fake, task_queue):
        await handle.execute_update(InscriptionWorkflow.record_pre_check_verdict, verdict())
        await handle.result()
    return handle


SCENARIOS: dict[str, Scenario] = {
    scenario.__name__: scenario
    for scenario in (
        accepted_with_receipt_and_reminders,
        accepted_category_c_before_any_reminder,
        rejected_by_ctn_agent_after_enqueue,
        rejected_by_ctn_agent_during_pre_check,
        legacy_journey_then_ctn_agent_verdict,
    )
}
# Needs 90 days to pass: recorded on the time-skipping server (no updates involved).
ABANDONED = "abandoned_with_email"


# ---- title journey (dev server) --------------------------------------------------------


async def _title_to_production(
    client: Client, task_queue: str, motif: TitleMotifStep
) -> tuple[TitleHandle, DeliveryHandle]:
    handle = await start_title(client, task_queue)
    await fill_title_draft(handle, motif)
    await handle.execute_update(TitleWorkflow.submit)
    await wait_for_stage(handle, Stage.IN_INSTRUCTION)
    await handle.execute_update(TitleWorkflow.record_decision, decision(Outcome.ACCEPTED))
    view = await wait_for_stage(handle, Stage.IN_PRODUCTION)
    return handle, delivery_handle(client, view.request_number)


async def _signal(child: DeliveryHandle, *events: PartnerEventSignal) -> None:
    for event in events:
        await child.signal(TitleDeliveryWorkflow.partner_event, event)


async def title_first_title_delivered_at_home(client: Client) -> TitleHandle:
    """Exam success (checked at submission), accepted, made, posted, delivered."""
    fake = FakeTitleServices()
    async with running_title_worker(client, fake) as task_queue:
        handle, child = await _title_to_production(client, task_queue, title_motif())
        await _signal(
            child,
            partner_event(PartnerEventType.MANUFACTURED),
            partner_event(PartnerEventType.POSTED, tracking_number=TRACKING),
            partner_event(PartnerEventType.DELIVERED),
        )
        await handle.result()
    return handle


async def title_loss_collected_at_post_office(client: Client) -> TitleHandle:
    """A duplicate after a loss: posted, notice left, collected at the post office."""
    fake = FakeTitleServices()
    async with running_title_worker(client, fake) as task_queue:
        handle, child = await _title_to_production(client, task_queue, title_motif(TitleMotif.LOSS))
        await _signal(
            child,
            partner_event(PartnerEventType.MANUFACTURED),
            partner_event(PartnerEventType.POSTED, tracking_number=TRACKING),
            partner_event(PartnerEventType.PICKUP_NOTICE_LEFT),
        )
        await wait_for_stage(handle, Stage.AWAITING_PICKUP)
        await _signal(child, partner_event(PartnerEventType.COLLECTED))
        await handle.result()
    return handle


async def title_rejected_by_instructor(client: Client) -> TitleHandle:
    fake = FakeTitleServices()
    async with running_title_worker(client, fake) as task_queue:
        handle = await start_title(client, task_queue)
        await fill_title_draft(handle, title_motif(TitleMotif.THEFT))
        await handle.execute_update(TitleWorkflow.submit)
        await wait_for_stage(handle, Stage.IN_INSTRUCTION)
        await handle.execute_update(TitleWorkflow.record_decision, decision(Outcome.REJECTED))
        await handle.result()
    return handle


TITLE_SCENARIOS: dict[str, Scenario] = {
    scenario.__name__: scenario
    for scenario in (
        title_first_title_delivered_at_home,
        title_loss_collected_at_post_office,
        title_rejected_by_instructor,
    )
}


# ---- delivery journey (time-skipping server, stand-in parent) ------------------------

DeliveryScenario = Callable[[WorkflowEnvironment, str], Awaitable[DeliveryHandle]]


async def _to_returned(env: WorkflowEnvironment, task_queue: str) -> DeliveryHandle:
    _, child = await start_delivery(env.client, task_queue)
    now = await env.get_current_time()
    await _signal(
        child,
        partner_event(PartnerEventType.MANUFACTURED, now),
        partner_event(PartnerEventType.POSTED, now, tracking_number=TRACKING),
        partner_event(PartnerEventType.PICKUP_NOTICE_LEFT, now),
    )
    await wait_for_delivery(child, lambda view: view.stage is Stage.AWAITING_PICKUP)
    await env.sleep(timedelta(days=15))
    await wait_for_delivery(child, lambda view: view.stage is Stage.RETURNED)
    return child


async def delivery_collected_within_15_days(
    env: WorkflowEnvironment, task_queue: str
) -> DeliveryHandle:
    _, child = await start_delivery(env.client, task_queue)
    now = await env.get_current_time()
    await _signal(
        child,
        partner_event(PartnerEventType.POSTED, now, tracking_number=TRACKING),
        partner_event(PartnerEventType.PICKUP_NOTICE_LEFT, now),
    )
    await wait_for_delivery(child, lambda view: view.stage is Stage.AWAITING_PICKUP)
    await env.sleep(timedelta(days=10))
    await _signal(child, partner_event(PartnerEventType.COLLECTED, await env.get_current_time()))
    await child.result()
    return child


async def delivery_returned_resent_delivered(
    env: WorkflowEnvironment, task_queue: str
) -> DeliveryHandle:
    child = await _to_returned(env, task_queue)
    await env.sleep(timedelta(days=60))
    await child.signal(TitleDeliveryWorkflow.resend_requested, resend(await env.get_current_time()))
    await wait_for_delivery(child, lambda view: view.stage is Stage.RESEND_REQUESTED)
    now = await env.get_current_time()
    await _signal(
        child, partner_event(PartnerEventType.POSTED, now, tracking_number=SECOND_TRACKING)
    )
    await wait_for_delivery(child, lambda view: view.stage is Stage.SENT)
    await _signal(child, partner_event(PartnerEventType.DELIVERED, now))
    await child.result()
    return child


async def delivery_destroyed_after_6_months(
    env: WorkflowEnvironment, task_queue: str
) -> DeliveryHandle:
    child = await _to_returned(env, task_queue)
    await env.sleep(timedelta(days=185))
    await child.result()
    return child


DELIVERY_SCENARIOS: dict[str, DeliveryScenario] = {
    scenario.__name__: scenario
    for scenario in (
        delivery_collected_within_15_days,
        delivery_returned_resent_delivered,
        delivery_destroyed_after_6_months,
    )
}


async def delivery_histories(names: list[str]) -> dict[str, str]:
    """Records the named delivery scenarios on one time-skipping server."""
    if not names:
        return {}
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(),
        test_server_existing_path=processes.binary("temporal-test-server"),
    )
    try:
        await register_search_attributes(env.client)
        texts = {}
        fake = FakeTitleServices()
        async with running_title_worker(
            env.client, fake, workflows=DELIVERY_WORKFLOWS
        ) as task_queue:
            for name in names:
                child = await DELIVERY_SCENARIOS[name](env, task_queue)
                texts[name] = (await child.fetch_history()).to_json()
        return texts
    finally:
        await env.shutdown()


async def abandoned_with_email() -> str:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(),
        test_server_existing_path=processes.binary("temporal-test-server"),
    )
    try:
        await register_search_attributes(env.client)
        async with running_worker(env.client, FakeServices()) as task_queue:
            handle = await start_journey(env.client, task_queue)
            await handle.result()
        return (await handle.fetch_history()).to_json()
    finally:
        await env.shutdown()


async def record(client: Client, directory: Path, names: list[str]) -> list[Path]:
    written = []
    texts = await delivery_histories([name for name in names if name in DELIVERY_SCENARIOS])
    for name in names:
        if name == ABANDONED:
            text = await abandoned_with_email()
        elif name in DELIVERY_SCENARIOS:
            text = texts[name]
        else:
            scenario = SCENARIOS.get(name) or TITLE_SCENARIOS[name]
            handle = await scenario(client)
            text = (await handle.fetch_history()).to_json()
        path = directory / f"{name}.json"
        path.write_text(text)
        written.append(path)
    return written


def chosen(argv: list[str]) -> list[str]:
    known = [*SCENARIOS, ABANDONED, *TITLE_SCENARIOS, *DELIVERY_SCENARIOS]
    parser = argparse.ArgumentParser(description="Record workflow histories for replay tests.")
    parser.add_argument("names", nargs="*", help=f"scenarios among {known} (default: all)")
    parser.add_argument("--force", action="store_true", help="overwrite existing histories")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(known))
    if unknown:
        parser.error(f"unknown scenarios {unknown}; legacy histories {list(LEGACY)} are frozen")
    names = args.names or known
    if args.force:
        return names
    return [name for name in names if not (HISTORIES / f"{name}.json").exists()]


async def main(names: list[str]) -> None:
    HISTORIES.mkdir(exist_ok=True)
    if not names:
        print("nothing to record (existing histories are kept; --force to re-record)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        server = processes.start_temporal(
            Path(tmp) / "temporal", Path(tmp) / "logs", processes.free_port(), processes.free_port()
        )
        try:
            client = await Client.connect(
                f"127.0.0.1:{server.ports['grpc']}", data_converter=data_converter()
            )
            for path in await record(client, HISTORIES, names):
                print(f"wrote {path.relative_to(Path.cwd())}")
        finally:
            server.stop()


if __name__ == "__main__":
    code = 0
    try:
        asyncio.run(main(chosen(sys.argv[1:])))
    except Exception as error:  # reported, then a clean exit code
        print(f"recording failed: {error!r}", file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # the Temporal core may abort at interpreter exit (sdk-python#300)
