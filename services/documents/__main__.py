"""``python -m services.documents``: the document service on ``settings.documents_address``."""

from __future__ import annotations

import asyncio
import logging
import time
from functools import partial

from services.common.errors import PermisError
from services.common.service_main import Built, ServiceContext, run_service
from services.documents.server import build, definition

log = logging.getLogger("services.documents")

STARTUP_WAIT_SECONDS = 60.0


async def build_definition(context: ServiceContext) -> Built:
    """Object storage may start after us (compose, local launcher): wait for it a while."""
    deadline = time.monotonic() + STARTUP_WAIT_SECONDS
    while True:
        try:
            servicer, engine = await build(context.settings)
            grace = context.settings.grpc_shutdown_grace_seconds
            # Stores that outlived their call end before the database is closed.
            return [definition(servicer)], [partial(servicer.finish_stores, grace), engine.dispose]
        except PermisError as error:
            if time.monotonic() > deadline:
                raise
            log.warning("object storage not ready (%s); retrying", error.message)
            await asyncio.sleep(2)


if __name__ == "__main__":
    run_service("documents", build_definition)
