"""The benchmark's engine-work count, on a real dev server: the bare reference's shape."""

from __future__ import annotations

import asyncio

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from bench import engine
from bench.bare import BARE_TASK_QUEUE
from bench.journeys import bare_run

ACTIVITIES = 3


async def test_bare_workflows_are_counted_from_their_histories(temporal_client: Client) -> None:
    await bare_run(temporal_client, count=2, activities=ACTIVITIES, concurrency=2)

    query = f"TaskQueue = '{BARE_TASK_QUEUE}'"
    work = await engine.engine_work(temporal_client, query)
    for _ in range(50):  # visibility records are written asynchronously
        if work.workflows >= 3:
            break
        await asyncio.sleep(0.1)
        work = await engine.engine_work(temporal_client, query)

    assert work.workflows == 3  # the two timed and bare_run's warm-up
    assert work.count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) == 3 * ACTIVITIES
    # One workflow task to start, then one after each activity.
    assert work.count(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) == 3 * (ACTIVITIES + 1)
    # Started and completed, 3 events per workflow task and per activity.
    per_workflow = 2 + 3 * (ACTIVITIES + 1) + 3 * ACTIVITIES
    assert sum(work.events.values()) == 3 * per_workflow
    described = work.describe(work.workflows)
    assert described.startswith(f"{per_workflow} history events, 4.0 workflow tasks, 3.0 act")
    assert "0.0 updates" in described
