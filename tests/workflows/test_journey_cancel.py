"""An operator cancels a request (``cancel`` update, sent by the support service).

Accepted before the decision (draft, pre-check, instruction), refused once the request
is decided or ended; a repeat of the same cancellation is accepted and changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio.client import Client

from services.common.errors import ErrorCode
from tests.workflows.inscription_scenarios import (
    FakeServices,
    decision,
    fill_draft,
    refused,
    running_worker,
    start_journey,
    verdict,
    wait_for_stage,
)
from tests.workflows.title_scenarios import (
    FakeTitleServices,
    fill_title_draft,
    running_title_worker,
    start_title,
)
from workflows import ids
from workflows.inscription import InscriptionWorkflow
from workflows.models import CancelRequest, Outcome, Stage
from workflows.title import TitleWorkflow


def cancel(
    operator: str = "ccc-agent-12", reason: str = "Demande faite en double."
) -> CancelRequest:
    return CancelRequest(
        operator_id=operator,
        reason=reason,
        cancelled_at=datetime(2025, 12, 1, 10, 0, tzinfo=UTC),
    )


async def test_cancel_in_instruction_withdraws_and_emails(temporal_client: Client) -> None:
    fake = FakeServices()
    gate = fake.hold("withdraw_from_instruction")  # keeps the journey open meanwhile
    async with running_worker(temporal_client, fake) as task_queue:
        handle = await start_journey(temporal_client, task_queue)
        number = handle.id.removeprefix(ids.INSCRIPTION_PREFIX)
        await fill_draft(handle)
        await handle.execute_update(InscriptionWorkflow.submit)
        await wait_for_stage(handle, Stage.IN_INSTRUCTION)

        view = await handle.execute_update(InscriptionWorkflow.cancel, cancel())
        assert view.stage is Stage.CANCELLED
        assert view.stage_label == "Demande annulée par le service"
        # The same cancellation again (a support service retry): accepted, no change.
        again = await handle.execute_update(InscriptionWorkflow.cancel, cancel())
        assert again.stage is Stage.CANCELLED
        # Another one, or a decision, is refused.
        other = await refused(
            handle.execute_update(InscriptionWorkflow.cancel, cancel(operator="autre"))
        )
        assert other.type == ErrorCode.REQUEST_NOT_CANCELLABLE.value
        late = await refused(
            handle.execute_update(InscriptionWorkflow.record_decision, decision(Outcome.ACCEPTED))
        )
        assert late.type == ErrorCode.JOURNEY_NOT_WAITING.value
        gate.set()
        result = await handle.result()
        described = await handle.describe()

    assert result.stage is Stage.CANCELLED and result.cancellation is not None
    assert result.cancellation.operator_id == "ccc-agent-12"
    assert [c.stage for c in result.history][-2:] == [Stage.IN_INSTRUCTION, Stage.CANCELLED]
    [withdrawn] = fake.withdrawn
    assert withdrawn.request_number == number
    assert "ccc-agent-12" in withdrawn.reason and "Demande faite en double." in withdrawn.reason
    assert fake.email_keys()[-1] == f"inscription-{number}.cancelled"
    email = fake.emails[-1]
    assert "annulée par le service" in email.body and "Demande faite en double." in email.body
    assert "retirée du service instructeur" in email.body
    assert described.typed_search_attributes.get(ids.STAGE) == "cancelled"


async def test_cancel_a_draft_no_withdrawal(temporal_client: Client) -> None:
    fake = FakeServices()
    async with running_worker(temporal_client, fake) as task_queue:
        handle = await start_journey(temporal_client, task_queue)
        await fill_draft(handle)
        await handle.execute_update(InscriptionWorkflow.cancel, cancel())
        # The candidate can no longer submit.
        error = await refused(handle.execute_update(InscriptionWorkflow.submit))
        assert error.type == ErrorCode.REQUEST_ALREADY_SUBMITTED.value
        result = await handle.result()
    assert [c.stage for c in result.history] == [Stage.DRAFT, Stage.CANCELLED]
    assert fake.withdrawn == [] and fake.consumed == {}
    assert [m.idempotency_key.rsplit(".", 1)[1] for m in fake.emails] == ["cancelled"]
    assert "retirée" not in fake.emails[0].body


async def test_cancel_during_pre_check(temporal_client: Client) -> None:
    fake = FakeServices()
    gate = fake.hold("pre_check")
    async with running_worker(temporal_client, fake) as task_queue:
        handle = await start_journey(temporal_client, task_queue)
        await fill_draft(handle)
        await handle.execute_update(InscriptionWorkflow.submit)
        await wait_for_stage(handle, Stage.PRE_CHECK)
        await fake.started["pre_check"].wait()
        await handle.execute_update(InscriptionWorkflow.cancel, cancel())
        # A CTN agent's verdict can no longer be recorded.
        error = await refused(
            handle.execute_update(InscriptionWorkflow.record_pre_check_verdict, verdict())
        )
        assert error.type == ErrorCode.PRE_CHECK_NOT_OPEN.value
        gate.set()
        result = await handle.result()
    assert result.stage is Stage.CANCELLED
    assert fake.enqueued == [] and fake.withdrawn == []
    assert [c.stage for c in result.history][-2:] == [Stage.PRE_CHECK, Stage.CANCELLED]


async def test_cancel_refused_once_decided(temporal_client: Client) -> None:
    fake = FakeServices()
    gate = fake.hold("render_attestation")
    async with running_worker(temporal_client, fake) as task_queue:
        handle = await start_journey(temporal_client, task_queue)
        await fill_draft(handle)
        await handle.execute_update(InscriptionWorkflow.submit)
        await wait_for_stage(handle, Stage.IN_INSTRUCTION)
        await handle.execute_update(InscriptionWorkflow.record_decision, decision(Outcome.ACCEPTED))
        await fake.started["render_attestation"].wait()
        error = await refused(handle.execute_update(InscriptionWorkflow.cancel, cancel()))
        assert error.type == ErrorCode.REQUEST_NOT_CANCELLABLE.value
        gate.set()
        result = await handle.result()
    assert result.stage is Stage.ACCEPTED and result.cancellation is None


async def test_cancel_a_title_request_in_instruction(temporal_client: Client) -> None:
    fake = FakeTitleServices()
    async with running_title_worker(temporal_client, fake) as task_queue:
        handle = await start_title(temporal_client, task_queue)
        number = handle.id.removeprefix(ids.TITLE_PREFIX)
        await fill_title_draft(handle)
        await handle.execute_update(TitleWorkflow.submit)
        await wait_for_stage(handle, Stage.IN_INSTRUCTION)
        await handle.execute_update(TitleWorkflow.cancel, cancel())
        result = await handle.result()
    assert result.stage is Stage.CANCELLED
    assert fake.orders == []
    assert [w.request_number for w in fake.withdrawn] == [number]
    assert fake.email_keys()[-1] == f"title-{number}.cancelled"
    assert "demande de fabrication du titre" in fake.emails[-1].body
