"""The journey worker: ``python -m workflows.worker``.

Runs the journeys (inscription, title and the title's delivery) and their activities on
``settings.temporal_task_queue`` until SIGTERM/SIGINT, then shuts down gracefully: it
stops polling, lets running activities finish (up to ``GRACEFUL_SHUTDOWN``) and closes
its gRPC channels.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from services.common.auth import WORKER, Principal
from services.common.clients import ServiceClients
from services.common.observability import (
    setup_process,
    temporal_interceptors,
    temporal_runtime,
)
from services.common.payload_codec import data_converter
from services.common.process_exit import leave
from services.common.settings import Settings
from services.common.startup_heap import freeze_startup_heap
from workflows.activities import JourneyActivities
from workflows.delivery import TitleDeliveryWorkflow
from workflows.inscription import InscriptionWorkflow
from workflows.retention import RetentionPurgeWorkflow
from workflows.retention_activities import RetentionActivities, ensure_retention_schedule
from workflows.title import TitleWorkflow

# Every workflow the worker runs (the replay test replays histories of each).
WORKFLOWS = (InscriptionWorkflow, TitleWorkflow, TitleDeliveryWorkflow)

GRACEFUL_SHUTDOWN = timedelta(seconds=20)
CONNECT_ATTEMPTS = 30

log = logging.getLogger("permis.worker")


def build_worker(
    client: Client, settings: Settings, clients: ServiceClients, *, task_queue: str | None = None
) -> Worker:
    activities = JourneyActivities(settings, clients)
    return Worker(
        client,
        task_queue=task_queue or settings.temporal_task_queue,
        workflows=[*WORKFLOWS, RetentionPurgeWorkflow],  # retention: the daily purge
        activities=[*activities.all(), *RetentionActivities(client, clients).all()],
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        # Bounds the worker's memory when many journeys are open at once.
        max_cached_workflows=settings.worker_max_cached_workflows,
    )


async def connect(settings: Settings) -> Client:
    """Connect, waiting for a Temporal server that is still starting (local launcher)."""
    for attempt in range(1, CONNECT_ATTEMPTS + 1):
        try:
            return await Client.connect(
                settings.temporal_address,
                namespace=settings.temporal_namespace,
                data_converter=data_converter(settings),
                interceptors=temporal_interceptors(),
                runtime=temporal_runtime(settings),  # SDK metrics on metrics_port
            )
        except RuntimeError as error:
            if attempt == CONNECT_ATTEMPTS:
                raise
            log.warning(
                "Temporal not reachable at %s (%s); retrying", settings.temporal_address, error
            )
            await asyncio.sleep(min(attempt, 5))
    raise AssertionError("unreachable")


async def run_until_signalled(
    worker: Worker, signals: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT)
) -> None:
    """Run ``worker`` until one of ``signals``, then shut it down gracefully.

    On the signal the worker stops polling, lets running activities finish (up to its
    ``graceful_shutdown_timeout``) and reports their results before this returns. A
    worker failure is re-raised. Shared by the real worker and the shutdown tests.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    running = asyncio.create_task(worker.run())
    stopped = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({running, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not running.done():
            log.info("stopping: letting running activities finish")
            await worker.shutdown()
        await running  # re-raises a worker failure
    finally:
        stopped.cancel()
        for sig in signals:
            loop.remove_signal_handler(sig)


async def serve(settings: Settings) -> None:
    client = await connect(settings)
    clients = ServiceClients(settings, Principal("worker", WORKER))
    worker = build_worker(client, settings, clients)
    freeze_startup_heap()  # later full collections skip start-up objects
    await ensure_retention_schedule(client, settings)  # idempotent: created or updated
    log.info("worker polling %s on %s", settings.temporal_task_queue, settings.temporal_address)
    try:
        await run_until_signalled(worker)
    finally:
        await clients.close()
    log.info("worker stopped")


def main() -> None:
    settings = Settings()
    # The worker's metrics are the Temporal SDK's, served by its runtime (see connect).
    setup_process(settings, "worker", metrics=False)
    code = 0
    try:
        asyncio.run(serve(settings))
    except Exception:
        log.exception("worker failed")
        code = 1
    leave(code)


if __name__ == "__main__":
    main()
