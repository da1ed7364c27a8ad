"""The Temporal dev server alone: does a status read's lookup grow with what it stores?

    python -m bench.describe DATA_DIR --add K [--seconds S]

Starts the dev server on ``DATA_DIR`` (kept between runs, so 100,000 drafts are stored
once), adds K drafts on the unattended task queue (no worker: nothing but the server
runs), then calls ``DescribeWorkflowExecution`` (what the gateway's status read does) on
random stored ids at 200/s, open loop, and prints p50, p99 and the server's CPU per call.
Run it again with ``--add 0`` to read a restarted (cold) server.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
from pathlib import Path

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client

from bench.journeys import (
    STATUS_RATE,
    UNATTENDED_TASK_QUEUE,
    cpu_seconds,
    ms,
    out,
    percentile,
    store_drafts,
)
from deploy.local import processes
from services.common.payload_codec import data_converter
from services.common.process_exit import run_then_leave
from services.common.settings import Settings
from workflows import ids

NAMESPACE = "default"


async def describe_at_rate(client: Client, workflow_ids: list[str], seconds: float) -> list[float]:
    """Latency of each call from when it was due (a late call counts against it)."""
    loop = asyncio.get_running_loop()
    latencies: list[float] = []

    async def one(workflow_id: str, due: float) -> None:
        await client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=NAMESPACE, execution=WorkflowExecution(workflow_id=workflow_id)
            )
        )
        latencies.append(loop.time() - due)

    calls = []
    start = loop.time() + 0.05
    for i in range(int(STATUS_RATE * seconds)):
        due = start + i / STATUS_RATE
        await asyncio.sleep(max(0.0, due - loop.time()))
        calls.append(asyncio.ensure_future(one(workflow_ids[i % len(workflow_ids)], due)))
    await asyncio.gather(*calls)
    return latencies


async def run(data_dir: Path, add: int, seconds: float) -> int:
    port, ui_port = processes.free_port(), processes.free_port()
    with tempfile.TemporaryDirectory(prefix="permis-describe-") as logs:
        server = processes.start_temporal(data_dir, Path(logs), port, ui_port)
        try:
            client = await Client.connect(
                f"127.0.0.1:{port}", namespace=NAMESPACE, data_converter=data_converter(Settings())
            )
            stored = data_dir / "request-numbers.txt"
            numbers = stored.read_text().split() if stored.exists() else []
            if add:
                numbers += await store_drafts(
                    client, UNATTENDED_TASK_QUEUE, add, "bench-account", "bench@example.org"
                )
                stored.write_text("\n".join(numbers))
            if not numbers:
                print("nothing stored yet: pass --add K", file=sys.stderr)
                return 2
            workflow_ids = [ids.inscription_workflow_id(n) for n in numbers]
            random.Random(1).shuffle(workflow_ids)
            await describe_at_rate(client, workflow_ids[:50], 0.25)  # connections, warm-up
            before = cpu_seconds(server.process.pid)
            latencies = await describe_at_rate(client, workflow_ids, seconds)
            per_call = (cpu_seconds(server.process.pid) - before) / len(latencies)
            out(
                f"{len(numbers)} stored: describe at {STATUS_RATE:.0f}/s p50 "
                f"{ms(percentile(latencies, 50))}, p99 {ms(percentile(latencies, 99))}, "
                f"server CPU per call {ms(per_call)}"
            )
            return 0
        finally:
            server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.describe", description=__doc__)
    parser.add_argument("data_dir", type=Path, help="the dev server's data, kept between runs")
    parser.add_argument("--add", type=int, default=0, metavar="K", help="drafts to store first")
    parser.add_argument("--seconds", type=float, default=10.0, metavar="S")
    args = parser.parse_args(argv)
    run_then_leave(run(args.data_dir, args.add, args.seconds))


if __name__ == "__main__":
    main()
