"""``python -m services.ctn``: the CTN pre-check gRPC service."""

from __future__ import annotations

import asyncio
import logging

from services.common.grpc_server import serve
from services.common.settings import Settings
from services.ctn.server import build


async def main() -> None:
    settings = Settings()
    logging.basicConfig(level=settings.log_level)
    definition, engine = await build(settings)
    await serve(
        [definition],
        settings.address_of("ctn"),
        max_message_bytes=settings.grpc_max_message_bytes,
        grace_seconds=settings.grpc_shutdown_grace_seconds,
        on_stop=engine.dispose,
    )


if __name__ == "__main__":
    asyncio.run(main())
