"""``python -m services.ctn``: the CTN pre-check gRPC service.

It connects to Temporal at start-up (retrying while it starts), because an agent's
verdict is delivered to the running journey.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from services.common.grpc_server import serve
from services.common.journey_updates import TemporalJourneyUpdater, connect_temporal
from services.common.observability import setup_process
from services.common.settings import Settings
from services.ctn.server import build

log = logging.getLogger("services.ctn")


async def main() -> None:
    settings = Settings()
    setup_process(settings, "ctn")
    client = await connect_temporal(settings)
    definition, engine = await build(settings, TemporalJourneyUpdater(client))
    await serve(
        [definition],
        settings.address_of("ctn"),
        max_message_bytes=settings.grpc_max_message_bytes,
        grace_seconds=settings.grpc_shutdown_grace_seconds,
        on_stop=engine.dispose,
    )


def run() -> None:
    """Run, then leave with os._exit: a process that used a Temporal client can abort at
    interpreter shutdown (temporalio/sdk-python#300), which would turn a clean stop into
    exit code 134."""
    code = 0
    try:
        asyncio.run(main())
    except Exception:
        log.exception("CTN service stopped on an error")
        code = 1
    finally:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    run()
