"""The engine-shaped reference: what one journey asks of the engine, with trivial bodies.

The bare reference (``bench/bare.py``) runs only a journey's activities. A journey also
has the candidate's updates, the partners' signals, the stage's search-attribute
upserts, timers and a child, all engine work that its design needs. This workflow asks
for the same counts (``Shape``, read off the journeys' own histories) and does nothing
else. So the rate of journeys against it says what our code costs on top of that engine
work: the gateway, the services, the workflow logic and the payload codec. It is
informational; the issue's ratio stays the bare one (docs/DECISIONS.md).

The driver sends the updates, then the signals, while the workflow waits for them under
its timers' deadlines; then it runs its activities and its child. No side effects at
import (sandbox).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow

from bench.bare import bare_step

with workflow.unsafe.imports_passed_through():
    import workflows.ids as ids

SHAPED_TASK_QUEUE = "bench-shaped"
# A journey's timers are deadlines (a decision's reminder, the post office's 15 days) that
# the awaited step cancels: started and cancelled, never fired.
DEADLINE = timedelta(days=15)
STEP_TIMEOUT = timedelta(seconds=30)


@dataclass(frozen=True)
class Shape:
    """Per unit: how many of each the engine is asked for."""

    activities: int
    updates: int
    signals: int
    upserts: int
    timers: int
    children: int


@workflow.defn(name="BenchShapedChild")
class ShapedChild:
    @workflow.run
    async def run(self) -> None:
        return None


@workflow.defn(name="BenchShapedWorkflow")
class ShapedWorkflow:
    @workflow.init
    def __init__(self, shape: Shape) -> None:
        self._shape = shape
        self._updates = 0
        self._signals = 0
        self._upserts = 0

    def _upsert(self) -> None:
        """One upsert while the shape asks for more (a changing value, as a stage does)."""
        if self._upserts < self._shape.upserts:
            self._upserts += 1
            workflow.upsert_search_attributes([ids.STAGE.value_set(f"shaped-{self._upserts}")])

    def _steps(self) -> int:
        return self._updates + self._signals

    @workflow.run
    async def run(self, shape: Shape) -> int:
        steps = shape.updates + shape.signals
        for timer in range(shape.timers):  # each a deadline on part of the steps
            reached = (timer + 1) * steps // shape.timers
            await workflow.wait_condition(
                lambda reached=reached: self._steps() >= reached,  # type: ignore[misc]
                timeout=DEADLINE,
            )
            self._upsert()
        await workflow.wait_condition(lambda: self._steps() >= steps)
        done = 0
        for step in range(shape.activities):
            done = await workflow.execute_activity(
                bare_step, step, start_to_close_timeout=STEP_TIMEOUT
            )
        for child in range(shape.children):
            await workflow.execute_child_workflow(
                ShapedChild.run, id=f"{workflow.info().workflow_id}-child-{child}"
            )
        while self._upserts < shape.upserts:  # what the updates did not use
            self._upsert()
        return done

    @workflow.update
    def step(self, index: int) -> int:
        self._updates += 1
        self._upsert()
        return index

    @workflow.signal
    def event(self, index: int) -> None:
        self._signals += 1
