"""A draft nobody submits is abandoned after 90 days, and the candidate is told
(time-skipping server: no updates)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from tests.workflows.inscription_scenarios import FakeServices, running_worker, start_journey
from workflows.ids import SEARCH_ATTRIBUTES
from workflows.inscription import InscriptionWorkflow
from workflows.models import Stage


async def register_search_attributes(client: Client) -> None:
    """The test server starts without our search attributes; the dev server has them."""
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={
                key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for key in SEARCH_ATTRIBUTES
            },
        )
    )


async def test_draft_abandoned_after_90_days(time_skipping_env: WorkflowEnvironment) -> None:
    client = time_skipping_env.client
    await register_search_attributes(client)
    fake = FakeServices()
    async with running_worker(client, fake) as task_queue:
        handle = await start_journey(client, task_queue)
        await time_skipping_env.sleep(timedelta(days=89))
        assert (await handle.query(InscriptionWorkflow.view)).stage is Stage.DRAFT

        result = await handle.result()

    assert result.stage is Stage.ABANDONED
    assert result.stage_label == "Demande abandonnée (non déposée dans le délai)"
    assert [change.stage for change in result.history] == [Stage.DRAFT, Stage.ABANDONED]
    waited = result.history[-1].at - result.created_at
    assert timedelta(days=90) <= waited < timedelta(days=90, hours=1)
    assert fake.consumed == {}
    # The candidate is told (at the account's address: no contact address was given).
    assert fake.email_keys() == [f"inscription-{result.request_number}.abandoned"]
    email = fake.emails[0]
    assert email.to == "compte@example.fr"
    assert "délai de 90 jours" in email.body and "nouvelle demande" in email.body
