"""Record the histories the replay test guards: ``python -m tests.workflows.record_histories``.

Runs a few whole journeys (stand-in activities) on a throw-away Temporal dev server and
writes each history to ``tests/workflows/histories/<scenario>.json``. Re-record only on
purpose: a history recorded by older code that no longer replays means running journeys
would break, so such a change belongs behind ``workflow.patched``.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from deploy.local import processes
from tests.workflows.inscription_scenarios import (
    FakeServices,
    fill_draft,
    journey_to_decision,
    running_worker,
    start_journey,
)
from workflows.inscription import InscriptionWorkflow
from workflows.models import Outcome

HISTORIES = Path(__file__).parent / "histories"


async def record(client: Client, directory: Path) -> list[Path]:
    written = []
    for name, outcome in (
        ("accepted", Outcome.ACCEPTED),
        ("rejected_by_instructor", Outcome.REJECTED),
    ):
        async with running_worker(client, FakeServices()) as task_queue:
            handle, _ = await journey_to_decision(client, task_queue, outcome)
        written.append(directory / f"{name}.json")
        written[-1].write_text((await handle.fetch_history()).to_json())

    async with running_worker(client, FakeServices(compliant=False)) as task_queue:
        handle = await start_journey(client, task_queue)
        await fill_draft(handle)
        await handle.execute_update(InscriptionWorkflow.submit)
        await handle.result()
    written.append(directory / "rejected_by_ctn.json")
    written[-1].write_text((await handle.fetch_history()).to_json())
    return written


async def main() -> None:
    HISTORIES.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        server = processes.start_temporal(
            Path(tmp) / "temporal", Path(tmp) / "logs", processes.free_port(), processes.free_port()
        )
        try:
            client = await Client.connect(
                f"127.0.0.1:{server.ports['grpc']}", data_converter=pydantic_data_converter
            )
            for path in await record(client, HISTORIES):
                print(f"wrote {path.relative_to(Path.cwd())}")
        finally:
            server.stop()


if __name__ == "__main__":
    code = 0
    try:
        asyncio.run(main())
    except Exception as error:  # reported, then a clean exit code
        print(f"recording failed: {error!r}", file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # the Temporal core may abort at interpreter exit (sdk-python#300)
