"""What the Temporal server did for a set of workflows, read from their histories.

The bare reference runs as many activities as a journey, but a journey asks the engine
for more than activities: the candidate's updates, the partners' signals, search
attributes, timers, a child workflow. Counting history events and workflow tasks on
both sides says how much of the ratio's gap is engine work the journey needs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

from bench.shaped import Shape

# What is printed, in this order: (label, the event that counts one).
SHOWN = (
    ("workflow tasks", EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
    ("activities", EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED),
    ("updates", EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED),
    ("signals", EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED),
    ("search-attribute upserts", EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES),
    ("timers", EventType.EVENT_TYPE_TIMER_STARTED),
    ("children", EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED),
)


@dataclass
class EngineWork:
    workflows: int = 0
    events: Counter[int] = field(default_factory=Counter)  # by EventType

    def add(self, history: list[HistoryEvent]) -> None:
        self.workflows += 1
        self.events.update(event.event_type for event in history)

    def count(self, event_type: int) -> int:
        return self.events[event_type]

    def shape(self, per: int) -> Shape:
        """What one unit (of ``per``) asked for, rounded: the engine-shaped reference's."""
        per = max(per, 1)

        def each(kind: int) -> int:
            return round(self.events[kind] / per)

        return Shape(
            activities=each(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED),
            updates=each(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED),
            signals=each(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED),
            upserts=each(EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES),
            timers=each(EventType.EVENT_TYPE_TIMER_STARTED),
            children=each(EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED),
        )

    def describe(self, per: int) -> str:
        """Per unit (a journey, a bare workflow): events, then each kind shown."""
        per = max(per, 1)
        parts = [f"{sum(self.events.values()) / per:.0f} history events"]
        parts += [f"{self.events[kind] / per:.1f} {label}" for label, kind in SHOWN]
        return ", ".join(parts)


async def engine_work(client: Client, query: str) -> EngineWork:
    """The events of every workflow matching the visibility ``query``."""
    work = EngineWork()
    async for execution in client.list_workflows(query):
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        work.add(list((await handle.fetch_history()).events))
    return work
