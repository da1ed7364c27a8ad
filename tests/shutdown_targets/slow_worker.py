"""A Temporal worker with the real worker's shutdown handling and one slow activity.

    PERMIS_TEMPORAL_ADDRESS=... PERMIS_TEMPORAL_TASK_QUEUE=... \\
        python -m tests.shutdown_targets.slow_worker

``python -m workflows.worker`` cannot be given a slow activity, so this builds a
``Worker`` the way ``workflows/worker.py`` does (its ``connect``, its
``GRACEFUL_SHUTDOWN``) and runs it with the same ``run_until_signalled``, hosting
``SlowWorkflow`` (the activity's duration comes in the workflow's input). The activity
prints ``activity started`` / ``activity finished``; the process prints ``worker
stopped`` and leaves like the real worker (``os._exit``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy


@dataclass
class SlowInput:
    seconds: float


@dataclass
class SlowOutput:
    slept: float
    attempt: int


@activity.defn(name="shutdown_test_slow_step")
async def slow_step(params: SlowInput) -> SlowOutput:
    print("activity started", flush=True)
    await asyncio.sleep(params.seconds)
    print("activity finished", flush=True)
    return SlowOutput(slept=params.seconds, attempt=activity.info().attempt)


@workflow.defn(name="ShutdownTestWorkflow")
class SlowWorkflow:
    @workflow.run
    async def run(self, params: SlowInput) -> SlowOutput:
        # One attempt only: an activity cut short by the shutdown fails the workflow
        # instead of being silently retried.
        return await workflow.execute_activity(
            slow_step,
            params,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )


async def _serve() -> None:
    from temporalio.worker import Worker

    from services.common.settings import Settings
    from workflows.worker import GRACEFUL_SHUTDOWN, connect, run_until_signalled

    settings = Settings()
    client = await connect(settings)
    worker = Worker(
        client,
        task_queue=settings.temporal_task_queue,
        workflows=[SlowWorkflow],
        activities=[slow_step],
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
    )
    print("worker polling", flush=True)
    await run_until_signalled(worker)
    print("worker stopped", flush=True)


def main() -> None:
    import os
    import sys

    code = 0
    try:
        asyncio.run(_serve())
    except Exception as error:
        print(f"worker failed: {error!r}", flush=True)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # the Temporal core can abort at interpreter shutdown (sdk-python#300)


if __name__ == "__main__":
    main()
