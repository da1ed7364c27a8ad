"""``python -m workflows.worker``: polls the journeys' queue, stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from deploy.local import processes

REPO_ROOT = Path(__file__).resolve().parents[2]


async def has_poller(client: Client, task_queue: str) -> bool:
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        )
    )
    return bool(response.pollers)


async def test_worker_process_polls_then_stops_on_sigterm(
    temporal_server: processes.ChildProcess, temporal_client: Client, tmp_path: Path
) -> None:
    task_queue = f"test-worker-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "PERMIS_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_server.ports['grpc']}",
        "PERMIS_TEMPORAL_TASK_QUEUE": task_queue,
    }
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        worker = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "workflows.worker",
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        async with asyncio.timeout(20):
            while not await has_poller(temporal_client, task_queue):
                assert worker.returncode is None, log_path.read_text()
                await asyncio.sleep(0.2)
        worker.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            code = await worker.wait()
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
    output = log_path.read_text()
    assert code == 0, output
    assert "worker stopped" in output
