"""SIGTERM drains instead of dropping work: what Kubernetes relies on at every rollout.

- A gRPC server run by ``services.common.grpc_server.serve`` finishes the call in
  flight, refuses new ones and exits 0 within its grace.
- A worker run with ``workflows.worker.run_until_signalled`` lets its running activity
  finish and report its result (completed, first attempt, no timeout or retry), then
  exits 0; the workflow completes.

Both run as real subprocesses (``tests/shutdown_targets/``) and receive a real SIGTERM.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.worker import Worker

from deploy.healthcheck import grpc_serving
from deploy.local import processes
from permis.ctn.v1 import ctn_pb2, ctn_pb2_grpc
from tests.shutdown_targets.slow_worker import SlowInput, SlowOutput, SlowWorkflow, slow_step

REPO_ROOT = Path(__file__).resolve().parents[1]
GRPC_GRACE_SECONDS = 5.0
GRPC_CALL_SECONDS = 2.0
ACTIVITY_SECONDS = 3.0


@asynccontextmanager
async def child(
    *args: str, env: dict[str, str] | None = None
) -> AsyncIterator[asyncio.subprocess.Process]:
    """A Python subprocess whose stdout we read line by line; killed if still alive."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def read_until(process: asyncio.subprocess.Process, marker: str, lines: list[str]) -> None:
    """Read output lines into ``lines`` until one equals ``marker``."""
    assert process.stdout is not None
    while True:
        raw = await process.stdout.readline()
        assert raw, f"process ended before {marker!r}:\n" + "".join(lines)
        line = raw.decode()
        lines.append(line)
        if line.strip() == marker:
            return


async def get_result(address: str, request_number: str) -> ctn_pb2.PreCheckResult:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = ctn_pb2_grpc.PreCheckServiceStub(channel)
        return await stub.GetResult(
            ctn_pb2.GetResultRequest(request_number=request_number), timeout=10
        )


async def test_grpc_server_finishes_the_call_in_flight_then_exits_on_sigterm() -> None:
    address = f"127.0.0.1:{processes.free_port()}"
    lines: list[str] = []
    async with child(
        "-m",
        "tests.shutdown_targets.slow_grpc",
        address,
        str(GRPC_GRACE_SECONDS),
        str(GRPC_CALL_SECONDS),
    ) as server:
        async with asyncio.timeout(20):
            while not await grpc_serving(address, "permis.ctn.v1.PreCheckService"):
                assert server.returncode is None, "server died while starting"
                await asyncio.sleep(0.1)

        # One channel carries the slow call; it is also used for a call after SIGTERM.
        async with grpc.aio.insecure_channel(address) as channel:
            stub = ctn_pb2_grpc.PreCheckServiceStub(channel)
            in_flight = asyncio.ensure_future(
                stub.GetResult(ctn_pb2.GetResultRequest(request_number="EN-COURS"), timeout=10)
            )
            async with asyncio.timeout(10):
                await read_until(server, "started EN-COURS", lines)
            server.send_signal(signal.SIGTERM)
            signalled = time.monotonic()

            # New calls are refused while the slow one drains, on the existing channel
            # and on a fresh one, and the health check no longer answers SERVING.
            await asyncio.sleep(0.3)
            refused = []
            for label, attempt in [
                ("same channel", stub.GetResult(ctn_pb2.GetResultRequest(request_number="N1"))),
                ("new channel", get_result(address, "N2")),
            ]:
                with pytest.raises(grpc.aio.AioRpcError) as raised:
                    await asyncio.wait_for(attempt, timeout=5)
                refused.append((label, raised.value.code()))
            assert refused == [
                ("same channel", grpc.StatusCode.UNAVAILABLE),
                ("new channel", grpc.StatusCode.UNAVAILABLE),
            ]
            assert not await grpc_serving(address, "permis.ctn.v1.PreCheckService")
            assert not in_flight.done(), "the slow call should still be running"

            result = await in_flight
        assert result.request_number == "EN-COURS"
        assert result.compliant

        async with asyncio.timeout(GRPC_GRACE_SECONDS + 5):
            code = await server.wait()
        elapsed = time.monotonic() - signalled
        assert server.stdout is not None
        lines.extend(line.decode() for line in (await server.stdout.read()).splitlines(True))

    output = "".join(lines)
    assert code == 0, output
    # It left once the call was done, well within the grace (not at its end).
    assert elapsed < GRPC_GRACE_SECONDS, (elapsed, output)
    assert "finished EN-COURS" in output
    assert "started N1" not in output and "started N2" not in output
    assert output.rstrip().endswith("stopped"), output  # on_stop ran after the drain


async def test_worker_lets_the_running_activity_finish_on_sigterm(
    temporal_server: processes.ChildProcess, temporal_client: Client
) -> None:
    task_queue = f"test-shutdown-{uuid.uuid4().hex[:8]}"
    env = {
        "PERMIS_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_server.ports['grpc']}",
        "PERMIS_TEMPORAL_NAMESPACE": temporal_client.namespace,
        "PERMIS_TEMPORAL_TASK_QUEUE": task_queue,
    }
    lines: list[str] = []
    async with child("-m", "tests.shutdown_targets.slow_worker", env=env) as worker:
        async with asyncio.timeout(30):
            await read_until(worker, "worker polling", lines)
        handle = await temporal_client.start_workflow(
            SlowWorkflow.run,
            SlowInput(seconds=ACTIVITY_SECONDS),
            id=f"shutdown-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
        )
        async with asyncio.timeout(30):
            await read_until(worker, "activity started", lines)
        worker.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        async with asyncio.timeout(30):
            code = await worker.wait()
        elapsed = time.monotonic() - signalled
        assert worker.stdout is not None
        lines.extend(line.decode() for line in (await worker.stdout.read()).splitlines(True))

    output = "".join(lines)
    assert code == 0, output
    assert "activity finished" in output
    assert "worker stopped" in output
    assert elapsed < ACTIVITY_SECONDS + 10, (elapsed, output)

    # The activity's result reached history before the process left: completed, on its
    # first attempt, nothing timed out, failed or was retried.
    history = await handle.fetch_history()
    types = [event.event_type for event in history.events]
    assert types.count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) == 1
    assert types.count(EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED) == 1
    for bad in (
        EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
        EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
        EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED,
    ):
        assert bad not in types, output
    started = next(
        e for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    )
    assert started.activity_task_started_event_attributes.attempt == 1

    # The workflow completes: by the stopping worker if it still took the next workflow
    # task, else by the next worker on the queue (the new pod of a rolling update).
    description = await handle.describe()
    if description.status != WorkflowExecutionStatus.COMPLETED:
        async with Worker(
            temporal_client, task_queue=task_queue, workflows=[SlowWorkflow], activities=[slow_step]
        ):
            result = await asyncio.wait_for(handle.result(), timeout=30)
    else:
        result = await handle.result()
    assert result == SlowOutput(slept=ACTIVITY_SECONDS, attempt=1)
    history = await handle.fetch_history()
    assert history.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
