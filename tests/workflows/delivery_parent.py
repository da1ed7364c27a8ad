"""A stand-in for the title journey, for the delivery journey's tests and histories.

It starts ``TitleDeliveryWorkflow`` as its child, exactly as ``TitleWorkflow`` does, and
keeps every ``delivery_progress`` signal the child sends. It needs no update, so it runs
on the time-skipping server, where the 15-day and 6-month timers can pass in a moment.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.delivery import PROGRESS_SIGNAL, TitleDeliveryWorkflow
    from workflows.ids import delivery_workflow_id
    from workflows.models import DeliveryView, StartDelivery


@workflow.defn(name="StandInTitleJourney")
class StandInTitleJourney:
    def __init__(self) -> None:
        self._received: list[DeliveryView] = []

    @workflow.run
    async def run(self, start: StartDelivery) -> DeliveryView:
        result = await workflow.execute_child_workflow(
            TitleDeliveryWorkflow.run, start, id=delivery_workflow_id(start.request_number)
        )
        await workflow.wait_condition(workflow.all_handlers_finished)
        return result

    @workflow.signal(name=PROGRESS_SIGNAL)
    def delivery_progress(self, delivery: DeliveryView) -> None:
        self._received.append(delivery)

    @workflow.query
    def received(self) -> list[DeliveryView]:
        return self._received
