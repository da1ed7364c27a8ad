"""The benchmark's engine-work count, on a real dev server: the bare reference's shape, and
the engine-shaped reference asking for exactly the shape it is given."""

from __future__ import annotations

import asyncio

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from bench import engine
from bench.bare import BARE_TASK_QUEUE
from bench.journeys import bare_run, shaped_run
from bench.shaped import SHAPED_TASK_QUEUE, Shape

ACTIVITIES = 3


async def settled_work(client: Client, query: str, workflows: int) -> engine.EngineWork:
    """The engine work once visibility lists ``workflows`` (its records come later)."""
    work = await engine.engine_work(client, query)
    for _ in range(50):
        if work.workflows >= workflows:
            break
        await asyncio.sleep(0.1)
        work = await engine.engine_work(client, query)
    return work


async def test_bare_workflows_are_counted_from_their_histories(temporal_client: Client) -> None:
    await bare_run(temporal_client, count=2, activities=ACTIVITIES, concurrency=2)

    work = await settled_work(temporal_client, f"TaskQueue = '{BARE_TASK_QUEUE}'", 3)

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


async def test_the_engine_shaped_reference_asks_for_its_shape(temporal_client: Client) -> None:
    shape = Shape(activities=2, updates=3, signals=2, upserts=5, timers=2, children=1)
    await shaped_run(temporal_client, count=2, shape=shape, concurrency=2)

    # Three units (the two timed and the warm-up), each a workflow and its child.
    work = await settled_work(temporal_client, f"TaskQueue = '{SHAPED_TASK_QUEUE}'", 6)
    assert work.workflows == 6
    assert work.shape(per=3) == shape
    assert work.count(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED) == 6
    # The timers are deadlines the steps beat: started, then cancelled, never fired.
    assert work.count(EventType.EVENT_TYPE_TIMER_CANCELED) == 3 * shape.timers
    assert work.count(EventType.EVENT_TYPE_TIMER_FIRED) == 0
    # Each update had a workflow task of its own (the driver awaits each), as did the
    # start and each activity's end, and the child's single task; signals sent back to
    # back may share one.
    tasks = work.count(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
    assert tasks >= 3 * (1 + 3 + 2 + 1)
