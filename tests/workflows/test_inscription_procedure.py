"""The whole procedure of the notice on the dev server, with stand-in activities:
récépissé (category B), an email at every status change, a CTN agent's verdict, and the
DDT reminder and escalation."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from services.common.errors import ErrorCode
from tests.workflows.inscription_scenarios import (
    NEPH,
    FakeServices,
    Handle,
    decision,
    fill_draft,
    journey_to_decision,
    new_task_queue,
    refused,
    running_worker,
    start_journey,
    verdict,
    wait_for_stage,
    wait_for_view,
)
from tests.workflows.test_inscription_workflow import current_details
from workflows.inscription import InscriptionWorkflow
from workflows.models import Category, Outcome, RequestView, Stage


async def submitted_journey(
    client: Client, task_queue: str, *, category: Category = Category.B, **options: timedelta
) -> Handle:
    handle = await start_journey(client, task_queue, **options)
    await fill_draft(handle, category=category)
    await handle.execute_update(InscriptionWorkflow.submit)
    return handle


async def to_instruction(
    client: Client, task_queue: str, **options: timedelta
) -> tuple[Handle, RequestView]:
    handle = await submitted_journey(client, task_queue, **options)
    return handle, await wait_for_stage(handle, Stage.IN_INSTRUCTION)


# Journeys that change workers mid-way: a task lost with the old worker is retried soon.
RESTART_TASK_TIMEOUT = timedelta(seconds=3)


def stages(view: RequestView) -> list[Stage]:
    return [change.stage for change in view.history]


# ---- récépissé de dépôt --------------------------------------------------------------


async def test_category_b_gets_a_receipt_before_the_confirmation(temporal_client: Client) -> None:
    fake = FakeServices()
    async with running_worker(temporal_client, fake) as task_queue:
        handle, view = await to_instruction(temporal_client, task_queue)
        await handle.terminate("test done")

    number = view.request_number
    assert view.receipt_document_id == f"rcp-{number}"
    [receipt] = fake.receipts
    assert receipt.view.stage is Stage.SUBMITTED and receipt.view.submitted_at is not None
    # The confirmation went out after the receipt existed, and says where it is.
    confirmation = fake.emails[0]
    assert confirmation.idempotency_key == f"inscription-{number}.confirmation"
    assert "récépissé de dépôt est disponible dans votre espace personnel" in confirmation.body
    assert "voies ouvertes à la circulation publique" in confirmation.body


async def test_other_categories_get_no_receipt(temporal_client: Client) -> None:
    fake = FakeServices()
    async with running_worker(temporal_client, fake) as task_queue:
        handle = await submitted_journey(temporal_client, task_queue, category=Category.C)
        view = await wait_for_stage(handle, Stage.IN_INSTRUCTION)
        await handle.terminate("test done")

    assert view.motif is not None and view.motif.category is Category.C
    assert view.receipt_document_id is None and fake.receipts == []
    assert "récépissé" not in fake.emails[0].body


async def test_a_refused_receipt_does_not_hold_the_request_back(temporal_client: Client) -> None:
    fake = FakeServices()
    fake.receipt_refused = True
    async with running_worker(temporal_client, fake) as task_queue:
        handle, view = await to_instruction(temporal_client, task_queue)
        await handle.terminate("test done")

    assert len(fake.receipts) == 1  # tried once: a business refusal is final
    assert view.receipt_document_id is None
    confirmation = fake.emails[0]
    assert "est disponible dans votre espace personnel" not in confirmation.body
    assert "récépissé de dépôt de votre demande" in confirmation.body  # the notice's rule


# ---- an email at every status change -------------------------------------------------


async def test_an_email_at_every_status_change(temporal_client: Client) -> None:
    fake = FakeServices()
    async with running_worker(temporal_client, fake) as task_queue:
        _, accepted = await journey_to_decision(temporal_client, task_queue, Outcome.ACCEPTED)
        _, rejected = await journey_to_decision(temporal_client, task_queue, Outcome.REJECTED)

    for result, last in ((accepted, Stage.ACCEPTED), (rejected, Stage.REJECTED)):
        # The candidate follows every status, each with its French label.
        assert stages(result) == [
            Stage.DRAFT,
            Stage.SUBMITTED,
            Stage.PRE_CHECK,
            Stage.IN_INSTRUCTION,
            last,
        ]
        assert all(change.label for change in result.history)
        number = result.request_number
        emails = [e for e in fake.emails if e.idempotency_key.startswith(f"inscription-{number}.")]
        # submitted -> confirmation; pre_check follows within the second and the
        # confirmation announces it; in_instruction and the decision get their own.
        assert [e.idempotency_key.rsplit(".", 1)[1] for e in emails] == [
            "confirmation",
            "in-instruction",
            "decision",
        ]
        assert emails[1].subject == f"Votre demande n° {number} est en cours d'instruction"
        assert "DDT de votre département (69)" in emails[1].body
    assert fake.email_keys().count(f"inscription-{accepted.request_number}.decision") == 1


# ---- a CTN agent's verdict -----------------------------------------------------------


async def test_ctn_agent_rejects_after_enqueue(temporal_client: Client) -> None:
    fake = FakeServices()
    withdrawal = fake.hold("withdraw_from_instruction")
    async with running_worker(temporal_client, fake) as task_queue:
        handle, _ = await to_instruction(temporal_client, task_queue)
        try:
            rejected = await handle.execute_update(
                InscriptionWorkflow.record_pre_check_verdict, verdict()
            )
            # Rejected at once, whatever the journey is busy with.
            assert rejected.stage is Stage.REJECTED
            assert rejected.pre_check_verdict == verdict()
            assert [f.code for f in rejected.pre_check_findings] == ["document_expired"]

            await asyncio.wait_for(fake.started["withdraw_from_instruction"].wait(), 10)
            # The same verdict again (a retried delivery) is accepted and changes nothing.
            again = await handle.execute_update(
                InscriptionWorkflow.record_pre_check_verdict, verdict()
            )
            assert again.history == rejected.history
            # Another verdict, or a DDT decision, is refused: the case is withdrawn.
            error = await refused(
                handle.execute_update(
                    InscriptionWorkflow.record_pre_check_verdict, verdict("agent-ctn-99")
                )
            )
            assert error.type == ErrorCode.PRE_CHECK_NOT_OPEN.value
            error = await refused(
                handle.execute_update(
                    InscriptionWorkflow.record_decision, decision(Outcome.ACCEPTED)
                )
            )
            assert error.type == ErrorCode.JOURNEY_NOT_WAITING.value
            assert "retirée de l'instruction" in error.message
        finally:
            withdrawal.set()
        result = await handle.result()

    number = result.request_number
    assert result.stage is Stage.REJECTED and result.decision is None
    assert stages(result) == [
        Stage.DRAFT,
        Stage.SUBMITTED,
        Stage.PRE_CHECK,
        Stage.IN_INSTRUCTION,
        Stage.REJECTED,
    ]
    [withdrawn] = fake.withdrawn
    assert withdrawn.request_number == number
    assert "agent-ctn-07" in withdrawn.reason and "plus de 6 mois" in withdrawn.reason
    assert fake.email_keys() == [
        f"inscription-{number}.confirmation",
        f"inscription-{number}.in-instruction",
        f"inscription-{number}.pre-check-verdict",
    ]
    email = fake.emails[-1]
    assert email.subject == f"Rejet de votre demande n° {number}"
    assert "- Le justificatif de domicile date de plus de 6 mois." in email.body
    assert "retirée du service instructeur" in email.body
    assert "nouvelle demande" in email.body and "nouveau code photo" in email.body
    assert fake.rendered == []


async def test_ctn_agent_rejects_during_the_pre_check(temporal_client: Client) -> None:
    fake = FakeServices()  # the automatic check will say "compliant"
    check = fake.hold("pre_check")
    async with running_worker(temporal_client, fake) as task_queue:
        handle = await submitted_journey(temporal_client, task_queue)
        try:
            await asyncio.wait_for(fake.started["pre_check"].wait(), 10)
            view = await handle.execute_update(
                InscriptionWorkflow.record_pre_check_verdict, verdict()
            )
            assert view.stage is Stage.REJECTED
            error = await refused(
                handle.execute_update(
                    InscriptionWorkflow.record_decision, decision(Outcome.ACCEPTED)
                )
            )
            assert error.type == ErrorCode.JOURNEY_NOT_WAITING.value
        finally:
            check.set()
        result = await handle.result()
        details = await current_details(handle)

    assert "rejetée par un agent du CTN (agent-ctn-07)" in details
    assert stages(result) == [Stage.DRAFT, Stage.SUBMITTED, Stage.PRE_CHECK, Stage.REJECTED]
    # Never queued, so nothing to withdraw; the agent's findings are the reasons.
    assert fake.enqueued == [] and fake.withdrawn == []
    assert [f.code for f in result.pre_check_findings] == ["document_expired"]
    email = fake.emails[-1]
    assert email.idempotency_key == f"inscription-{result.request_number}.pre-check-verdict"
    assert "retirée" not in email.body and "nouveau code photo" in email.body


async def test_verdict_refused_outside_the_pre_check_and_after_a_decision(
    temporal_client: Client,
) -> None:
    fake = FakeServices()
    attestation = fake.hold("render_attestation")
    async with running_worker(temporal_client, fake) as task_queue:
        handle = await start_journey(temporal_client, task_queue)
        error = await refused(
            handle.execute_update(InscriptionWorkflow.record_pre_check_verdict, verdict())
        )
        assert error.type == ErrorCode.PRE_CHECK_NOT_OPEN.value
        assert error.details == ({"stage": "draft"},)

        await fill_draft(handle)
        await handle.execute_update(InscriptionWorkflow.submit)
        await wait_for_stage(handle, Stage.IN_INSTRUCTION)
        try:
            await handle.execute_update(
                InscriptionWorkflow.record_decision, decision(Outcome.ACCEPTED)
            )
            await asyncio.wait_for(fake.started["render_attestation"].wait(), 10)
            error = await refused(
                handle.execute_update(InscriptionWorkflow.record_pre_check_verdict, verdict())
            )
            assert error.type == ErrorCode.PRE_CHECK_NOT_OPEN.value
            assert "décision d'instruction est déjà prise" in error.message
        finally:
            attestation.set()
        result = await handle.result()

    assert result.stage is Stage.ACCEPTED and result.neph == NEPH
    assert result.pre_check_verdict is None and fake.withdrawn == []


# ---- reminder and escalation ---------------------------------------------------------


async def timer_summaries(handle: Handle, client: Client) -> list[str]:
    """The timers' summaries as the UI shows them (decoded: payloads are encrypted)."""
    history = await handle.fetch_history()
    summaries = [
        event.user_metadata.summary
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED
        and event.user_metadata.HasField("summary")
    ]
    return list(await client.data_converter.decode(summaries, [str] * len(summaries)))


async def test_reminder_then_escalation_then_a_decision(temporal_client: Client) -> None:
    fake = FakeServices()
    async with running_worker(temporal_client, fake) as task_queue:
        handle, entered = await to_instruction(
            temporal_client,
            task_queue,
            reminder_after=timedelta(seconds=1),
            escalation_after=timedelta(seconds=2),
        )
        view = await wait_for_view(handle, lambda v: v.instruction_reminders == 2)
        assert view.stage is Stage.IN_INSTRUCTION
        assert "relancée puis alertée (escalade)" in await current_details(handle)

        # Still waiting: the decision is welcome after the escalation.
        await handle.execute_update(InscriptionWorkflow.record_decision, decision(Outcome.ACCEPTED))
        result = await handle.result()

    assert result.stage is Stage.ACCEPTED and result.instruction_reminders == 2
    assert [r.level for r in fake.reminders] == [1, 2]
    since = entered.history[-1].at
    for reminder, waited in zip(fake.reminders, (1, 2), strict=True):
        assert reminder.in_instruction_since == since
        assert reminder.waited == timedelta(seconds=waited)
        assert reminder.view.request_number == result.request_number
    # Reminders go to the DDT, not to the candidate.
    assert all(".ddt-reminder" not in key for key in fake.email_keys())
    summaries = await timer_summaries(handle, temporal_client)
    assert "Relance de la DDT si aucune décision sous 1 seconde" in summaries
    assert any(summary.startswith("Escalade si aucune décision") for summary in summaries)


async def test_a_decision_before_the_escalation_stops_the_reminders(
    temporal_client: Client,
) -> None:
    fake = FakeServices()
    async with running_worker(temporal_client, fake) as task_queue:
        handle, _ = await to_instruction(
            temporal_client,
            task_queue,
            reminder_after=timedelta(seconds=1),
            escalation_after=timedelta(hours=1),
        )
        await wait_for_view(handle, lambda v: v.instruction_reminders == 1)
        assert "DDT relancée une fois" in await current_details(handle)
        await handle.execute_update(
            InscriptionWorkflow.record_decision,
            decision(Outcome.REJECTED, reason="Pièce d'identité expirée."),
        )
        result = await handle.result()

    assert result.stage is Stage.REJECTED and result.instruction_reminders == 1
    assert [r.level for r in fake.reminders] == [1]


async def test_the_reminder_timer_survives_a_worker_restart(temporal_client: Client) -> None:
    fake = FakeServices()
    task_queue = new_task_queue()
    async with running_worker(temporal_client, fake, task_queue, cache=False):
        handle, _ = await to_instruction(
            temporal_client,
            task_queue,
            reminder_after=timedelta(seconds=2),
            escalation_after=timedelta(hours=1),
            task_timeout=RESTART_TASK_TIMEOUT,
        )
    # No worker while the timer runs out: it fires on the server all the same.
    await asyncio.sleep(2.5)
    assert fake.reminders == []
    async with running_worker(temporal_client, fake, task_queue, cache=False):
        view = await wait_for_view(handle, lambda v: v.instruction_reminders == 1)
        assert view.stage is Stage.IN_INSTRUCTION
        await handle.execute_update(InscriptionWorkflow.record_decision, decision(Outcome.ACCEPTED))
        result = await handle.result()
    assert result.stage is Stage.ACCEPTED and [r.level for r in fake.reminders] == [1]


# ---- journeys started before the upgrade ---------------------------------------------


async def test_a_journey_started_before_the_upgrade_keeps_its_path(
    temporal_client: Client,
) -> None:
    """Up to instruction on the old behaviour (no patch active), then the new worker: no
    reminder appears, and a CTN agent's verdict still rejects and withdraws it."""
    fake = FakeServices()
    task_queue = new_task_queue()
    async with running_worker(temporal_client, fake, task_queue, cache=False, legacy=True):
        handle, before = await to_instruction(
            temporal_client,
            task_queue,
            reminder_after=timedelta(seconds=1),
            task_timeout=RESTART_TASK_TIMEOUT,
        )
        await wait_for_view(handle, lambda _: len(fake.emails) == 1)
    number = before.request_number
    assert before.receipt_document_id is None and fake.receipts == []
    assert fake.email_keys() == [f"inscription-{number}.confirmation"]

    async with running_worker(temporal_client, fake, task_queue, cache=False):
        await asyncio.sleep(1.5)  # past the reminder delay it was started with
        view = await handle.query(InscriptionWorkflow.view)
        assert view.stage is Stage.IN_INSTRUCTION and view.instruction_reminders == 0
        await handle.execute_update(InscriptionWorkflow.record_pre_check_verdict, verdict())
        result = await handle.result()

    assert result.stage is Stage.REJECTED
    assert fake.reminders == [] and [w.request_number for w in fake.withdrawn] == [number]
    assert fake.email_keys() == [
        f"inscription-{number}.confirmation",
        f"inscription-{number}.pre-check-verdict",
    ]
