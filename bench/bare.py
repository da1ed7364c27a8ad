"""The bare-engine reference: one workflow running ``count`` trivial activities in a row.

It runs on its own task queue, with its worker in the benchmark process, against the same
Temporal server as the journeys, so the ratio journey rate / bare rate says how much of
the engine's capacity our code leaves on the table. No side effects at import (sandbox).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

BARE_TASK_QUEUE = "bench-bare"


@activity.defn(name="BenchBareStep")
async def bare_step(step: int) -> int:
    return step + 1


@workflow.defn(name="BenchBareWorkflow")
class BareWorkflow:
    @workflow.run
    async def run(self, count: int) -> int:
        done = 0
        for step in range(count):
            done = await workflow.execute_activity(
                bare_step, step, start_to_close_timeout=timedelta(seconds=30)
            )
        return done
