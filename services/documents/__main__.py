"""``python -m services.documents``: the document service on ``settings.documents_address``."""

from __future__ import annotations

import asyncio
import logging
import time

from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.errors import PermisError
from services.common.grpc_server import serve
from services.common.settings import Settings
from services.documents.server import DocumentServicer, build, definition

log = logging.getLogger("services.documents")

STARTUP_WAIT_SECONDS = 60.0


async def build_when_storage_is_up(settings: Settings) -> tuple[DocumentServicer, AsyncEngine]:
    """Object storage may start after us (compose, local launcher): wait for it a while."""
    deadline = time.monotonic() + STARTUP_WAIT_SECONDS
    while True:
        try:
            return await build(settings)
        except PermisError as error:
            if time.monotonic() > deadline:
                raise
            log.warning("object storage not ready (%s); retrying", error.message)
            await asyncio.sleep(2)


async def main() -> None:
    settings = Settings()
    logging.basicConfig(level=settings.log_level)
    servicer, engine = await build_when_storage_is_up(settings)
    await serve(
        [definition(servicer)],
        settings.address_of("documents"),
        max_message_bytes=settings.grpc_max_message_bytes,
        grace_seconds=settings.grpc_shutdown_grace_seconds,
        on_stop=engine.dispose,
    )


if __name__ == "__main__":
    asyncio.run(main())
