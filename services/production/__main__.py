"""``python -m services.production``: title production and delivery on
``settings.production_address``.

It connects to Temporal at start-up (retrying while it starts), because the partners'
events and the contact centre's resend requests are signalled to the delivery journey.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from services.common.grpc_server import serve
from services.common.journey_updates import TemporalJourneyUpdater, connect_temporal
from services.common.settings import Settings
from services.production.server import build, definition

log = logging.getLogger("services.production")


async def main() -> None:
    settings = Settings()
    logging.basicConfig(level=settings.log_level)
    client = await connect_temporal(settings)
    servicer, engine = await build(settings, TemporalJourneyUpdater(client))
    await serve(
        [definition(servicer)],
        settings.address_of("production"),
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
        log.exception("production service stopped on an error")
        code = 1
    finally:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    run()
