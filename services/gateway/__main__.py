"""``python -m services.gateway``: serve the HTTP gateway with uvicorn."""

from __future__ import annotations

import logging

import uvicorn

from services.common.settings import Settings
from services.gateway.app import create_app


def main() -> None:
    settings = Settings()
    logging.basicConfig(level=settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.gateway_host,
        port=settings.gateway_port,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
